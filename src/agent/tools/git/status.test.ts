import assert from 'node:assert/strict';
import { mkdir, mkdtemp, realpath, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gitTools } from './index.ts';
import { callTool, createTestRepo, type TestRepo, toolErrorOf } from './test-repo.ts';

const status = gitTools.git_status;

describe('git_status', () => {
  let repo: TestRepo;

  before(async () => {
    repo = await createTestRepo();
    await repo.write('tracked.txt', 'one\n');
    await repo.write('to-rename.txt', 'rename me\n');
    await repo.write('dir/inner.txt', 'inner\n');
    await repo.write('dir with space/é ü.txt', 'unicode\n');
    repo.commit('initial');
    await repo.write('tracked.txt', 'one\ntwo\n');
    repo.git(['mv', 'to-rename.txt', 'renamed file.txt']);
    await repo.write('dir/inner.txt', 'inner changed\n');
    repo.git(['add', 'dir/inner.txt']);
    await repo.write('dir with space/é ü.txt', 'unicode changed\n');
    await repo.write('new dir/ñew file.txt', 'untracked\n');
  });
  after(() => repo.cleanup());

  it('reports the branch, HEAD and every kind of change', async () => {
    const { result, summary } = await callTool(status, repo.context, {});
    assert.equal(result.repo_root, '.');
    assert.equal(result.branch, 'main');
    assert.equal(result.is_detached, false);
    assert.match(result.head ?? '', /^[0-9a-f]{40}$/);
    assert.equal(result.upstream, null);
    assert.equal(result.truncated, false);
    const byPath = new Map(result.entries.map((entry) => [entry.path, entry]));
    assert.deepEqual(byPath.get('tracked.txt'), {
      path: 'tracked.txt',
      index_status: '.',
      worktree_status: 'M',
      kind: 'changed',
    });
    assert.deepEqual(byPath.get('dir/inner.txt'), {
      path: 'dir/inner.txt',
      index_status: 'M',
      worktree_status: '.',
      kind: 'changed',
    });
    assert.equal(byPath.get('dir with space/é ü.txt')?.worktree_status, 'M');
    assert.equal(byPath.get('new dir/')?.kind, 'untracked');
    assert.equal(result.total_entries, 5);
    assert.match(summary, /^On branch main: 5 changed paths/);
  });

  it('reports a staged rename with the original path', async () => {
    const { result } = await callTool(status, repo.context, {});
    const rename = result.entries.find((entry) => entry.kind === 'renamed');
    assert.deepEqual(rename, {
      path: 'renamed file.txt',
      orig_path: 'to-rename.txt',
      index_status: 'R',
      worktree_status: '.',
      kind: 'renamed',
    });
  });

  it('leaves untracked files out when include_untracked is false', async () => {
    const { result } = await callTool(status, repo.context, { include_untracked: false });
    assert.equal(
      result.entries.some((entry) => entry.kind === 'untracked'),
      false,
    );
    assert.equal(result.total_entries, 4);
  });

  it('limits the report to the given path', async () => {
    const { result } = await callTool(status, repo.context, { path: 'dir with space' });
    assert.deepEqual(
      result.entries.map((entry) => entry.path),
      ['dir with space/é ü.txt'],
    );
  });

  it('caps entries at max_entries and says it truncated', async () => {
    const { result, summary } = await callTool(status, repo.context, { max_entries: 2 });
    assert.equal(result.entries.length, 2);
    assert.equal(result.total_entries, 5);
    assert.equal(result.truncated, true);
    assert.match(summary, /showing 2/);
  });

  it('reports upstream and ahead/behind counts', async () => {
    const other = await createTestRepo();
    try {
      other.commit('base');
      other.git(['branch', 'base']);
      other.commit('ahead one');
      other.commit('ahead two');
      other.git(['branch', '--set-upstream-to=base']);
      const { result, summary } = await callTool(status, other.context, {});
      assert.equal(result.upstream, 'base');
      assert.equal(result.ahead, 2);
      assert.equal(result.behind, 0);
      assert.match(summary, /tracking base \(ahead 2, behind 0\)/);
    } finally {
      await other.cleanup();
    }
  });

  it('reports a repository with no commits and a detached HEAD', async () => {
    const other = await createTestRepo();
    try {
      const empty = await callTool(status, other.context, {});
      assert.equal(empty.result.head, null);
      assert.equal(empty.result.branch, 'main');
      const first = other.commit('one');
      other.commit('two');
      other.git(['checkout', '-q', '--detach', first]);
      const detached = await callTool(status, other.context, {});
      assert.equal(detached.result.is_detached, true);
      assert.equal(detached.result.branch, null);
      assert.equal(detached.result.head, first);
    } finally {
      await other.cleanup();
    }
  });

  it('reports paths of a nested repository relative to the workspace', async () => {
    const workspace = await createTestRepo({ init: false });
    try {
      await workspace.write('sub/repo/a.txt', 'a\n');
      workspace.git(['init', '-q', '-b', 'main'], 'sub/repo');
      const { result } = await callTool(status, workspace.context, { path: 'sub/repo' });
      assert.equal(result.repo_root, 'sub/repo');
      assert.deepEqual(
        result.entries.map((entry) => entry.path),
        ['sub/repo/a.txt'],
      );
    } finally {
      await workspace.cleanup();
    }
  });

  it('says so when the path is not in a repository', async () => {
    const workspace = await createTestRepo({ init: false });
    try {
      const error = await toolErrorOf(() => callTool(status, workspace.context, {}));
      assert.equal(error.code, 'GIT_ERROR');
      assert.match(error.message, /not a git repository/);
    } finally {
      await workspace.cleanup();
    }
  });

  it('never uses a repository above the workspace root', async () => {
    const outer = await createTestRepo();
    try {
      await outer.write('workspace/file.txt', 'x\n');
      const workspaceRoot = path.join(outer.root, 'workspace');
      const error = await toolErrorOf(() =>
        callTool(status, { ...outer.context, workspaceRoot }, { path: '.' }),
      );
      assert.equal(error.code, 'GIT_ERROR');
      assert.match(error.message, /not a git repository/);
    } finally {
      await outer.cleanup();
    }
  });

  it('refuses a work tree that core.worktree moves outside the workspace', async () => {
    const other = await createTestRepo();
    const elsewhere = await realpath(await mkdtemp(path.join(tmpdir(), 'sandboxd-elsewhere-')));
    try {
      other.git(['config', 'core.worktree', elsewhere]);
      const error = await toolErrorOf(() => callTool(status, other.context, {}));
      assert.equal(error.code, 'PATH_OUTSIDE_WORKSPACE');
    } finally {
      await other.cleanup();
      await rm(elsewhere, { recursive: true, force: true });
    }
  });

  it('refuses paths that leave the workspace', async () => {
    assert.equal(
      (await toolErrorOf(() => callTool(status, repo.context, { path: '../..' }))).code,
      'PATH_OUTSIDE_WORKSPACE',
    );
    assert.equal(
      (await toolErrorOf(() => callTool(status, repo.context, { path: '/etc' }))).code,
      'ABSOLUTE_PATH_DENIED',
    );
    const outside = await realpath(await mkdtemp(path.join(tmpdir(), 'sandboxd-outside-')));
    try {
      await mkdir(path.join(repo.root, 'links'), { recursive: true });
      await symlink(outside, path.join(repo.root, 'links', 'out'));
      const error = await toolErrorOf(() => callTool(status, repo.context, { path: 'links/out' }));
      assert.equal(error.code, 'SYMLINK_ESCAPE');
    } finally {
      await rm(path.join(repo.root, 'links'), { recursive: true, force: true });
      await rm(outside, { recursive: true, force: true });
    }
  });
});
