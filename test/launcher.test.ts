import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Sandbox } from '../src/sandbox/sandbox.ts';
import { type ExecResult, TestSandboxes } from './support/sandboxes.ts';

const sandboxes = new TestSandboxes();
let sandbox: Sandbox;

before(async () => {
  await sandboxes.setup();
  sandbox = await sandboxes.create();
});
after(() => sandboxes.teardown());

/** exec_command as the tests read it; `error` is the failure text of a command that did not start. */
type CommandReply = Omit<ExecResult, 'error'> & { error?: string; command_status?: string };

async function exec(target: Sandbox, cmd: string | string[], extra: Record<string, unknown> = {}) {
  const reply = await target.callTool('exec_command', { cmd, yield_time_ms: 60_000, ...extra }, 120_000);
  return reply.result as unknown as CommandReply;
}

async function tool(target: Sandbox, name: string, input: Record<string, unknown>) {
  return (await target.callTool(name, input, 60_000)).result as unknown as CommandReply;
}

/** The command line of the process that started the command: bash's parent. */
const PARENT_COMMAND_LINE = 'tr "\\0" " " < /proc/$PPID/cmdline';
const LAUNCHER_COMMAND_LINE = /^\/opt\/sandboxd\/launcher sandboxd-stdio-[0-9a-f]+ $/;

