import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readlink, unlink } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ToolError } from '#protocol/errors';
import { gitEnvironment, hardeningArgs, runGit } from './run-git.ts';
import { createTestRepo, type TestRepo, toolErrorOf } from './test-repo.ts';

/** Processes whose working directory is `directory` (Linux /proc). */
async function processesIn(directory: string): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if ((await readlink(`/proc/${entry}/cwd`)) === directory) found.push(Number(entry));
    } catch {
      // The process ended, or belongs to someone we may not inspect.
    }
  }
  return found;
}

describe('runGit', () => {
  let repo: TestRepo;

  before(async () => {
    repo = await createTestRepo();
    for (let index = 0; index < 200; index++) await repo.write(`file-${index}.txt`, `${index}\n`);
    repo.commit('many files');
  });
  after(() => repo.cleanup());

  const env = () => gitEnvironment({ ceilingDirectory: path.dirname(repo.root) });

  it('builds the environment from nothing, so the agent’s GIT_* variables never reach git', async () => {
    const saved = { ...process.env };
    process.env.GIT_DIR = '/nonexistent';
    process.env.GIT_EXTERNAL_DIFF = 'touch /tmp/sandboxd-external-diff-pwned';
    process.env.GIT_CONFIG_PARAMETERS = "'core.fsmonitor=touch /tmp/sandboxd-fsmonitor-pwned'";
    try {
      const built = env();
      assert.equal(built.GIT_DIR, undefined);
      assert.equal(built.GIT_EXTERNAL_DIFF, undefined);
      assert.equal(built.GIT_CONFIG_PARAMETERS, undefined);
      assert.equal(built.GIT_CONFIG_GLOBAL, '/dev/null');
      assert.equal(built.GIT_ALLOW_PROTOCOL, '');
      const output = await runGit({
        cwd: repo.root,
        env: built,
        args: ['rev-parse', '--git-dir'],
        maxStdoutBytes: 1024,
      });
      assert.equal(output.stdout.toString().trim(), '.git');
    } finally {
      process.env = saved;
    }
  });

  it('puts the hardening overrides before the subcommand', () => {
    const args = hardeningArgs();
    assert.equal(args[0], '--no-pager');
    for (const setting of [
      'core.fsmonitor=false',
      'core.hooksPath=/dev/null',
      'diff.external=',
      'protocol.allow=never',
    ]) {
      assert.ok(args.includes(setting), setting);
    }
  });

  it('keeps at most maxStdoutBytes and counts the rest up to maxCountedBytes', async () => {
    const full = await runGit({
      cwd: repo.root,
      env: env(),
      args: ['ls-files'],
      maxStdoutBytes: 1024 * 1024,
    });
    const kept = await runGit({
      cwd: repo.root,
      env: env(),
      args: ['ls-files'],
      maxStdoutBytes: 100,
      maxCountedBytes: 1024 * 1024,
    });
    assert.equal(kept.stdout.length, 100);
    assert.equal(kept.stdoutBytes, full.stdoutBytes);
    assert.equal(kept.isCapped, false);
  });

  it('stops git once its output passes the cap', async () => {
    const output = await runGit({
      cwd: repo.root,
      env: env(),
      args: ['log', '-p', '--stat'],
      maxStdoutBytes: 64,
    });
    assert.equal(output.isCapped, true);
    assert.equal(output.stdout.length, 64);
  });

  it('kills git at the timeout and leaves no process behind', {
    skip: !existsSync('/proc/self/cwd'),
  }, async () => {
    // A FIFO in place of info/exclude: git status blocks opening it, forever.
    const exclude = path.join(repo.root, '.git', 'info', 'exclude');
    await unlink(exclude).catch(() => {});
    execFileSync('mkfifo', [exclude]);
    try {
      const started = Date.now();
      const error = await toolErrorOf(() =>
        runGit({
          cwd: repo.root,
          env: env(),
          args: ['status', '--porcelain=v2'],
          maxStdoutBytes: 1024,
          timeoutMs: 300,
        }),
      );
      assert.equal(error.code, 'TIMEOUT');
      assert.equal(error.retryable, true);
      assert.ok(Date.now() - started < 5000);
      assert.deepEqual(await processesIn(repo.root), []);
    } finally {
      await unlink(exclude);
    }
  });

  it('turns a failure into GIT_ERROR carrying git’s stderr', async () => {
    const error = await toolErrorOf(() =>
      runGit({
        cwd: repo.root,
        env: env(),
        args: ['cat-file', '-t', 'no-such-object'],
        maxStdoutBytes: 1024,
      }),
    );
    assert.ok(error instanceof ToolError);
    assert.equal(error.code, 'GIT_ERROR');
    assert.match(error.message, /no-such-object/);
    assert.equal(error.details?.exit_code, 128);
  });

  it('accepts the exit codes it is told are not failures', async () => {
    const output = await runGit({
      cwd: repo.root,
      env: env(),
      args: ['rev-parse', '--verify', '--quiet', 'no-such-ref'],
      maxStdoutBytes: 1024,
      okExitCodes: [1],
    });
    assert.equal(output.exitCode, 1);
  });
});
