import assert from 'node:assert/strict';
import {
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  realpath,
  rm,
  writeFile,
} from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ToolError } from '#protocol/errors';
import { ImportStream, symlinkStaysInside } from './archive-import.ts';
import { type TarMember, tarOf } from './test-archive.ts';

async function tarBuffer(members: TarMember[]): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of tarOf(members)) chunks.push(chunk);
  return Buffer.concat(chunks);
}

async function importInto(root: string, target: string, archive: Buffer) {
  const stream = await ImportStream.open(root, target);
  try {
    for (let offset = 0; offset < archive.length; offset += 1000) {
      await stream.write(archive.subarray(offset, offset + 1000));
    }
  } catch (error) {
    await stream.close();
    throw error;
  }
  return stream.finish();
}

describe('symlinkStaysInside', () => {
  it('accepts links that stay inside however deep they climb', () => {
    assert.equal(symlinkStaysInside('a/b/link', '../../x'), true);
    assert.equal(symlinkStaysInside('node_modules/.bin/tsc', '../typescript/bin/tsc'), true);
    assert.equal(symlinkStaysInside('link', './x/y'), true);
    assert.equal(symlinkStaysInside('d/b', '..'), true);
  });

  it('refuses absolute targets, climbing above the root, and .. after a name', () => {
    assert.equal(symlinkStaysInside('link', '/etc'), false);
    assert.equal(symlinkStaysInside('link', '..'), false);
    assert.equal(symlinkStaysInside('a/link', '../../x'), false);
    // b may itself be a link to '..': the kernel then climbs one level more than spelled.
    assert.equal(symlinkStaysInside('d/a', 'b/../x'), false);
    assert.equal(symlinkStaysInside('link', ''), false);
  });
});

describe('ImportStream', () => {
  let base = '';
  let root = '';

  before(async () => {
    base = await realpath(await mkdtemp(path.join(os.tmpdir(), 'sandboxd-import-')));
    root = path.join(base, 'workspace');
    await mkdir(root);
  });
  after(() => rm(base, { recursive: true, force: true }));

  async function leftovers(): Promise<string[]> {
    return (await readdir(root)).filter((name) => name.startsWith('.sandboxd-import-'));
  }

  it('extracts into the target, merging into existing directories and replacing files', async () => {
    await mkdir(path.join(root, 'merge/keep'), { recursive: true });
    await writeFile(path.join(root, 'merge/keep/old.txt'), 'old');
    await writeFile(path.join(root, 'merge/replace.txt'), 'before');
    const archive = await tarBuffer([
      { name: './', type: 'directory' },
      { name: './keep/new.txt', data: 'new' },
      { name: './replace.txt', data: 'after' },
      { name: './bin/tool', type: 'symlink', linkname: '../keep/new.txt' },
      { name: './hard', type: 'link', linkname: './keep/new.txt' },
    ]);
    const result = await importInto(root, 'merge', archive);
    assert.deepEqual(result, { files: 3, bytes: 11 });
    assert.equal(await readFile(path.join(root, 'merge/keep/old.txt'), 'utf8'), 'old');
    assert.equal(await readFile(path.join(root, 'merge/keep/new.txt'), 'utf8'), 'new');
    assert.equal(await readFile(path.join(root, 'merge/replace.txt'), 'utf8'), 'after');
    assert.equal(await readlink(path.join(root, 'merge/bin/tool')), '../keep/new.txt');
    assert.deepEqual(await leftovers(), []);
  });

  // Entries are built lazily: `base` is only known once the suite has started.
  const refusals: [string, () => TarMember[], string][] = [
    ['a name with ..', () => [{ name: '../evil', data: 'x' }], 'PATH_OUTSIDE_WORKSPACE'],
    ['an absolute name', () => [{ name: `${base}/abs-evil`, data: 'x' }], 'ABSOLUTE_PATH_DENIED'],
    [
      'a write through a symlink that leaves',
      () => [
        { name: 'link', type: 'symlink', linkname: base },
        { name: 'link/escaped', data: 'x' },
      ],
      'SYMLINK_ESCAPE',
    ],
    [
      'a chain of links that climbs out',
      () => [
        { name: 'd/b', type: 'symlink', linkname: '..' },
        { name: 'd/a', type: 'symlink', linkname: 'b/../../x' },
      ],
      'SYMLINK_ESCAPE',
    ],
    ['a fifo', () => [{ name: 'pipe', type: 'fifo' }], 'INVALID_ARGUMENT'],
  ];
  for (const [what, entries, code] of refusals) {
    it(`refuses ${what} and writes nothing`, async () => {
      const before = (await readdir(base)).sort();
      await mkdir(path.join(root, 'sub'), { recursive: true });
      const inSub = (await readdir(path.join(root, 'sub'))).sort();
      await assert.rejects(importInto(root, 'sub', await tarBuffer(entries())), (error: unknown) => {
        assert.ok(error instanceof ToolError, String(error));
        assert.equal(error.code, code, error.message);
        return true;
      });
      assert.deepEqual((await readdir(base)).sort(), before);
      assert.deepEqual((await readdir(path.join(root, 'sub'))).sort(), inSub);
      await assert.rejects(lstat(path.join(root, 'evil')));
      assert.deepEqual(await leftovers(), []);
    });
  }

  it('refuses a file where the workspace has a directory, before moving anything', async () => {
    await mkdir(path.join(root, 'conflict/dir'), { recursive: true });
    const archive = await tarBuffer([
      { name: 'a.txt', data: 'a' },
      { name: 'dir', data: 'not a directory' },
    ]);
    await assert.rejects(importInto(root, 'conflict', archive), { code: 'ALREADY_EXISTS' });
    await assert.rejects(lstat(path.join(root, 'conflict/a.txt')));
    assert.deepEqual(await leftovers(), []);
  });

  it('removes its staging directory when aborted', async () => {
    const stream = await ImportStream.open(root, '.');
    await stream.write(
      (await tarBuffer([{ name: 'partial.txt', data: 'x'.repeat(5000) }])).subarray(0, 2048),
    );
    assert.equal((await leftovers()).length, 1);
    await stream.close();
    assert.deepEqual(await leftovers(), []);
    await assert.rejects(lstat(path.join(root, 'partial.txt')));
  });
});
