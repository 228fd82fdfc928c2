import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { z } from 'zod';
import { type ErrorCode, ToolError } from '#protocol/errors';
import { type AgentLimits, defaultAgentLimits } from '#protocol/limits';
import type { ToolSpec } from '#protocol/tool-spec';
import type { CommandResult, CommandStatus, KillStatus } from '#protocol/tools/commands';
import { Launcher } from '../../exec/launcher.ts';
import { CommandTable } from '../../exec/table.ts';
import type { ToolContext } from '../context.ts';
import { createCommandTools } from './index.ts';

let workspaceRoot: string;
const tables: CommandTable[] = [];

/**
 * This file runs twice: as it is, commands start through Node's spawn (the
 * agent's fallback); commands-launched.test.ts runs it again with
 * SANDBOXD_TEST_LAUNCHER naming a launcher built from image/launcher, the way
 * the agent starts commands in the image.
 */
const launcherBinary = process.env.SANDBOXD_TEST_LAUNCHER;
let launcher: Launcher | undefined;

before(async () => {
  workspaceRoot = await realpath(await mkdtemp(path.join(os.tmpdir(), 'sandboxd-commands-')));
  if (launcherBinary !== undefined) {
    launcher = new Launcher({ log: () => undefined, binaryPath: launcherBinary });
    launcher.start();
    await launcher.settled();
    assert.ok(launcher.isReady, 'the launcher under test said ready');
  }
});
after(() => launcher?.close());
afterEach(async () => {
  // Every command a test leaves running is killed, so nothing outlives the test file.
  for (const table of tables.splice(0)) table.killAll();
});
after(() => rm(workspaceRoot, { recursive: true, force: true }));

/** The four command tools over a fresh table, called the way the dispatcher calls them. */
function engine(overrides: Partial<AgentLimits> = {}) {
  const limits: AgentLimits = { ...defaultAgentLimits, ...overrides };
  const table = new CommandTable(() => limits, launcher);
  tables.push(table);
  const tools = createCommandTools(table, os.tmpdir());
  const context: ToolContext = { workspaceRoot, limits };
  async function call<S extends ToolSpec>(
    tool: { spec: S; handler: (context: ToolContext, input: z.output<S['input']>) => Promise<unknown> },
    input: unknown,
  ) {
    const parsed = tool.spec.input.safeParse(input);
    if (!parsed.success)
      throw new ToolError('INVALID_ARGUMENT', parsed.error.issues[0]?.message ?? 'invalid');
    return (await tool.handler(context, parsed.data as z.output<S['input']>)) as {
      summary: string;
      result: z.input<S['output']>;
    };
  }
  return {
    table,
    exec: (input: Record<string, unknown>) =>
      call(tools.exec_command, input) as Promise<{ summary: string; result: CommandResult }>,
    write: (input: Record<string, unknown>) =>
      call(tools.write_stdin, input) as Promise<{ summary: string; result: CommandResult }>,
    kill: async (input: Record<string, unknown>) =>
      (await call(tools.kill_command, input)).result as Partial<Omit<CommandResult, 'status'>> & {
        command_id: string;
        status: KillStatus;
        command_status?: CommandStatus;
      },
    read: async (input: Record<string, unknown>) => (await call(tools.read_output, input)).result,
  };
}

