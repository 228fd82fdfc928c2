import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { gitTools } from './index.ts';
import { callTool, createTestRepo, type TestRepo, toolErrorOf } from './test-repo.ts';

const show = gitTools.git_show;

describe('git_show', () => {
  let repo: TestRepo;
  let root = '';
  let second = '';
  let merge = '';

  before(async () => {
    repo = await createTestRepo();
    await repo.write('a.txt', 'version one\n');
    await repo.write('dir/ñame with space.txt', 'hola\n');
    await repo.write('blob.bin', Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 0, 0, 1]));
    root = repo.commit('root commit');
    await repo.write('a.txt', 'version two\n');
    await repo.write('other.txt', 'other\n');
    second = repo.commit('second: edit a\n\nWhy it changed.');
    repo.git(['checkout', '-q', '-b', 'feature']);
    await repo.write('feature.txt', 'feature work\n');
    repo.commit('feature work');
    repo.git(['checkout', '-q', 'main']);
    await repo.write('main-only.txt', 'main\n');
    repo.commit('main work');
    repo.git(['merge', '-q', '--no-ff', '-m', 'merge feature', 'feature']);
    merge = repo.git(['rev-parse', 'HEAD']).trim();
  });
  after(() => repo.cleanup());

  it('shows a commit with its metadata and diff', async () => {
    const { result, summary } = await callTool(show, repo.context, { rev: second });
    assert.equal(result.kind, 'commit');
    assert.equal(result.commit?.sha, second);
    assert.equal(result.commit?.subject, 'second: edit a');
    assert.equal(result.commit?.body, 'Why it changed.');
    assert.deepEqual(result.commit?.parents, [root]);
    assert.match(result.patch?.diff ?? '', /-version one\n\+version two\n/);
    assert.deepEqual(
      result.patch?.files.map((file) => file.path),
      ['a.txt', 'other.txt'],
    );
    assert.equal(result.file, undefined);
    assert.match(summary, new RegExp(`^commit ${second}\\nAuthor: Ada Author <ada@example.test>`));
    assert.match(summary, /\+version two/);
  });

  it('defaults to HEAD and diffs a merge against its first parent', async () => {
    const { result } = await callTool(show, repo.context, {});
    assert.equal(result.commit?.sha, merge);
    assert.equal(result.commit?.parents.length, 2);
    assert.deepEqual(
      result.patch?.files.map((file) => file.path),
      ['feature.txt'],
    );
  });

  it('shows every file of a root commit as added', async () => {
    const { result } = await callTool(show, repo.context, { rev: root });
    assert.deepEqual(result.patch?.files.map((file) => file.path).sort(), [
      'a.txt',
      'blob.bin',
      'dir/ñame with space.txt',
    ]);
    assert.equal(result.patch?.files.find((file) => file.path === 'blob.bin')?.is_binary, true);
  });

  it('leaves the diff out when include_diff is false and limits it to paths', async () => {
    const bare = await callTool(show, repo.context, { rev: second, include_diff: false });
    assert.equal(bare.result.patch, undefined);
    const limited = await callTool(show, repo.context, { rev: second, paths: ['other.txt'] });
    assert.deepEqual(
      limited.result.patch?.files.map((file) => file.path),
      ['other.txt'],
    );
  });

  it('bounds the diff to max_bytes', async () => {
    const { result } = await callTool(show, repo.context, { rev: second, max_bytes: 80 });
    assert.equal(result.patch?.truncated, true);
    assert.ok((result.patch?.returned_bytes ?? 1000) <= 80);
    assert.ok((result.patch?.total_bytes ?? 0) > 80);
  });

  it('shows a file as it was at a revision', async () => {
    const { result, summary } = await callTool(show, repo.context, { rev: root, path: 'a.txt' });
    assert.equal(result.kind, 'file');
    assert.equal(result.file?.content, 'version one\n');
    assert.equal(result.file?.size_bytes, 12);
    assert.match(result.file?.oid ?? '', /^[0-9a-f]{40}$/);
    assert.equal(result.file?.truncated, false);
    assert.match(summary, /^a\.txt at [0-9a-f]+: 12 bytes\n\nversion one/);
    const unicode = await callTool(show, repo.context, { path: 'dir/ñame with space.txt' });
    assert.equal(unicode.result.file?.content, 'hola\n');
  });

  it('bounds file content to max_bytes', async () => {
    const { result } = await callTool(show, repo.context, { path: 'a.txt', max_bytes: 4 });
    assert.equal(result.file?.content, 'vers');
    assert.equal(result.file?.truncated, true);
    assert.equal(result.file?.size_bytes, 12);
  });

  it('refuses binary files, directories and missing paths with their codes', async () => {
    const binary = await toolErrorOf(() => callTool(show, repo.context, { path: 'blob.bin' }));
    assert.equal(binary.code, 'BINARY_FILE');
    const directory = await toolErrorOf(() => callTool(show, repo.context, { path: 'dir' }));
    assert.equal(directory.code, 'IS_DIRECTORY');
    const missing = await toolErrorOf(() => callTool(show, repo.context, { rev: root, path: 'other.txt' }));
    assert.equal(missing.code, 'NOT_FOUND');
  });

  it('refuses a rev that would read as an option', async () => {
    for (const rev of ['-p', '--output=/tmp/sandboxd-show-pwned', '--textconv']) {
      const error = await toolErrorOf(() =>
        show.handler(repo.context, { rev, include_diff: true, context_lines: 3, max_bytes: 1000 }),
      );
      assert.equal(error.code, 'INVALID_ARGUMENT', rev);
    }
  });

  it('reports an unknown rev or a non-commit as GIT_ERROR', async () => {
    const unknown = await toolErrorOf(() => callTool(show, repo.context, { rev: 'nope' }));
    assert.equal(unknown.code, 'GIT_ERROR');
    const blob = await toolErrorOf(() => callTool(show, repo.context, { rev: 'HEAD:a.txt' }));
    assert.equal(blob.code, 'GIT_ERROR');
    assert.match(blob.message, /not a commit/);
  });

  it('refuses a path outside the workspace', async () => {
    const error = await toolErrorOf(() => callTool(show, repo.context, { path: '../../etc/passwd' }));
    assert.equal(error.code, 'PATH_OUTSIDE_WORKSPACE');
  });
});
