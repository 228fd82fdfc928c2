/**
 * A sandbox over a host folder tries every way to make the host's own git run
 * its code: core.fsmonitor, core.hooksPath, a planted hook, a filter driver, an
 * external diff, a submodule whose gitdir it controls. Afterwards the host runs
 * `git status`, `git diff` and `git commit` in the folder: nothing planted runs.
 * With --git-write (the opt-in) the same vectors do reach the host, which is what
 * shows that this test can see them.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { type CliResult, runSandboxd, Scratch } from '../support/cli.ts';

const scratch = new Scratch();
after(() => scratch.clear());

function temporary(prefix: string): Promise<string> {
  return scratch.directory(prefix);
}

function git(repo: string, ...args: string[]): string {
  return execFileSync('git', ['-C', repo, ...args], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH, HOME: repo, GIT_CONFIG_NOSYSTEM: '1' },
  });
}

/** A repository as a user has it: one commit, a file to change. */
async function repository(): Promise<string> {
  const repo = await temporary('sandboxd-hostgit-');
  git(repo, 'init', '-q', '-b', 'main');
  git(repo, 'config', 'user.email', 'dev@example.invalid');
  git(repo, 'config', 'user.name', 'dev');
  await writeFile(path.join(repo, 'file.txt'), 'one\n');
  git(repo, 'add', '.');
  git(repo, 'commit', '-q', '-m', 'first');
  return repo;
}

/** The workload's attempts; each marker names a host path the planted code would touch. */
function attack(marks: string): string {
  const hook = (name: string) => `printf '#!/bin/sh\\ntouch ${marks}/${name}\\n'`;
  return [
    `git config core.fsmonitor 'touch ${marks}/fsmonitor; false'`,
    `mkdir -p .evil-hooks && ${hook('hooks-path')} > .evil-hooks/pre-commit && chmod +x .evil-hooks/pre-commit`,
    'git config core.hooksPath .evil-hooks',
    `${hook('pre-commit-hook')} > .git/hooks/pre-commit && chmod +x .git/hooks/pre-commit`,
    `git config core.sshCommand 'touch ${marks}/ssh'`,
    `git config filter.evil.clean 'touch ${marks}/filter; cat'`,
    "echo '* filter=evil' > .gitattributes",
    `git config diff.external 'touch ${marks}/diff-external'`,
    // A submodule whose gitdir (with an fsmonitor of its own) lies in the worktree.
    `mkdir -p evil-gitdir sub && git init -q --bare evil-gitdir && git -C evil-gitdir config core.fsmonitor 'touch ${marks}/submodule; false'`,
    "echo 'gitdir: ../evil-gitdir' > sub/.git && git -C evil-gitdir config core.bare false && git -C evil-gitdir config core.worktree ../sub",
    'git update-index --add --cacheinfo 160000,0123456789abcdef0123456789abcdef01234567,sub',
    'mv .git .git-moved; ln -s /etc .git',
    'echo changed >> file.txt',
  ]
    .map((step) => `(${step}) 2>/dev/null`)
    .join('; ');
}

function runInPlace(repo: string, extra: string[], script: string): Promise<CliResult> {
  return runSandboxd(['run', '--in-place', ...extra, '--workspace', repo, '--', 'sh', '-c', script], {
    SANDBOXD_STATE_DIR: path.join(repo, '..', `${path.basename(repo)}-state`),
  });
}

/** What a user does next on the host, ignoring failures: the question is only what runs. */
function hostUsesGit(repo: string): void {
  for (const args of [
    ['status'],
    ['diff'],
    ['add', '-A'],
    ['commit', '-q', '-a', '-m', 'after the sandbox'],
  ]) {
    try {
      git(repo, ...args);
    } catch {
      // A refused commit is fine; a planted command running is not.
    }
  }
}

describe('a host folder sandbox and the host git', () => {
  it("cannot make the host's git run anything: .git is read-only inside", async () => {
    const repo = await repository();
    scratch.add(`${repo}-state`);
    const marks = await temporary('sandboxd-marks-');
    const result = await runInPlace(repo, [], attack(marks));
    assert.equal(result.code, 0, result.stderr);
    hostUsesGit(repo);
    assert.deepEqual(await readdir(marks), [], 'nothing planted ran on the host');
    assert.throws(() => git(repo, 'config', '--get', 'core.fsmonitor'), 'core.fsmonitor is still unset');
    assert.match(git(repo, 'log', '--format=%s'), /after the sandbox/, 'the host commit went through');
  });

  it("cannot repoint an existing submodule's .git at a gitdir it controls", async () => {
    const library = await repository();
    const repo = await repository();
    scratch.add(`${repo}-state`);
    git(repo, '-c', 'protocol.file.allow=always', 'submodule', '--quiet', 'add', library, 'sub');
    git(repo, 'commit', '-q', '-m', 'with a submodule');
    const marks = await temporary('sandboxd-marks-');
    const script = [
      'mkdir -p evil && git init -q evil',
      `git -C evil config core.fsmonitor 'touch ${marks}/submodule-fsmonitor; false'`,
      'printf "gitdir: ../evil/.git\\n" > sub/.git',
      'rm -rf sub/.git; mkdir sub/.git',
      'echo changed >> sub/file.txt',
    ]
      .map((step) => `(${step}) 2>/dev/null`)
      .join('; ');
    const result = await runInPlace(repo, [], script);
    assert.equal(result.code, 0, result.stderr);
    git(repo, 'status');
    git(repo, 'diff');
    assert.deepEqual(await readdir(marks), [], "the host's git ran nothing from the sandbox's gitdir");
    assert.match(
      await readFile(path.join(repo, 'sub', '.git'), 'utf8'),
      /modules\/sub/,
      'the gitfile is unchanged',
    );
  });

  it('with --git-write, the same vectors reach the host (the opt-in this test would catch)', async () => {
    const repo = await repository();
    scratch.add(`${repo}-state`);
    const marks = await temporary('sandboxd-marks-');
    const result = await runInPlace(
      repo,
      ['--git-write'],
      attack(marks).replace('mv .git .git-moved; ln -s /etc .git', 'true'),
    );
    assert.equal(result.code, 0, result.stderr);
    hostUsesGit(repo);
    assert.ok((await readdir(marks)).includes('fsmonitor'), 'the planted fsmonitor ran on the host');
  });

  it('refuses to start over a folder whose .git is a symbolic link, rather than mount what it points to', async () => {
    const folder = await temporary('sandboxd-hostgit-link-');
    scratch.add(`${folder}-state`);
    execFileSync('ln', ['-s', '/etc', path.join(folder, '.git')]);
    const result = await runInPlace(folder, [], 'ls .git');
    assert.equal(result.code, 125);
    assert.match(result.stderr, /SYMLINK_ESCAPE/);
  });
});