describe('the command launcher in the worker image', () => {
  it('starts every command, each process at oom_score_adj 1000', async () => {
    const result = await exec(
      sandbox,
      `${PARENT_COMMAND_LINE}; echo; cat /proc/self/oom_score_adj; (cat /proc/self/oom_score_adj); sh -c 'cat /proc/self/oom_score_adj'`,
    );
    assert.equal(result.exit_code, 0, result.stderr);
    const [parent, ...scores] = result.stdout.split('\n');
    assert.match(parent ?? '', LAUNCHER_COMMAND_LINE);
    assert.deepEqual(scores, ['1000', '1000', '1000', '']);
  });

  it('is a child of the agent that leaves orphans to PID 1, not a subreaper', async () => {
    const result = await exec(
      sandbox,
      [
        'agent=$(pgrep -xf "node /opt/sandboxd/agent.mjs")',
        'echo "launcher-parent-is-agent $([ "$(ps -o ppid= -p $PPID | tr -d " ")" = "$agent" ] && echo yes || echo no)"',
        'orphan=$(sleep 30 >/dev/null 2>&1 & echo $!)',
        'sleep 0.2',
        'echo "orphan-parent $(ps -o ppid= -p $orphan | tr -d " ")"',
        'kill $orphan',
      ].join('\n'),
    );
    assert.equal(result.stdout, 'launcher-parent-is-agent yes\norphan-parent 1\n', result.stderr);
  });

  it('gives the command its input, separate output streams and its exit code', async () => {
    const result = await exec(sandbox, 'cat; echo to-stderr >&2; exit 7', { stdin: 'from stdin\n' });
    assert.equal(result.status, 'exited');
    assert.equal(result.exit_code, 7);
    assert.equal(result.stdout, 'from stdin\n');
    assert.equal(result.stderr, 'to-stderr\n');
  });

  it('feeds write_stdin to a running command', async () => {
    const started = await exec(sandbox, 'read line; echo "got $line"', { yield_time_ms: 0 });
    assert.equal(started.status, 'running');
    const done = await tool(sandbox, 'write_stdin', {
      command_id: started.command_id,
      chars: 'typed\n',
      yield_time_ms: 10_000,
    });
    assert.equal(done.status, 'exited');
    assert.equal(done.stdout, 'got typed\n');
  });

  it('reports a signal, a timeout and kill_command as before', async () => {
    const signalled = await exec(sandbox, 'kill -TERM $$');
    assert.equal(signalled.status, 'terminated');
    assert.equal(signalled.signal, 'SIGTERM');

    const marker = `launcher-timeout-${Date.now()}`;
    const timedOut = await exec(
      sandbox,
      `(exec -a ${marker} sleep 300) & (exec -a ${marker} sleep 300) & wait`,
      {
        timeout_ms: 500,
      },
    );
    assert.equal(timedOut.status, 'timeout');
    await sleep(300);
    const left = await exec(sandbox, `pgrep -f '^${marker}' || echo none`);
    assert.equal(left.stdout, 'none\n', 'the whole process group is gone');

    const running = await exec(sandbox, 'sleep 300', { yield_time_ms: 0 });
    const killed = await tool(sandbox, 'kill_command', { command_id: running.command_id, signal: 'TERM' });
    assert.equal(killed.status, 'terminated');
    assert.equal(killed.signal, 'SIGTERM');
  });

  it('gives a pseudo-terminal with tty: true and passes its exit code through', async () => {
    const result = await exec(sandbox, 'test -t 0 && test -t 1 && exit 4', { tty: true });
    assert.equal(result.exit_code, 4);
  });

  it('reports a program it cannot start the way Node does', async () => {
    const missing = await exec(sandbox, ['no-such-program', 'arg']);
    assert.equal(missing.status, 'failed');
    assert.equal(missing.error, 'spawn no-such-program ENOENT');
    const directory = await exec(sandbox, ['/workspace']);
    assert.equal(directory.error, 'spawn /workspace EACCES');
    const after = await exec(sandbox, 'echo still-fine');
    assert.equal(after.stdout, 'still-fine\n');
  });

  it('lets no descriptor of its own reach a command', async () => {
    // ls's own fd 3 is the directory it lists; 0-2 are the command's sockets to the agent.
    const result = await exec(sandbox, ['ls', '/proc/self/fd']);
    assert.equal(result.stdout, '0\n1\n2\n3\n');
    const kinds = await exec(sandbox, ['readlink', '/proc/self/fd/0', '/proc/self/fd/1', '/proc/self/fd/2']);
    assert.match(kinds.stdout, /^socket:\[\d+\]\nsocket:\[\d+\]\nsocket:\[\d+\]\n$/);
  });

  it("closes a connection to the stdio socket that does not carry a command's token", async () => {
    const victim = await exec(sandbox, 'cat', { yield_time_ms: 0 });
    assert.equal(victim.status, 'running');
    const attack = await exec(sandbox, [
      'python3',
      '-c',
      [
        'import socket',
        "names = {line.split()[-1][1:] for line in open('/proc/net/unix') if line.split()[-1].startswith('@sandboxd-stdio-')}",
        "print('sockets', len(names))",
        'for name in sorted(names):',
        '    for stream in (1, 2):',
        '        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)',
        "        s.connect('\\0' + name)",
        "        s.sendall(b'0123456789abcdef0123456789abcdef %d\\nINJECTED\\n' % stream)",
        '        s.settimeout(5)',
        '        try:',
        "            print('closed' if s.recv(1) == b'' else 'answered')",
        '        except ConnectionResetError:',
        "            print('closed')",
      ].join('\n'),
    ]);
    assert.equal(attack.stdout, 'sockets 1\nclosed\nclosed\n', attack.stderr);
    const polled = await tool(sandbox, 'write_stdin', {
      command_id: victim.command_id,
      chars: 'real input\n',
      yield_time_ms: 500,
    });
    assert.equal(polled.stdout, 'real input\n');
    assert.equal(polled.stderr, '');
    await tool(sandbox, 'kill_command', { command_id: victim.command_id, signal: 'KILL' });
  });

  it('fails a command when the pids limit is full, and runs the next one once there is room', async () => {
    const policy = await sandboxes.policy((p) => {
      p.resources.pids = 64;
    });
    const crowded = await sandboxes.create({ policy });
    const filler = await exec(
      crowded,
      [
        'python3',
        '-c',
        [
          'import os, sys, time',
          'while True:',
          '    try:',
          '        pid = os.fork()',
          '    except OSError:',
          '        break',
          '    if pid == 0:',
          '        time.sleep(300)',
          '        os._exit(0)',
          "print('full', flush=True)",
          'time.sleep(300)',
        ].join('\n'),
      ],
      { yield_time_ms: 0 },
    );
    let output = '';
    for (let attempt = 0; attempt < 100 && !output.includes('full'); attempt++) {
      await sleep(100);
      output += (
        await tool(crowded, 'write_stdin', { command_id: filler.command_id, chars: '', yield_time_ms: 0 })
      ).stdout;
    }
    assert.match(output, /full/, 'the filler reached the pids limit');
    const refused = await exec(crowded, 'true');
    assert.equal(refused.status, 'failed');
    assert.equal(refused.error, 'spawn /bin/bash EAGAIN');
    await tool(crowded, 'kill_command', { command_id: filler.command_id, signal: 'KILL' });
    let next: CommandReply | undefined;
    for (let attempt = 0; attempt < 50 && next?.status !== 'exited'; attempt++) {
      if (attempt > 0) await sleep(100);
      next = await exec(crowded, PARENT_COMMAND_LINE);
    }
    assert.equal(next?.status, 'exited');
    assert.match(next?.stdout ?? '', LAUNCHER_COMMAND_LINE, 'still through the launcher');
  });

  it('keeps the agent working when the launcher is killed, and starts a new one', async () => {
    const longRunning = await exec(sandbox, 'sleep 300', { yield_time_ms: 0 });
    assert.equal(longRunning.status, 'running');
    await exec(sandbox, "pkill -f '^/opt/sandboxd/launcher'");
    let lost: CommandReply | undefined;
    for (let attempt = 0; attempt < 40 && lost?.status !== 'failed'; attempt++) {
      if (attempt > 0) await sleep(50);
      lost = await tool(sandbox, 'write_stdin', {
        command_id: longRunning.command_id,
        chars: '',
        yield_time_ms: 0,
      });
    }
    assert.equal(lost?.status, 'failed');
    assert.match(lost?.error ?? '', /launcher .* while the command ran; its exit status is lost/);
    // Its processes still answer to their group.
    const killed = await tool(sandbox, 'kill_command', {
      command_id: longRunning.command_id,
      signal: 'KILL',
    });
    assert.equal(killed.status, 'exited');
    const left = await exec(sandbox, "pgrep -xf 'sleep 300' || echo none");
    assert.equal(left.stdout, 'none\n');

    const next = await exec(sandbox, 'echo after');
    assert.equal(next.status, 'exited');
    assert.equal(next.stdout, 'after\n');
    let parent = '';
    for (let attempt = 0; attempt < 40 && !LAUNCHER_COMMAND_LINE.test(parent); attempt++) {
      if (attempt > 0) await sleep(100);
      parent = (await exec(sandbox, PARENT_COMMAND_LINE)).stdout;
    }
    assert.match(parent, LAUNCHER_COMMAND_LINE, 'a new launcher starts commands again');
    const launchers = await exec(sandbox, "pgrep -cf '^/opt/sandboxd/launcher'");
    assert.equal(launchers.stdout, '1\n');
  });
});
