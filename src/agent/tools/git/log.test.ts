import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { parseCommits } from './commits.ts';
import { gitTools } from './index.ts';
import { callTool, createTestRepo, type TestRepo, toolErrorOf } from './test-repo.ts';

const log = gitTools.git_log;

describe('git_log', () => {
  let repo: TestRepo;
  const shas: string[] = [];

  before(async () => {
    repo = await createTestRepo();
    await repo.write('a.txt', '1\n');
    shas.push(repo.commit('first commit'));
    await repo.write('docs/guide é.md', 'guide\n');
    shas.push(repo.commit('add the guide ✓\n\nA body line.\nAnd a second one with a\ttab.\n'));
    await repo.write('a.txt', '2\n');
    shas.push(repo.commit('change a'));
    repo.git(['branch', 'side', shas[1] as string]);
  });
  after(() => repo.cleanup());

  it('lists commits newest first with structured fields', async () => {
    const { result, summary } = await callTool(log, repo.context, {});
    assert.equal(result.repo_root, '.');
    assert.equal(result.has_more, false);
    assert.deepEqual(
      result.commits.map((commit) => commit.sha),
      [...shas].reverse(),
    );
    const guide = result.commits[1];
    assert.ok(guide);
    assert.equal(guide.short_sha, guide.sha.slice(0, guide.short_sha.length));
    assert.deepEqual(guide.parents, [shas[0]]);
    assert.equal(guide.author_name, 'Ada Author');
    assert.equal(guide.author_email, 'ada@example.test');
    assert.match(guide.author_date, /^2024-03-\d\dT10:00:00\+02:00$/);
    assert.match(guide.committer_date, /^2024-03-\d\dT10:00:00\+02:00$/);
    assert.equal(guide.subject, 'add the guide ✓');
    assert.equal(guide.body, 'A body line.\nAnd a second one with a\ttab.');
    assert.deepEqual(result.commits[2]?.parents, []);
    assert.equal(result.commits[2]?.body, undefined);
    assert.match(summary, /^3 commits\n\n[0-9a-f]{7,} 2024-03-\d\d Ada Author: change a/);
  });

  it('pages with max_count, skip and has_more', async () => {
    const page1 = await callTool(log, repo.context, { max_count: 2 });
    assert.deepEqual(
      page1.result.commits.map((commit) => commit.sha),
      [shas[2], shas[1]],
    );
    assert.equal(page1.result.has_more, true);
    assert.match(page1.summary, /more follow \(skip=2\)/);
    const page2 = await callTool(log, repo.context, { max_count: 2, skip: 2 });
    assert.deepEqual(
      page2.result.commits.map((commit) => commit.sha),
      [shas[0]],
    );
    assert.equal(page2.result.has_more, false);
  });

  it('follows only commits touching path', async () => {
    const { result } = await callTool(log, repo.context, { path: 'docs/guide é.md' });
    assert.deepEqual(
      result.commits.map((commit) => commit.sha),
      [shas[1]],
    );
  });

  it('starts from ref', async () => {
    const { result } = await callTool(log, repo.context, { ref: 'side' });
    assert.deepEqual(
      result.commits.map((commit) => commit.sha),
      [shas[1], shas[0]],
    );
  });

  it('refuses a ref that would read as an option', async () => {
    for (const ref of ['--all', '-p', '--output=/tmp/sandboxd-log-pwned']) {
      const error = await toolErrorOf(() => log.handler(repo.context, { ref, max_count: 5, skip: 0 }));
      assert.equal(error.code, 'INVALID_ARGUMENT', ref);
    }
    assert.equal(existsSync('/tmp/sandboxd-log-pwned'), false);
    assert.equal(log.spec.input.safeParse({ ref: '--all' }).success, false);
  });

  it('reports an unknown ref as GIT_ERROR', async () => {
    const error = await toolErrorOf(() => callTool(log, repo.context, { ref: 'no-such-branch' }));
    assert.equal(error.code, 'GIT_ERROR');
    assert.match(error.message, /no-such-branch/);
  });

  it('returns no commits before the first one', async () => {
    const fresh = await createTestRepo();
    try {
      const { result, summary } = await callTool(log, fresh.context, {});
      assert.deepEqual(result.commits, []);
      assert.equal(summary, 'No commits yet.');
    } finally {
      await fresh.cleanup();
    }
  });

  it('refuses a path outside the workspace', async () => {
    const error = await toolErrorOf(() => callTool(log, repo.context, { path: '../outside' }));
    assert.equal(error.code, 'PATH_OUTSIDE_WORKSPACE');
  });
});

describe('parseCommits', () => {
  it('drops a commit cut short by the output cap', () => {
    const sha = 'a'.repeat(40);
    const complete = [
      sha,
      'aaaaaaa',
      '',
      'N',
      'e@x',
      '2024-01-01T00:00:00Z',
      '2024-01-01T00:00:00Z',
      's',
      'b',
    ].join('\0');
    const partial = [sha, 'aaaaaaa', '', 'N', 'e@x'].join('\0');
    const commits = parseCommits(`${complete}\0\n${partial}`);
    assert.equal(commits.length, 1);
    assert.equal(commits[0]?.body, 'b');
  });
});
