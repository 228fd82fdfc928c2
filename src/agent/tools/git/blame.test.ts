import assert from 'node:assert/strict';
import { mkdtemp, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isoTime } from './blame.ts';
import { gitTools } from './index.ts';
import { callTool, createTestRepo, type TestRepo, toolErrorOf } from './test-repo.ts';

const blame = gitTools.git_blame;

describe('git_blame', () => {
  let repo: TestRepo;
  let first = '';
  let second = '';
  const file = 'src/ünï code.txt';

  before(async () => {
    repo = await createTestRepo();
    await repo.write(file, 'line 1\nline 2\nline 3\nline 4\nline 5\n');
    first = repo.commit('first version');
    await repo.write(file, 'line 1\nLINE 2\nline 3\nline 4\nline 5\n');
    second = repo.commit('shout line two');
  });
  after(() => repo.cleanup());

  it('attributes every line to its commit and author', async () => {
    const { result, summary } = await callTool(blame, repo.context, { path: file });
    assert.equal(result.path, file);
    assert.equal(result.rev, null);
    assert.equal(result.truncated, false);
    assert.equal(result.lines.length, 5);
    assert.deepEqual(result.lines[1], {
      line_number: 2,
      sha: second,
      author: 'Ada Author',
      author_email: 'ada@example.test',
      author_time: result.lines[1]?.author_time,
      summary: 'shout line two',
      content: 'LINE 2',
    });
    assert.match(result.lines[1]?.author_time ?? '', /^2024-03-\d\dT10:00:00\+02:00$/);
    assert.equal(result.lines[0]?.sha, first);
    assert.equal(result.lines[0]?.summary, 'first version');
    assert.match(summary, /^Blame of src\/ünï code\.txt, lines 1-5/);
  });

  it('blames a line range', async () => {
    const { result } = await callTool(blame, repo.context, { path: file, start_line: 2, end_line: 3 });
    assert.deepEqual(
      result.lines.map((line) => [line.line_number, line.content]),
      [
        [2, 'LINE 2'],
        [3, 'line 3'],
      ],
    );
    assert.equal(result.truncated, false);
  });

  it('stops at max_lines and says more follow', async () => {
    const { result, summary } = await callTool(blame, repo.context, {
      path: file,
      start_line: 2,
      max_lines: 2,
    });
    assert.deepEqual(
      result.lines.map((line) => line.line_number),
      [2, 3],
    );
    assert.equal(result.truncated, true);
    assert.match(summary, /start_line=4/);
    const tail = await callTool(blame, repo.context, { path: file, start_line: 4, max_lines: 2 });
    assert.equal(tail.result.truncated, false);
  });

  it('blames the file as of rev', async () => {
    const { result } = await callTool(blame, repo.context, { path: file, rev: first });
    assert.equal(result.rev, first);
    assert.ok(result.lines.every((line) => line.sha === first));
    assert.equal(result.lines[1]?.content, 'line 2');
  });

  it('marks uncommitted lines with the zero id', async () => {
    await repo.write(file, 'line 1\nLINE 2\nline 3\nline 4\nline 5\nnew line 6\n');
    try {
      const { result } = await callTool(blame, repo.context, { path: file, start_line: 6 });
      assert.equal(result.lines[0]?.sha, '0'.repeat(40));
      assert.equal(result.lines[0]?.content, 'new line 6');
    } finally {
      await repo.write(file, 'line 1\nLINE 2\nline 3\nline 4\nline 5\n');
    }
  });

  it('refuses bad ranges, directories and missing files', async () => {
    const range = await toolErrorOf(() =>
      callTool(blame, repo.context, { path: file, start_line: 4, end_line: 2 }),
    );
    assert.equal(range.code, 'INVALID_ARGUMENT');
    const directory = await toolErrorOf(() => callTool(blame, repo.context, { path: 'src' }));
    assert.equal(directory.code, 'IS_DIRECTORY');
    const missing = await toolErrorOf(() => callTool(blame, repo.context, { path: 'nope.txt' }));
    assert.equal(missing.code, 'NOT_FOUND');
    const pastEnd = await toolErrorOf(() => callTool(blame, repo.context, { path: file, start_line: 99 }));
    assert.equal(pastEnd.code, 'GIT_ERROR');
    assert.match(pastEnd.message, /has only 5 lines/);
  });

  it('refuses a rev that would read as an option', async () => {
    const error = await toolErrorOf(() =>
      blame.handler(repo.context, { path: file, rev: '--contents=/etc/passwd', max_lines: 10 }),
    );
    assert.equal(error.code, 'INVALID_ARGUMENT');
  });

  it('refuses paths and symlinks that leave the workspace', async () => {
    const escaping = await toolErrorOf(() => callTool(blame, repo.context, { path: '../../etc/passwd' }));
    assert.equal(escaping.code, 'PATH_OUTSIDE_WORKSPACE');
    const outside = await realpath(await mkdtemp(path.join(tmpdir(), 'sandboxd-outside-')));
    try {
      await writeFile(path.join(outside, 'secret.txt'), 'secret\n');
      await symlink(path.join(outside, 'secret.txt'), path.join(repo.root, 'link.txt'));
      const error = await toolErrorOf(() => callTool(blame, repo.context, { path: 'link.txt' }));
      assert.equal(error.code, 'SYMLINK_ESCAPE');
    } finally {
      await rm(path.join(repo.root, 'link.txt'), { force: true });
      await rm(outside, { recursive: true, force: true });
    }
  });
});

describe('isoTime', () => {
  it('renders epoch seconds in the author zone', () => {
    assert.equal(isoTime('0', '+0530'), '1970-01-01T05:30:00+05:30');
    assert.equal(isoTime('86400', '-0100'), '1970-01-01T23:00:00-01:00');
    assert.equal(isoTime('0', undefined), '1970-01-01T00:00:00Z');
  });
});
