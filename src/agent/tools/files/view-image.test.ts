import assert from 'node:assert/strict';
import { symlink } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { crc32, deflateSync } from 'node:zlib';
import { detectImageType, readImageSize } from './image-header.ts';
import { fileTools } from './index.ts';
import { call, makeWorkspace, rejectsWith, type TestWorkspace } from './test-workspace.ts';

const tool = fileTools.view_image;

function pngChunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

/** A complete, valid RGBA PNG of the given size. */
function png(width: number, height: number): Buffer {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 6, 0, 0, 0], 8);
  const row = Buffer.concat([Buffer.from([0]), Buffer.alloc(width * 4, 0x80)]);
  const pixels = deflateSync(Buffer.concat(Array.from({ length: height }, () => row)));
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', header),
    pngChunk('IDAT', pixels),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

/** A one-colour GIF89a whose screen and image descriptors say width x height. */
function gif(width: number, height: number): Buffer {
  const size = Buffer.alloc(4);
  size.writeUInt16LE(width, 0);
  size.writeUInt16LE(height, 2);
  return Buffer.concat([
    Buffer.from('GIF89a', 'latin1'),
    size,
    Buffer.from([0x80, 0, 0, 0xff, 0xff, 0xff, 0, 0, 0]),
    Buffer.from([0x2c, 0, 0, 0, 0]),
    size,
    Buffer.from([0, 2, 2, 0x44, 0x01, 0, 0x3b]),
  ]);
}

/** SOI, an APP0/JFIF segment, then a baseline SOF0 frame header and EOI. */
function jpeg(width: number, height: number): Buffer {
  const app0 = Buffer.from([0xff, 0xe0, 0, 16, 0x4a, 0x46, 0x49, 0x46, 0, 1, 1, 0, 0, 1, 0, 1, 0, 0]);
  const sof = Buffer.from([0xff, 0xc0, 0, 17, 8, 0, 0, 0, 0, 3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]);
  sof.writeUInt16BE(height, 5);
  sof.writeUInt16BE(width, 7);
  return Buffer.concat([Buffer.from([0xff, 0xd8]), app0, sof, Buffer.from([0xff, 0xd9])]);
}

function webp(chunk: 'VP8 ' | 'VP8L' | 'VP8X', width: number, height: number): Buffer {
  const bytes = Buffer.alloc(40);
  bytes.write('RIFF', 0, 'latin1');
  bytes.writeUInt32LE(32, 4);
  bytes.write('WEBP', 8, 'latin1');
  bytes.write(chunk, 12, 'latin1');
  bytes.writeUInt32LE(20, 16);
  if (chunk === 'VP8 ') {
    bytes.set([0x9d, 0x01, 0x2a], 23);
    bytes.writeUInt16LE(width, 26);
    bytes.writeUInt16LE(height, 28);
  } else if (chunk === 'VP8L') {
    bytes[20] = 0x2f;
    bytes.writeUInt32LE(((width - 1) | ((height - 1) << 14)) >>> 0, 21);
  } else {
    bytes.writeUIntLE(width - 1, 24, 3);
    bytes.writeUIntLE(height - 1, 27, 3);
  }
  return bytes;
}

describe('image headers', () => {
  it('reads the size of PNG, GIF, JPEG and the three WebP kinds', () => {
    const cases: [Buffer, string, number, number][] = [
      [png(3, 2), 'image/png', 3, 2],
      [gif(5, 3), 'image/gif', 5, 3],
      [jpeg(640, 480), 'image/jpeg', 640, 480],
      [webp('VP8 ', 300, 200), 'image/webp', 300, 200],
      [webp('VP8L', 16, 9), 'image/webp', 16, 9],
      [webp('VP8X', 4000, 3000), 'image/webp', 4000, 3000],
    ];
    for (const [bytes, type, width, height] of cases) {
      const detected = detectImageType(bytes);
      assert.equal(detected, type);
      assert.deepEqual(detected && readImageSize(bytes, detected), { width, height }, type);
    }
  });

  it('knows nothing of other bytes, and reports a damaged header', () => {
    assert.equal(detectImageType(Buffer.from('hello world')), null);
    assert.equal(readImageSize(png(3, 2).subarray(0, 20), 'image/png'), null);
    assert.equal(readImageSize(Buffer.from([0xff, 0xd8, 0xff, 0xd9]), 'image/jpeg'), null);
  });
});

