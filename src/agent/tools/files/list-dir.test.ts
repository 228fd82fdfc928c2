import assert from 'node:assert/strict';
import { mkdir, symlink, utimes } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileTools } from './index.ts';
import { call, makeWorkspace, rejectsWith, type TestWorkspace } from './test-workspace.ts';

const tool = fileTools.list_dir;

describe('list_dir', () => {
  let ws: TestWorkspace;
  const list = (input: unknown) => call(tool, ws.context, input);
  const paths = async (input: unknown) => (await list(input)).result.entries.map((entry) => entry.path);

  before(async () => {
    ws = await makeWorkspace();
    await ws.write('.gitignore', 'node_modules/\n*.log\n');
    await ws.write('README.md', '# hi\n');
    await ws.write('debug.log', 'noise');
    await ws.write('.env', 'SECRET=1');
    await ws.write('src/a.ts', 'a');
    await ws.write('src/big.ts', 'x'.repeat(100_000));
    await ws.write('src/nested/deep.ts', 'd');
    await ws.write('src/.gitignore', 'generated.ts\n');
    await ws.write('src/generated.ts', 'g');
    await ws.write('node_modules/pkg/index.js', 'm');
    await ws.write('.git/HEAD', 'ref: refs/heads/main\n');
    await mkdir(path.join(ws.root, 'empty'));
    await symlink(ws.outside, path.join(ws.root, 'outlink'));
    await symlink('src', path.join(ws.root, 'srclink'));
  });
  after(() => ws.cleanup());

  it('lists the top level, without hidden or ignored entries', async () => {
    const { result, summary } = await list({});
    assert.deepEqual(
      result.entries.map((entry) => [entry.path, entry.type]),
      [
        ['README.md', 'file'],
        ['empty', 'dir'],
        ['outlink', 'symlink'],
        ['src', 'dir'],
        ['srclink', 'symlink'],
      ],
    );
    assert.equal(result.truncated, false);
    const readme = result.entries[0];
    assert.equal(readme?.size, 5);
    assert.ok(readme && !Number.isNaN(Date.parse(readme.mtime)));
    assert.match(summary, /^Listed \.: 5 entries\nREADME.md {2}5 B\nempty\/\noutlink@/);
  });

  it('includes hidden entries and ignored ones when asked', async () => {
    const hidden = await paths({ include_hidden: true });
    assert.ok(hidden.includes('.env') && hidden.includes('.gitignore'));
    assert.ok(!hidden.includes('.git'), '.git counts as ignored');
    assert.ok(!hidden.includes('debug.log'));
    const all = await paths({ include_hidden: true, include_ignored: true });
    for (const name of ['.git', 'debug.log', 'node_modules']) assert.ok(all.includes(name), name);
  });

  it('recurses breadth-first to max_depth, honouring nested ignore files, never through symlinks', async () => {
    const all = await paths({ recursive: true });
    assert.deepEqual(all, [
      'README.md',
      'empty',
      'outlink',
      'src',
      'src/a.ts',
      'src/big.ts',
      'src/nested',
      'src/nested/deep.ts',
      'srclink',
    ]);
    const shallow = await paths({ recursive: true, max_depth: 2 });
    assert.ok(shallow.includes('src/nested') && !shallow.includes('src/nested/deep.ts'));
  });

  it('applies the ignore files of parent directories when listing a subdirectory', async () => {
    assert.deepEqual(await paths({ path: 'src' }), ['src/a.ts', 'src/big.ts', 'src/nested']);
  });

  it('lists an ignored directory when asked for it by name', async () => {
    assert.deepEqual(await paths({ path: 'node_modules' }), ['node_modules/pkg']);
  });

  it('caps at max_entries, keeping the shallowest, and says truncated', async () => {
    const { result, summary } = await list({ recursive: true, max_entries: 4 });
    assert.equal(result.entries.length, 4);
    assert.equal(result.truncated, true);
    assert.ok(result.entries.every((entry) => !entry.path.includes('/')));
    assert.match(summary, /truncated at max_entries 4/);
  });

  it('sorts by size and by mtime', async () => {
    assert.equal((await paths({ path: 'src', sort: 'size' }))[0], 'src/big.ts');
    const old = new Date('2001-01-01T00:00:00Z');
    await utimes(path.join(ws.root, 'src/big.ts'), old, old);
    const byTime = await paths({ path: 'src', sort: 'mtime' });
    assert.equal(byTime.at(-1), 'src/big.ts', 'oldest last');
  });

  it('refuses a file, a missing path, and paths that leave the workspace', async () => {
    await rejectsWith(list({ path: 'README.md' }), 'NOT_A_DIRECTORY');
    await rejectsWith(list({ path: 'missing' }), 'NOT_FOUND');
    await rejectsWith(list({ path: '/etc' }), 'ABSOLUTE_PATH_DENIED');
    await rejectsWith(list({ path: '..' }), 'PATH_OUTSIDE_WORKSPACE');
    await rejectsWith(list({ path: 'src\0' }), 'INVALID_ARGUMENT');
    await rejectsWith(list({ path: 'outlink' }), 'SYMLINK_ESCAPE');
  });

  it('lists a directory reached through a symlink inside the workspace', async () => {
    assert.deepEqual(await paths({ path: 'srclink' }), ['src/a.ts', 'src/big.ts', 'src/nested']);
  });

  it('rejects unknown keys and a bad sort', async () => {
    await rejectsWith(list({ depth: 3 }), 'INVALID_ARGUMENT');
    await rejectsWith(list({ sort: 'random' }), 'INVALID_ARGUMENT');
    await rejectsWith(list({ max_entries: 0 }), 'INVALID_ARGUMENT');
  });
});