async function rejectsWith(promise: Promise<unknown>, code: ErrorCode, message?: RegExp): Promise<ToolError> {
  let caught: unknown;
  try {
    await promise;
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof ToolError, `expected ToolError ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  if (message) assert.match(caught.message, message);
  return caught;
}

/** Alive and not a zombie waiting for its reaper. */
async function isAlive(pid: number): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  return stat !== '' && stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
}

/** Terminal tests need script(1), which the worker image has. */
const needsScript = { skip: existsSync('/usr/bin/script') ? false : 'no /usr/bin/script here' };

/** Polls a running command until its output so far matches `pattern`; returns that output. */
async function outputUntil(
  commands: ReturnType<typeof engine>,
  started: { result: CommandResult },
  pattern: RegExp,
): Promise<string> {
  let stdout = started.result.stdout;
  for (let polls = 0; !pattern.test(stdout) && polls < 100; polls++) {
    stdout += (await commands.write({ command_id: started.result.command_id, yield_time_ms: 50 })).result
      .stdout;
  }
  assert.match(stdout, pattern);
  return stdout;
}

async function eventually(check: () => Promise<boolean>, timeoutMs = 3000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await sleep(25);
  }
  return check();
}

describe('exec_command', () => {
  it(`starts commands ${launcherBinary === undefined ? "with Node's spawn" : 'through the launcher'}`, async () => {
    const { result } = await engine().exec({ cmd: ['sh', '-c', 'echo $PPID'] });
    // Under Node's spawn the sh wrapper execs in place, so the parent is this process.
    const expected = launcher === undefined ? process.pid : launcher.pid;
    assert.equal(Number(result.stdout), expected);
  });

  it('runs a short command to completion in one call', async () => {
    const { result, summary } = await engine().exec({ cmd: 'echo hi' });
    assert.equal(result.status, 'exited');
    assert.equal(result.exit_code, 0);
    assert.equal(result.signal, null);
    assert.equal(result.stdout, 'hi\n');
    assert.equal(result.stderr, '');
    assert.equal(result.next_action, undefined);
    assert.match(summary, /^Exited with code 0/);
  });

  it('reports a non-zero exit code as status exited', async () => {
    const { result } = await engine().exec({ cmd: 'echo oops >&2; exit 3' });
    assert.equal(result.status, 'exited');
    assert.equal(result.exit_code, 3);
    assert.equal(result.stderr, 'oops\n');
  });

  it('runs an argv array without a shell', async () => {
    const { result } = await engine().exec({ cmd: ['printf', '%s|', 'a b', '$HOME'] });
    assert.equal(result.stdout, 'a b|$HOME|');
  });

  it("finds an argv program on the command's own PATH", async () => {
    await mkdir(path.join(workspaceRoot, 'bin'), { recursive: true });
    await writeFile(path.join(workspaceRoot, 'bin', 'hello'), '#!/bin/sh\necho "hello $1"\n', {
      mode: 0o755,
    });
    const { result } = await engine().exec({
      cmd: ['hello', 'path'],
      env: { PATH: `${workspaceRoot}/bin:/usr/bin:/bin` },
    });
    assert.equal(result.stdout, 'hello path\n');
  });

  it('reports a program that cannot be launched as failed', async () => {
    const { result } = await engine().exec({ cmd: ['/nonexistent/program'] });
    assert.equal(result.status, 'failed');
    assert.match(result.error ?? '', /ENOENT/);
  });

  it('reports a failed launch as failed even when it does not wait at all', async () => {
    const { result } = await engine().exec({ cmd: ['/nonexistent/program'], yield_time_ms: 0 });
    assert.equal(result.status, 'failed');
  });

  it('returns running, a command_id and the exact poll call when yield_time_ms is 0', async () => {
    const { result, summary } = await engine().exec({ cmd: 'sleep 0.3; echo done', yield_time_ms: 0 });
    assert.equal(result.status, 'running');
    assert.match(result.command_id, /^[0-9a-f]{12}$/);
    assert.equal(result.exit_code, null);
    assert.deepEqual(result.next_action, {
      tool: 'write_stdin',
      arguments: { command_id: result.command_id, chars: '' },
    });
    assert.ok(summary.includes(`write_stdin {"command_id":"${result.command_id}","chars":""}`), summary);
  });

  it('can be polled with write_stdin until it exits, each poll returning only new output', async () => {
    const commands = engine();
    const started = await commands.exec({
      cmd: 'echo one; sleep 0.3; echo two; sleep 0.3; echo three',
      yield_time_ms: 100,
    });
    assert.equal(started.result.status, 'running');
    let stdout = started.result.stdout;
    let last = started.result;
    for (let polls = 0; last.status === 'running' && polls < 50; polls++) {
      last = (await commands.write({ command_id: started.result.command_id, chars: '', yield_time_ms: 200 }))
        .result;
      stdout += last.stdout;
    }
    assert.equal(last.status, 'exited');
    assert.equal(last.exit_code, 0);
    assert.equal(stdout, 'one\ntwo\nthree\n');
    assert.equal(last.total_bytes.stdout, stdout.length);
  });

  it('feeds the stdin input and closes it', async () => {
    const { result } = await engine().exec({ cmd: 'cat; echo end', stdin: 'abc\ndef\n' });
    assert.equal(result.status, 'exited');
    assert.equal(result.stdout, 'abc\ndef\nend\n');
  });
});

describe('write_stdin', () => {
  it('feeds characters to a running command', async () => {
    const commands = engine();
    const started = await commands.exec({ cmd: 'cat', yield_time_ms: 0 });
    const id = started.result.command_id;
    const first = await commands.write({ command_id: id, chars: 'ping\n', yield_time_ms: 300 });
    assert.equal(first.result.status, 'running');
    assert.equal(first.result.stdout, 'ping\n');
    const second = await commands.write({ command_id: id, chars: 'pong\n', yield_time_ms: 300 });
    assert.equal(second.result.stdout, 'pong\n');
    assert.equal((await commands.kill({ command_id: id })).status, 'terminated');
  });

  it('answers COMMAND_CLOSED once the command has exited', async () => {
    const commands = engine();
    const started = await commands.exec({ cmd: 'head -n1', yield_time_ms: 0 });
    const id = started.result.command_id;
    const answered = await commands.write({ command_id: id, chars: 'line\nrest\n', yield_time_ms: 3000 });
    assert.equal(answered.result.status, 'exited');
    assert.equal(answered.result.stdout, 'line\n');
    const error = await rejectsWith(commands.write({ command_id: id, chars: 'more' }), 'COMMAND_CLOSED');
    assert.equal(error.details?.status, 'exited');
    // An empty poll of a finished command still answers with its state.
    assert.equal((await commands.write({ command_id: id, chars: '' })).result.status, 'exited');
  });

  it('answers COMMAND_NOT_FOUND for an id that never existed', async () => {
    await rejectsWith(engine().write({ command_id: 'nosuchcommand', chars: '' }), 'COMMAND_NOT_FOUND');
  });
});

describe('timeouts', () => {
  it('kill the whole process group when timeout_ms passes', async () => {
    const { result, summary } = await engine().exec({
      cmd: 'sleep 30 & echo $!; wait',
      timeout_ms: 400,
      yield_time_ms: 10_000,
    });
    assert.equal(result.status, 'timeout');
    assert.match(summary, /^Timed out/);
    const backgroundPid = Number(result.stdout.trim());
    assert.ok(backgroundPid > 0, result.stdout);
    assert.ok(await eventually(async () => !(await isAlive(backgroundPid))), 'the background sleep is gone');
  });

  it('also take what the command left in its group after it exited', async () => {
    const { result } = await engine().exec({
      cmd: 'sleep 30 & echo $!',
      timeout_ms: 500,
      yield_time_ms: 10_000,
    });
    assert.equal(result.status, 'exited', 'the shell itself ends at once');
    const backgroundPid = Number(result.stdout.trim());
    assert.ok(await isAlive(backgroundPid), 'the background sleep outlives its shell');
    assert.ok(await eventually(async () => !(await isAlive(backgroundPid))), 'the deadline takes it');
  });

  for (const isTty of [false, true]) {
    for (const cmd of ['sleep 2', "trap '' TERM; sleep 2"]) {
      it(`report timeout and timed_out when polled just after the deadline: ${cmd}${isTty ? ', on a terminal' : ''}`, {
        skip: isTty ? needsScript.skip : false,
      }, async () => {
        const commands = engine();
        const started = await commands.exec({ cmd, tty: isTty, timeout_ms: 100, yield_time_ms: 0 });
        await sleep(350);
        const polled = await commands.write({ command_id: started.result.command_id, yield_time_ms: 0 });
        assert.equal(polled.result.status, 'timeout');
        assert.equal(polled.result.timed_out, true);
        assert.equal(polled.result.next_action, undefined);
        assert.match(polled.summary, /^Timed out/);
      });
    }
  }

  it('say timed_out false for a command that ended by itself', async () => {
    const { result } = await engine().exec({ cmd: 'exit 1', timeout_ms: 10_000 });
    assert.equal(result.timed_out, false);
  });

  it('kill a group that ignores TERM soon after the deadline', async () => {
    const commands = engine();
    const started = await commands.exec({ cmd: "trap '' TERM; sleep 30", timeout_ms: 100, yield_time_ms: 0 });
    const pid = commands.table.get(started.result.command_id).pid as number;
    assert.ok(
      await eventually(async () => !(await isAlive(pid)), 1100),
      'gone within a second of the deadline',
    );
  });

  it(
    'leave nothing behind on a terminal, even a process that ignores TERM and HUP',
    needsScript,
    async () => {
      const commands = engine();
      const started = await commands.exec({
        cmd: "trap '' TERM HUP; sleep 30 & echo pid=$!; wait",
        tty: true,
        timeout_ms: 500,
        yield_time_ms: 0,
      });
      const sleepPid = Number(/pid=(\d+)/.exec(await outputUntil(commands, started, /pid=\d+/))?.[1]);
      assert.ok(await isAlive(sleepPid), 'the sleep runs until the deadline');
      assert.ok(await eventually(async () => !(await isAlive(sleepPid)), 1500), 'the deadline takes it');
    },
  );

  it('are capped by the policy maximum', async () => {
    const { result } = await engine({ maxCommandTimeoutMs: 300 }).exec({
      cmd: 'sleep 30',
      timeout_ms: 60_000,
      yield_time_ms: 5000,
    });
    assert.equal(result.status, 'timeout');
    assert.ok(result.duration_ms < 5000, `${result.duration_ms} ms`);
  });
});

describe('kill_command', () => {
  it('stops a command with TERM', async () => {
    const commands = engine();
    const started = await commands.exec({ cmd: 'sleep 30', yield_time_ms: 0 });
    const killed = await commands.kill({ command_id: started.result.command_id });
    assert.equal(killed.status, 'terminated');
    assert.equal(killed.command_status, 'terminated');
    assert.equal(killed.signal, 'SIGTERM');
  });

  it('answers killed to KILL, and the command is killed for every later poll too', async () => {
    const commands = engine();
    const started = await commands.exec({ cmd: 'sleep 30', yield_time_ms: 0 });
    const killed = await commands.kill({ command_id: started.result.command_id, signal: 'KILL' });
    assert.equal(killed.status, 'killed');
    assert.equal(killed.signal, 'SIGKILL');
    const polled = await commands.write({ command_id: started.result.command_id, yield_time_ms: 0 });
    assert.equal(polled.result.status, 'killed');
    assert.match(polled.summary, /^Killed by kill_command/);
  });

  it('leaves terminated for a command that a KILL from elsewhere ended', async () => {
    const { result } = await engine().exec({ cmd: 'kill -KILL $$' });
    assert.equal(result.status, 'terminated');
    assert.equal(result.signal, 'SIGKILL');
  });

  it('escalates to KILL when the command ignores TERM', async () => {
    const commands = engine();
    const started = await commands.exec({
      cmd: "trap '' TERM; echo ready; while :; do sleep 0.05; done",
      yield_time_ms: 0,
    });
    await outputUntil(commands, started, /ready/);
    const killed = await commands.kill({ command_id: started.result.command_id, wait_ms: 300 });
    assert.equal(killed.status, 'killed');
    assert.equal(killed.command_status, 'killed');
    assert.equal(killed.signal, 'SIGKILL');
  });

  it('reaches a command on a terminal at once, not through script(1) relaying it', needsScript, async () => {
    const commands = engine();
    const started = await commands.exec({ cmd: 'echo ready; sleep 30', tty: true, yield_time_ms: 0 });
    await outputUntil(commands, started, /ready/);
    const killed = await commands.kill({ command_id: started.result.command_id, wait_ms: 1000 });
    assert.equal(killed.status, 'terminated');
  });

  it('reports exited for a command that already finished', async () => {
    const commands = engine();
    const done = await commands.exec({ cmd: 'true' });
    const killed = await commands.kill({ command_id: done.result.command_id, signal: 'KILL' });
    assert.equal(killed.status, 'exited');
    assert.equal(killed.command_status, 'exited');
  });

  it('reports not_found for an unknown id', async () => {
    assert.deepEqual(await engine().kill({ command_id: 'nosuchcommand' }), {
      command_id: 'nosuchcommand',
      status: 'not_found',
    });
  });
});

describe('output', () => {
  it('pages a stream with read_output by absolute offsets', async () => {
    const commands = engine();
    const done = await commands.exec({ cmd: "printf '0123456789abcdefghij'; printf 'err' >&2" });
    const ref = done.result.output_refs.stdout;
    assert.equal(ref, `command:${done.result.command_id}:stdout`);
    const first = await commands.read({ output_ref: ref, offset: 0, limit: 8 });
    assert.equal(first.data, '01234567');
    assert.equal(first.next_offset, 8);
    assert.equal(first.is_complete, false);
    const second = await commands.read({ output_ref: ref, offset: first.next_offset, limit: 8 });
    assert.equal(second.data, '89abcdef');
    const last = await commands.read({ output_ref: ref, offset: second.next_offset, limit: 8 });
    assert.equal(last.data, 'ghij');
    assert.equal(last.next_offset, 20);
    assert.equal(last.total_bytes, 20);
    assert.equal(last.is_complete, true);
    const stderr = await commands.read({ output_ref: `command:${done.result.command_id}`, stream: 'stderr' });
    assert.equal(stderr.data, 'err');
  });

  it('returns head and tail of a flood and reports the evicted gap', async () => {
    const commands = engine({ maxOutputBytesPerStream: 1024 }); // head 128, tail 896
    const done = await commands.exec({ cmd: "head -c 100000 /dev/zero | tr '\\0' x; echo -n END" });
    const result = done.result;
    assert.equal(result.status, 'exited');
    assert.equal(result.total_bytes.stdout, 100_003);
    assert.equal(result.evicted_gap_bytes.stdout, 100_003 - 1024);
    assert.equal(result.stdout.length, 1024);
    assert.ok(result.stdout.endsWith('xEND'), 'the tail reaches the end of the output');
    assert.match(done.summary, /bytes not shown; read them with read_output/);
    const ref = result.output_refs.stdout;
    const head = await commands.read({ output_ref: ref, offset: 0, limit: 4096 });
    assert.equal(head.data.length, 128);
    assert.equal(head.evicted_gap_bytes, 0);
    const tail = await commands.read({ output_ref: ref, offset: head.next_offset, limit: 4096 });
    assert.equal(tail.evicted_gap_bytes, 100_003 - 1024);
    assert.equal(tail.offset, 100_003 - 896);
    assert.equal(tail.data.length, 896);
    assert.equal(tail.is_complete, true);
  });

  it('returns at most max_output_bytes per call and counts the rest as omitted', async () => {
    const commands = engine();
    const done = await commands.exec({ cmd: "head -c 5000 /dev/zero | tr '\\0' y", max_output_bytes: 1000 });
    assert.equal(done.result.stdout.length, 1000);
    assert.equal(done.result.omitted_bytes.stdout, 4000);
    assert.equal(done.result.evicted_gap_bytes.stdout, 0);
    const all = await commands.read({ output_ref: done.result.output_refs.stdout, limit: 10_000 });
    assert.equal(all.data.length, 5000);
  });
});

describe('workspace limits', () => {
  it('refuses a command beyond maxActiveCommands', async () => {
    const commands = engine({ maxActiveCommands: 2 });
    await commands.exec({ cmd: 'sleep 30', yield_time_ms: 0 });
    await commands.exec({ cmd: 'sleep 30', yield_time_ms: 0 });
    const error = await rejectsWith(commands.exec({ cmd: 'true' }), 'COMMAND_LIMIT_REACHED');
    assert.equal(error.retryable, true);
  });

  it('evicts the oldest finished command and says so when it is asked for', async () => {
    const commands = engine({ maxRetainedCommands: 2 });
    const first = await commands.exec({ cmd: 'echo 1' });
    await commands.exec({ cmd: 'echo 2' });
    await commands.exec({ cmd: 'echo 3' });
    const id = first.result.command_id;
    const error = await rejectsWith(
      commands.write({ command_id: id, chars: '' }),
      'COMMAND_NOT_FOUND',
      /evicted/,
    );
    assert.equal(error.details?.evicted, 'retained-command limit reached');
    await rejectsWith(commands.read({ output_ref: `command:${id}:stdout` }), 'COMMAND_NOT_FOUND', /evicted/);
  });
});

describe('the command environment', () => {
  for (const name of [
    'LD_PRELOAD',
    'ld_preload',
    'NODE_OPTIONS',
    'BASH_ENV',
    'BASH_FUNC_x',
    'BASH_FUNC_x%%',
  ]) {
    it(`refuses ${name}`, async () => {
      await rejectsWith(engine().exec({ cmd: 'true', env: { [name]: 'x' } }), 'INVALID_ARGUMENT');
    });
  }

  it('passes an ordinary variable through', async () => {
    const { result } = await engine().exec({ cmd: 'echo "$GREETING"', env: { GREETING: 'hello there' } });
    assert.equal(result.stdout, 'hello there\n');
  });

  it("keeps the agent's own variables from the command", async () => {
    process.env.SANDBOXD_SECRET_TEST = 'must-not-leak';
    try {
      const { result } = await engine().exec({ cmd: 'env' });
      assert.equal(result.exit_code, 0);
      assert.doesNotMatch(result.stdout, /SANDBOXD_SECRET_TEST|must-not-leak/);
      assert.match(result.stdout, /^PATH=/m);
    } finally {
      delete process.env.SANDBOXD_SECRET_TEST;
    }
  });
});

describe('workdir', () => {
  it('runs in a directory of the workspace', async () => {
    await mkdir(path.join(workspaceRoot, 'sub'), { recursive: true });
    const { result } = await engine().exec({ cmd: 'pwd', workdir: 'sub' });
    assert.equal(result.stdout, `${path.join(workspaceRoot, 'sub')}\n`);
    const viaCwd = await engine().exec({ cmd: 'pwd', cwd: 'sub' });
    assert.equal(viaCwd.result.stdout, result.stdout);
  });

  it('refuses a workdir outside the workspace', async () => {
    await rejectsWith(engine().exec({ cmd: 'pwd', workdir: '..' }), 'PATH_OUTSIDE_WORKSPACE');
    await rejectsWith(engine().exec({ cmd: 'pwd', workdir: 'sub/../../x' }), 'PATH_OUTSIDE_WORKSPACE');
    await rejectsWith(engine().exec({ cmd: 'pwd', workdir: '/tmp' }), 'ABSOLUTE_PATH_DENIED');
  });

  it('refuses a symlink that leaves the workspace', async () => {
    await symlink(os.tmpdir(), path.join(workspaceRoot, 'escape')).catch(() => undefined);
    await rejectsWith(engine().exec({ cmd: 'pwd', workdir: 'escape' }), 'SYMLINK_ESCAPE');
  });

  it('refuses a file as NOT_A_DIRECTORY and a missing path as NOT_FOUND', async () => {
    await writeFile(path.join(workspaceRoot, 'file.txt'), 'x');
    await rejectsWith(engine().exec({ cmd: 'pwd', workdir: 'file.txt' }), 'NOT_A_DIRECTORY');
    await rejectsWith(engine().exec({ cmd: 'pwd', workdir: 'missing' }), 'NOT_FOUND');
  });
});

describe('tty', () => {
  const hasScript = existsSync('/usr/bin/script');

  it('gives the command a terminal', { skip: hasScript ? false : 'no /usr/bin/script here' }, async () => {
    const { result } = await engine().exec({
      cmd: 'test -t 0 && test -t 1 && echo tty; echo "$TERM"',
      tty: true,
    });
    assert.equal(result.tty, true);
    assert.equal(result.status, 'exited');
    assert.equal(result.exit_code, 0);
    assert.match(result.stdout, /^tty\r?\nxterm-256color/);
  });

  it('passes the exit code through the terminal', {
    skip: hasScript ? false : 'no /usr/bin/script here',
  }, async () => {
    const { result } = await engine().exec({ cmd: 'exit 7', tty: true });
    assert.equal(result.exit_code, 7);
  });

  it('gives no terminal without tty', async () => {
    const { result } = await engine().exec({ cmd: 'test -t 1 && echo tty || echo pipe' });
    assert.equal(result.stdout, 'pipe\n');
  });
});

describe('the OOM killer', () => {
  it('prefers the command: its oom_score_adj is 1000', async () => {
    const commands = engine();
    const started = await commands.exec({ cmd: 'sleep 30', yield_time_ms: 0 });
    const pid = commands.table.get(started.result.command_id).pid as number;
    const read = () => readFile(`/proc/${pid}/oom_score_adj`, 'utf8').then((text) => text.trim());
    assert.ok(await eventually(async () => (await read()) === '1000'), `got ${await read()}`);
  });

  it('raises the score of an argv command run without a shell too', async () => {
    const { result } = await engine().exec({ cmd: ['cat', '/proc/self/oom_score_adj'] });
    assert.equal(result.stdout, '1000\n');
  });

  it('leaves the command line that ps and pkill -f see unchanged', async () => {
    const { result } = await engine().exec({ cmd: "tr '\\0' ' ' < /proc/$$/cmdline" });
    assert.equal(result.stdout, "/bin/bash -c tr '\\0' ' ' < /proc/$$/cmdline ");
  });

  it('gives 1000 to every process of the command, even one forked at once', async () => {
    const commands = engine();
    for (let attempt = 0; attempt < 10; attempt++) {
      const { result } = await commands.exec({
        cmd: 'cat /proc/self/oom_score_adj; (cat /proc/self/oom_score_adj)',
      });
      assert.equal(result.stdout, '1000\n1000\n', `attempt ${attempt}`);
    }
  });
});