describe('view_image', () => {
  let ws: TestWorkspace;
  const view = (input: unknown) => call(tool, ws.context, input);

  before(async () => {
    ws = await makeWorkspace();
    await ws.write('logo.png', png(3, 2));
    await ws.write('anim.gif', gif(5, 3));
    await ws.write('disguised.txt', png(7, 7));
    await ws.write('fake.png', 'not an image at all');
    await ws.write('broken.png', png(3, 2).subarray(0, 16));
  });
  after(() => ws.cleanup());

  it('returns a PNG with its dimensions and the base64 data', async () => {
    const { result } = await view({ path: 'logo.png' });
    assert.equal(result.mime_type, 'image/png');
    assert.deepEqual([result.width, result.height], [3, 2]);
    assert.equal(result.size_bytes, png(3, 2).length);
    assert.equal(result.resized, false);
    assert.deepEqual(result.image, { data: png(3, 2).toString('base64'), mime_type: 'image/png' });
  });

  it('names the MIME type, size and byte count in the text the model reads', async () => {
    assert.equal(
      (await view({ path: 'logo.png' })).summary,
      `Image logo.png: image/png, 3x2, ${png(3, 2).length} B`,
    );
    assert.equal(
      (await view({ path: 'anim.gif' })).summary,
      `Image anim.gif: image/gif, 5x3, ${gif(5, 3).length} B`,
    );
  });

  it('returns a GIF', async () => {
    const { result } = await view({ path: 'anim.gif' });
    assert.deepEqual([result.mime_type, result.width, result.height], ['image/gif', 5, 3]);
  });

  it('detects the format by content, not by name', async () => {
    assert.equal((await view({ path: 'disguised.txt' })).result.mime_type, 'image/png');
    await rejectsWith(view({ path: 'fake.png' }), 'UNSUPPORTED_ENCODING');
    await rejectsWith(view({ path: 'broken.png' }), 'UNSUPPORTED_ENCODING');
  });

  it('refuses an image over max_bytes or over the sandbox file limit', async () => {
    await rejectsWith(view({ path: 'logo.png', max_bytes: 10 }), 'OUTPUT_TOO_LARGE');
    const tight = { ...ws.context, limits: { ...ws.context.limits, maxFileBytes: 10 } };
    await rejectsWith(call(tool, tight, { path: 'logo.png' }), 'OUTPUT_TOO_LARGE');
  });

  it('refuses an image over max_width or max_height, since it cannot resize', async () => {
    await rejectsWith(view({ path: 'logo.png', max_width: 2 }), 'OUTPUT_TOO_LARGE');
    await rejectsWith(view({ path: 'logo.png', max_height: 1, auto_resize: true }), 'OUTPUT_TOO_LARGE');
    const { result } = await view({ path: 'logo.png', max_width: 3, max_height: 2, auto_resize: true });
    assert.equal(result.resized, false);
    assert.match(result.warnings?.[0] ?? '', /auto_resize is not available/);
  });

  it('refuses a directory and paths that leave the workspace', async () => {
    await ws.write('pics/a.png', png(1, 1));
    await symlink(path.join(ws.outside, 'secret.txt'), path.join(ws.root, 'leak.png'));
    await rejectsWith(view({ path: 'pics' }), 'IS_DIRECTORY');
    await rejectsWith(view({ path: 'leak.png' }), 'SYMLINK_ESCAPE');
    await rejectsWith(view({ path: '/etc/hostname' }), 'ABSOLUTE_PATH_DENIED');
    await rejectsWith(view({ path: '../outside/secret.txt' }), 'PATH_OUTSIDE_WORKSPACE');
    await rejectsWith(view({ path: 'logo.png\0' }), 'INVALID_ARGUMENT');
  });

  it('rejects unknown keys', async () => {
    await rejectsWith(view({ path: 'logo.png', quality: 80 }), 'INVALID_ARGUMENT');
  });
});
