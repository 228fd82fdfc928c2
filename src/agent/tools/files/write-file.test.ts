import assert from 'node:assert/strict';
import { chmod, lstat, readdir, readFile, readlink, stat, symlink } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileTools } from './index.ts';
import { call, makeWorkspace, rejectsWith, type TestWorkspace } from './test-workspace.ts';

const tool = fileTools.write_file;

describe('write_file', () => {
  let ws: TestWorkspace;
  const write = (input: unknown) => call(tool, ws.context, input);
  const contentOf = (relative: string) => readFile(path.join(ws.root, relative), 'utf8');

  before(async () => {
    ws = await makeWorkspace();
  });
  after(() => ws.cleanup());

  it('creates a new file', async () => {
    const { result, summary } = await write({ path: 'new.txt', content: 'hello\n' });
    assert.deepEqual(result, { path: 'new.txt', bytes_written: 6, created: true });
    assert.equal(await contentOf('new.txt'), 'hello\n');
    assert.match(summary, /^Created new.txt/);
  });

  it('replaces an existing file and keeps its mode', async () => {
    const absolute = await ws.write('run.sh', 'echo old\n');
    await chmod(absolute, 0o751);
    const { result } = await write({ path: 'run.sh', content: 'echo new\n' });
    assert.equal(result.created, false);
    assert.equal(await contentOf('run.sh'), 'echo new\n');
    assert.equal((await stat(absolute)).mode & 0o7777, 0o751);
  });

  it('leaves no temp file behind', async () => {
    await write({ path: 'clean/a.txt', content: 'x', create_dirs: true });
    await write({ path: 'clean/a.txt', content: 'y' });
    assert.deepEqual(await readdir(path.join(ws.root, 'clean')), ['a.txt']);
  });

  it('refuses to replace a file when overwrite is false', async () => {
    await ws.write('keep.txt', 'original');
    await rejectsWith(write({ path: 'keep.txt', content: 'other', overwrite: false }), 'ALREADY_EXISTS');
    assert.equal(await contentOf('keep.txt'), 'original');
    const { result } = await write({ path: 'fresh.txt', content: 'ok', overwrite: false });
    assert.equal(result.created, true);
  });

  it('needs create_dirs for a missing parent', async () => {
    await rejectsWith(write({ path: 'deep/er/file.txt', content: 'x' }), 'NOT_FOUND');
    const { result } = await write({ path: 'deep/er/file.txt', content: 'x', create_dirs: true });
    assert.equal(result.created, true);
    assert.equal(await contentOf('deep/er/file.txt'), 'x');
  });

  it('refuses a parent that is a file, and a directory as target', async () => {
    await ws.write('plain.txt', 'x');
    await rejectsWith(write({ path: 'plain.txt/child', content: 'x', create_dirs: true }), 'NOT_A_DIRECTORY');
    await rejectsWith(write({ path: 'deep', content: 'x' }), 'IS_DIRECTORY');
    await rejectsWith(write({ path: '.', content: 'x' }), 'IS_DIRECTORY');
  });

  it('writes base64 content as bytes', async () => {
    const bytes = Buffer.from([0, 1, 2, 255]);
    const { result } = await write({
      path: 'blob.bin',
      content: bytes.toString('base64'),
      encoding: 'base64',
    });
    assert.equal(result.bytes_written, 4);
    assert.deepEqual(await readFile(path.join(ws.root, 'blob.bin')), bytes);
    await rejectsWith(
      write({ path: 'bad.bin', content: 'not base64!', encoding: 'base64' }),
      'INVALID_ARGUMENT',
    );
    await rejectsWith(write({ path: 'bad.bin', content: 'x', encoding: 'utf16' }), 'UNSUPPORTED_ENCODING');
  });

  it('refuses content over the sandbox file limit', async () => {
    const tight = { ...ws.context, limits: { ...ws.context.limits, maxFileBytes: 4 } };
    await rejectsWith(call(tool, tight, { path: 'big.txt', content: 'hello' }), 'INVALID_ARGUMENT');
  });

  it('writes through a symlink inside the workspace to its target, keeping the link', async () => {
    await ws.write('real/target.txt', 'old');
    await symlink('real/target.txt', path.join(ws.root, 'alias.txt'));
    const { result, summary } = await write({ path: 'alias.txt', content: 'new' });
    assert.equal(result.resolved_path, 'real/target.txt');
    assert.equal(await contentOf('real/target.txt'), 'new');
    assert.ok((await lstat(path.join(ws.root, 'alias.txt'))).isSymbolicLink());
    assert.equal(await readlink(path.join(ws.root, 'alias.txt')), 'real/target.txt');
    assert.match(summary, /through symlink to real\/target.txt/);
  });

  it('refuses paths and symlinks that leave the workspace', async () => {
    await symlink(path.join(ws.outside, 'secret.txt'), path.join(ws.root, 'leak.txt'));
    await symlink(ws.outside, path.join(ws.root, 'outdir'));
    await rejectsWith(write({ path: 'leak.txt', content: 'pwned' }), 'SYMLINK_ESCAPE');
    await rejectsWith(write({ path: 'outdir/new.txt', content: 'pwned' }), 'SYMLINK_ESCAPE');
    await rejectsWith(write({ path: '/tmp/x.txt', content: 'pwned' }), 'ABSOLUTE_PATH_DENIED');
    await rejectsWith(write({ path: '../outside/x.txt', content: 'pwned' }), 'PATH_OUTSIDE_WORKSPACE');
    await rejectsWith(write({ path: 'x\0.txt', content: 'pwned' }), 'INVALID_ARGUMENT');
    assert.equal(await readFile(path.join(ws.outside, 'secret.txt'), 'utf8'), 'top secret\n');
    assert.deepEqual(await readdir(ws.outside), ['secret.txt']);
  });

  it('rejects unknown keys', async () => {
    await rejectsWith(write({ path: 'a.txt', content: 'x', mode: 0o777 }), 'INVALID_ARGUMENT');
  });
});
