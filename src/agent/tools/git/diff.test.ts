import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { gitTools } from './index.ts';
import { parseNumstat } from './patch.ts';
import { callTool, createTestRepo, type TestRepo, toolErrorOf } from './test-repo.ts';

const diff = gitTools.git_diff;

describe('git_diff', () => {
  let repo: TestRepo;

  before(async () => {
    repo = await createTestRepo();
    await repo.write('a.txt', 'alpha\nbeta\ngamma\ndelta\nepsilon\nzeta\neta\n');
    await repo.write('space dir/ünï code.txt', 'one\n');
    await repo.write('old name.txt', 'stays the same\nacross a rename\n');
    await repo.write('*.txt', 'a file literally named star\n');
    await repo.write('image.bin', Buffer.from([0, 1, 2, 3, 0, 255]));
    repo.commit('initial');
    // Unstaged: a.txt, the unicode file, the star file and the binary file.
    await repo.write('a.txt', 'alpha\nbeta\nGAMMA\ndelta\nepsilon\nzeta\neta\n');
    await repo.write('space dir/ünï code.txt', 'one\ntwo\n');
    await repo.write('*.txt', 'changed\n');
    await repo.write('image.bin', Buffer.from([0, 9, 9, 9, 0, 255]));
    // Staged: a rename and a new file.
    repo.git(['mv', 'old name.txt', 'new name.txt']);
    await repo.write('staged.txt', 'staged line\n');
    repo.git(['add', 'staged.txt']);
  });
  after(() => repo.cleanup());

  it('shows unstaged changes as a unified diff with per-file counts', async () => {
    const { result, summary } = await callTool(diff, repo.context, {});
    assert.equal(result.compared, 'index_to_worktree');
    assert.match(result.diff, /^diff --git a\/\*\.txt b\/\*\.txt/m);
    assert.match(result.diff, /-gamma\n\+GAMMA\n/);
    assert.match(result.diff, /diff --git a\/space dir\/ünï code\.txt b\/space dir\/ünï code\.txt/);
    assert.doesNotMatch(result.diff, /staged\.txt/);
    assert.equal(result.truncated, false);
    assert.equal(result.is_total_exact, true);
    assert.equal(result.total_bytes, Buffer.byteLength(result.diff));
    const byPath = new Map(result.files.map((file) => [file.path, file]));
    assert.deepEqual(byPath.get('a.txt'), { path: 'a.txt', additions: 1, deletions: 1, is_binary: false });
    assert.deepEqual(byPath.get('space dir/ünï code.txt'), {
      path: 'space dir/ünï code.txt',
      additions: 1,
      deletions: 0,
      is_binary: false,
    });
    assert.deepEqual(byPath.get('image.bin'), {
      path: 'image.bin',
      additions: null,
      deletions: null,
      is_binary: true,
    });
    assert.match(summary, /^Diff of unstaged changes \(index → working tree\): 4 files, \+3 -2/);
    assert.match(summary, /-gamma/);
  });

  it('shows staged changes, with renames, when staged is true and unstaged false', async () => {
    const { result } = await callTool(diff, repo.context, { staged: true, unstaged: false });
    assert.equal(result.compared, 'head_to_index');
    assert.match(result.diff, /rename from old name\.txt\nrename to new name\.txt/);
    assert.doesNotMatch(result.diff, /GAMMA/);
    const rename = result.files.find((file) => file.old_path !== undefined);
    assert.deepEqual(rename, {
      path: 'new name.txt',
      old_path: 'old name.txt',
      additions: 0,
      deletions: 0,
      is_binary: false,
    });
  });

  it('compares HEAD with the working tree when both are asked for', async () => {
    const { result } = await callTool(diff, repo.context, { staged: true, unstaged: true });
    assert.equal(result.compared, 'head_to_worktree');
    assert.match(result.diff, /GAMMA/);
    assert.match(result.diff, /\+staged line/);
  });

  it('compares with an empty tree before the first commit', async () => {
    const fresh = await createTestRepo();
    try {
      await fresh.write('first.txt', 'first\n');
      fresh.git(['add', 'first.txt']);
      await fresh.write('first.txt', 'first\nsecond\n');
      const both = await callTool(diff, fresh.context, { staged: true });
      assert.match(both.result.diff, /\+first\n\+second\n/);
      const staged = await callTool(diff, fresh.context, { staged: true, unstaged: false });
      assert.match(staged.result.diff, /\+first\n/);
      assert.doesNotMatch(staged.result.diff, /second/);
    } finally {
      await fresh.cleanup();
    }
  });

  it('refuses a diff of nothing', async () => {
    const error = await toolErrorOf(() => callTool(diff, repo.context, { staged: false, unstaged: false }));
    assert.equal(error.code, 'INVALID_ARGUMENT');
  });

  it('limits the diff to path and paths, taken literally', async () => {
    const { result } = await callTool(diff, repo.context, { path: '*.txt' });
    assert.deepEqual(
      result.files.map((file) => file.path),
      ['*.txt'],
    );
    const two = await callTool(diff, repo.context, { paths: ['a.txt', 'space dir'] });
    assert.deepEqual(two.result.files.map((file) => file.path).sort(), ['a.txt', 'space dir/ünï code.txt']);
  });

  it('honours context_lines', async () => {
    const none = await callTool(diff, repo.context, { path: 'a.txt', context_lines: 0 });
    assert.match(none.result.diff, /@@ -3 \+3 @@/);
    assert.doesNotMatch(none.result.diff, /^ beta$/m);
    const wide = await callTool(diff, repo.context, { path: 'a.txt', context_lines: 10 });
    assert.match(wide.result.diff, /^ alpha$/m);
    assert.match(wide.result.diff, /^ eta$/m);
  });

  it('cuts the diff at a line boundary within max_bytes and reports the total', async () => {
    const full = await callTool(diff, repo.context, {});
    const { result, summary } = await callTool(diff, repo.context, { max_bytes: 200 });
    assert.equal(result.truncated, true);
    assert.ok(result.returned_bytes <= 200);
    assert.equal(result.returned_bytes, Buffer.byteLength(result.diff));
    assert.equal(result.total_bytes, full.result.total_bytes);
    assert.equal(result.is_total_exact, true);
    assert.ok(result.diff.endsWith('\n'));
    assert.ok(full.result.diff.startsWith(result.diff));
    assert.equal(result.files.length, full.result.files.length);
    assert.match(summary, /diff cut at \d+ of \d+ bytes/);
  });

  it('refuses paths outside the workspace', async () => {
    const error = await toolErrorOf(() => callTool(diff, repo.context, { paths: ['ok.txt', '../escape'] }));
    assert.equal(error.code, 'PATH_OUTSIDE_WORKSPACE');
  });

  it('reports a workspace without a repository as GIT_ERROR', async () => {
    const workspace = await createTestRepo({ init: false });
    try {
      const error = await toolErrorOf(() => callTool(diff, workspace.context, {}));
      assert.equal(error.code, 'GIT_ERROR');
      assert.match(error.message, /not a git repository/);
    } finally {
      await workspace.cleanup();
    }
  });
});

describe('parseNumstat', () => {
  it('reads plain, renamed and binary records and drops a partial tail', () => {
    const text = '1\t2\ta b.txt\0-\t-\tbin\0' + '0\t0\t\0old\0new\0' + '5\t5\tcut-off';
    assert.deepEqual(parseNumstat(text), [
      { path: 'a b.txt', additions: 1, deletions: 2, is_binary: false },
      { path: 'bin', additions: null, deletions: null, is_binary: true },
      { path: 'new', old_path: 'old', additions: 0, deletions: 0, is_binary: false },
    ]);
  });
});
