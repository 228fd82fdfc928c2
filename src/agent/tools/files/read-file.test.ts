import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { link, symlink } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileTools } from './index.ts';
import { call, makeWorkspace, rejectsWith, type TestWorkspace } from './test-workspace.ts';

const tool = fileTools.read_file;
const numbered = (count: number) =>
  Array.from({ length: count }, (_, index) => `line ${index + 1}\n`).join('');

describe('read_file', () => {
  let ws: TestWorkspace;
  const read = (input: unknown) => call(tool, ws.context, input);

  before(async () => {
    ws = await makeWorkspace();
    await ws.write('src/a.ts', numbered(120));
    await ws.write('no-newline.txt', 'one\ntwo');
    await ws.write('empty.txt', '');
    await ws.write('utf8.txt', 'héllo wörld ✓\n');
    await ws.write('binary.bin', Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x00, 0x01, 0x02]));
    await ws.write('latin1.txt', Buffer.from('caf\xe9\n', 'latin1'));
  });
  after(() => ws.cleanup());

  it('reads a whole small file with its line count', async () => {
    const { result, summary } = await read({ path: 'no-newline.txt' });
    assert.equal(result.content, 'one\ntwo');
    assert.equal(result.start_line, 1);
    assert.equal(result.end_line, 2);
    assert.equal(result.total_lines, 2);
    assert.equal(result.truncated, false);
    assert.equal(result.next_start_line, undefined);
    assert.equal(result.size_bytes, 7);
    assert.match(summary, /^Read no-newline.txt lines 1-2 of 2\none\ntwo$/);
  });

  it('returns a range of lines and where to continue', async () => {
    const { result, summary } = await read({ path: 'src/a.ts', start_line: 10, end_line: 12 });
    assert.equal(result.content, 'line 10\nline 11\nline 12\n');
    assert.deepEqual([result.start_line, result.end_line, result.total_lines], [10, 12, 120]);
    assert.equal(result.truncated, false, 'the range asked for was returned in full');
    assert.equal(result.next_start_line, 13);
    assert.match(summary, /lines 10-12 of 120/);
  });

  it('stops at max_lines, says truncated, and continues from next_start_line', async () => {
    const first = await read({ path: 'src/a.ts', max_lines: 50 });
    assert.equal(first.result.end_line, 50);
    assert.equal(first.result.truncated, true);
    assert.equal(first.result.next_start_line, 51);
    assert.match(first.summary, /read_file \{"path":"src\/a.ts","start_line":51\}/);
    const rest = await read({ path: 'src/a.ts', start_line: 51, max_lines: 100 });
    assert.equal(rest.result.end_line, 120);
    assert.equal(rest.result.truncated, false);
    assert.equal(rest.result.next_start_line, undefined);
    assert.equal(first.result.content + rest.result.content, numbered(120));
  });

  it('stops at max_bytes on a whole line', async () => {
    const { result } = await read({ path: 'src/a.ts', max_bytes: 20 });
    assert.equal(result.content, 'line 1\nline 2\n');
    assert.equal(result.truncated, true);
    assert.equal(result.next_start_line, 3);
  });

  it('cuts a single line longer than max_bytes at a character boundary', async () => {
    await ws.write('long.txt', `${'é'.repeat(100)}\nnext\n`);
    const { result } = await read({ path: 'long.txt', max_bytes: 15 });
    assert.equal(result.content, 'é'.repeat(7));
    assert.equal(result.is_line_cut, true);
    assert.equal(result.truncated, true);
    assert.equal(result.end_line, 1);
    assert.equal(result.next_start_line, 2);
  });

  it('reads an empty file', async () => {
    const { result, summary } = await read({ path: 'empty.txt' });
    assert.equal(result.content, '');
    assert.deepEqual([result.end_line, result.total_lines, result.truncated], [0, 0, false]);
    assert.match(summary, /empty file/);
  });

  it('keeps multi-byte characters intact', async () => {
    const { result } = await read({ path: 'utf8.txt' });
    assert.equal(result.content, 'héllo wörld ✓\n');
  });

  it('refuses a start_line past the end', async () => {
    const error = await rejectsWith(read({ path: 'src/a.ts', start_line: 121 }), 'INVALID_ARGUMENT');
    assert.equal(error.details?.total_lines, 120);
  });

  it('refuses end_line before start_line', async () => {
    await rejectsWith(read({ path: 'src/a.ts', start_line: 5, end_line: 4 }), 'INVALID_ARGUMENT');
  });

  it('refuses binary content: a NUL byte, or bytes that are not UTF-8', async () => {
    await rejectsWith(read({ path: 'binary.bin' }), 'BINARY_FILE');
    await rejectsWith(read({ path: 'latin1.txt' }), 'BINARY_FILE');
  });

  it('reads binary content as base64', async () => {
    const { result } = await read({ path: 'binary.bin', encoding: 'base64' });
    assert.equal(result.encoding, 'base64');
    assert.deepEqual(
      Buffer.from(result.content, 'base64'),
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x00, 0x01, 0x02]),
    );
    assert.equal(result.truncated, false);
    const head = await read({ path: 'binary.bin', encoding: 'base64', max_bytes: 3 });
    assert.equal(head.result.bytes_returned, 3);
    assert.equal(head.result.truncated, true);
  });

  it('refuses line ranges in base64 mode and unknown encodings', async () => {
    await rejectsWith(read({ path: 'binary.bin', encoding: 'base64', start_line: 2 }), 'INVALID_ARGUMENT');
    await rejectsWith(read({ path: 'utf8.txt', encoding: 'latin1' }), 'UNSUPPORTED_ENCODING');
  });

  it('pages a file far larger than a page without reading all of it', async () => {
    const lines = 300_000;
    await ws.write('big.log', numbered(lines));
    const { result } = await read({ path: 'big.log', start_line: 150_000, max_lines: 2 });
    assert.equal(result.content, 'line 150000\nline 150001\n');
    assert.equal(result.total_lines, lines);
    const tight = { ...ws.context, limits: { ...ws.context.limits, maxFileBytes: 64 * 1024 } };
    const page = await call(tool, tight, { path: 'big.log', max_lines: 3 });
    assert.equal(page.result.total_lines, null, 'line count unknown past the counting budget');
    assert.equal(page.result.next_start_line, 4);
  });

  it('caps max_bytes at the sandbox file limit', async () => {
    const tight = { ...ws.context, limits: { ...ws.context.limits, maxFileBytes: 30 } };
    const { result } = await call(tool, tight, { path: 'src/a.ts', max_bytes: 1_000_000 });
    assert.ok(result.bytes_returned <= 30);
    assert.equal(result.truncated, true);
  });

  it('refuses a directory, and a path that does not exist', async () => {
    await rejectsWith(read({ path: 'src' }), 'IS_DIRECTORY');
    await rejectsWith(read({ path: 'nope.txt' }), 'NOT_FOUND');
  });

  it('refuses a FIFO instead of blocking on it', async () => {
    execFileSync('mkfifo', [path.join(ws.root, 'pipe')]);
    await rejectsWith(read({ path: 'pipe' }), 'INVALID_ARGUMENT');
  });

  it('refuses paths that leave the workspace', async () => {
    await rejectsWith(read({ path: '/etc/passwd' }), 'ABSOLUTE_PATH_DENIED');
    await rejectsWith(read({ path: '../outside/secret.txt' }), 'PATH_OUTSIDE_WORKSPACE');
    await rejectsWith(read({ path: 'src/../../outside/secret.txt' }), 'PATH_OUTSIDE_WORKSPACE');
    await rejectsWith(read({ path: 'a\0b' }), 'INVALID_ARGUMENT');
  });

  it('refuses a symlink to outside the workspace', async () => {
    await symlink(path.join(ws.outside, 'secret.txt'), path.join(ws.root, 'leak.txt'));
    await symlink('/etc', path.join(ws.root, 'etc'));
    await rejectsWith(read({ path: 'leak.txt' }), 'SYMLINK_ESCAPE');
    await rejectsWith(read({ path: 'etc/passwd' }), 'SYMLINK_ESCAPE');
  });

  it('reads through a symlink inside the workspace, and a hard link', async () => {
    await symlink('src/a.ts', path.join(ws.root, 'alias.ts'));
    const viaLink = await read({ path: 'alias.ts', max_lines: 1 });
    assert.equal(viaLink.result.content, 'line 1\n');
    assert.equal(viaLink.result.path, 'alias.ts', 'the path as given, so the continuation works');
    await link(path.join(ws.outside, 'secret.txt'), path.join(ws.root, 'hard.txt'));
    const viaHardLink = await read({ path: 'hard.txt' });
    assert.equal(viaHardLink.result.content, 'top secret\n');
  });

  it('rejects unknown keys and out-of-range numbers at the schema', async () => {
    await rejectsWith(read({ path: 'src/a.ts', offset: 3 }), 'INVALID_ARGUMENT');
    await rejectsWith(read({ path: 'src/a.ts', start_line: 0 }), 'INVALID_ARGUMENT');
    await rejectsWith(read({ path: 'src/a.ts', max_lines: 1.5 }), 'INVALID_ARGUMENT');
    await rejectsWith(read({ path: 'src/a.ts', max_bytes: 2 ** 40 }), 'INVALID_ARGUMENT');
  });
});
