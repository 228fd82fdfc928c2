import assert from 'node:assert/strict';
import { symlink, utimes } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileTools } from './index.ts';
import { call, makeWorkspace, rejectsWith, type TestWorkspace } from './test-workspace.ts';

const tool = fileTools.list_files;

describe('list_files', () => {
  let ws: TestWorkspace;
  const list = (input: unknown) => call(tool, ws.context, input);
  const files = async (input: unknown) => (await list(input)).result.files;

  before(async () => {
    ws = await makeWorkspace();
    await ws.write('.gitignore', 'dist/\n*.log\n');
    await ws.write('README.md', 'readme');
    await ws.write('app.log', 'log');
    await ws.write('.github/workflows/ci.yml', 'on: push');
    await ws.write('.git/config', '[core]');
    await ws.write('src/index.ts', 'index');
    await ws.write('src/util/strings.ts', 'strings');
    await ws.write('src/util/strings.test.ts', 'test');
    await ws.write('src/style.css', 'css');
    await ws.write('dist/bundle.js', 'bundle');
    await ws.write('-dash/file.txt', 'dash');
    await symlink(path.join(ws.outside, 'secret.txt'), path.join(ws.root, 'src/leak.txt'));
    await symlink(ws.outside, path.join(ws.root, 'outdir'));
  });
  after(() => ws.cleanup());

  it('lists files recursively in path order, respecting .gitignore outside a git repository', async () => {
    const { result, summary } = await list({});
    assert.deepEqual(result.files, [
      '-dash/file.txt',
      'README.md',
      'src/index.ts',
      'src/style.css',
      'src/util/strings.test.ts',
      'src/util/strings.ts',
    ]);
    assert.equal(result.truncated, false);
    assert.match(summary, /^Found 6 files under \.\n-dash\/file.txt\nREADME.md/);
  });

  it('never follows or lists symlinks', async () => {
    const all = await files({ include_hidden: true, include_ignored: true });
    assert.ok(!all.some((file) => file.includes('leak') || file.startsWith('outdir')));
  });

  it('filters with patterns and glob, and excludes', async () => {
    assert.deepEqual(await files({ patterns: ['**/*.ts'] }), [
      'src/index.ts',
      'src/util/strings.test.ts',
      'src/util/strings.ts',
    ]);
    assert.deepEqual(await files({ glob: '*.css' }), ['src/style.css']);
    assert.deepEqual(await files({ patterns: '*.ts', exclude_patterns: ['*.test.ts', 'index.ts'] }), [
      'src/util/strings.ts',
    ]);
    assert.deepEqual(await files({ path: 'src', glob: '*.md' }), []);
  });

  it('includes hidden files (but not .git) and ignored files when asked', async () => {
    const hidden = await files({ include_hidden: true });
    assert.ok(hidden.includes('.github/workflows/ci.yml'));
    assert.ok(hidden.includes('.gitignore'));
    assert.ok(!hidden.some((file) => file.startsWith('.git/')));
    const ignored = await files({ include_ignored: true });
    assert.ok(ignored.includes('dist/bundle.js') && ignored.includes('app.log'));
    const everything = await files({ include_hidden: true, include_ignored: true });
    assert.ok(everything.includes('.git/config'));
  });

  it('lists under a subdirectory with workspace-relative paths', async () => {
    assert.deepEqual(await files({ path: 'src/util' }), ['src/util/strings.test.ts', 'src/util/strings.ts']);
  });

  it('stops at max_results and says truncated', async () => {
    const { result, summary } = await list({ max_results: 2 });
    assert.deepEqual(result.files, ['-dash/file.txt', 'README.md']);
    assert.equal(result.truncated, true);
    assert.match(summary, /truncated at max_results 2/);
  });

  it('sorts by size and by mtime', async () => {
    await ws.write('src/huge.ts', 'h'.repeat(5000));
    const bySize = await files({ path: 'src', sort: 'size' });
    assert.equal(bySize[0], 'src/huge.ts');
    const old = new Date('2001-01-01T00:00:00Z');
    await utimes(path.join(ws.root, 'src/huge.ts'), old, old);
    const byTime = await files({ path: 'src', sort: 'mtime', max_results: 10 });
    assert.equal(byTime.at(-1), 'src/huge.ts');
  });

  it('refuses a bad glob with the ripgrep message', async () => {
    const error = await rejectsWith(list({ glob: 'a[' }), 'INVALID_ARGUMENT');
    assert.match(error.message, /glob/);
  });

  it('refuses a file, a missing path, and paths that leave the workspace', async () => {
    await rejectsWith(list({ path: 'README.md' }), 'NOT_A_DIRECTORY');
    await rejectsWith(list({ path: 'nope' }), 'NOT_FOUND');
    await rejectsWith(list({ path: '/' }), 'ABSOLUTE_PATH_DENIED');
    await rejectsWith(list({ path: 'src/../..' }), 'PATH_OUTSIDE_WORKSPACE');
    await rejectsWith(list({ path: 'src\0' }), 'INVALID_ARGUMENT');
    await rejectsWith(list({ path: 'outdir' }), 'SYMLINK_ESCAPE');
    await rejectsWith(list({ glob: 'a\0b' }), 'INVALID_ARGUMENT');
  });

  it('rejects unknown keys', async () => {
    await rejectsWith(list({ recursive: true }), 'INVALID_ARGUMENT');
  });
});
