import assert from 'node:assert/strict';
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { chmod, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { defaultAgentLimits } from '#protocol/limits';
import type { Command } from './command.ts';
import { Launcher } from './launcher.ts';
import { StdioServer } from './stdio-server.ts';
import { CommandTable } from './table.ts';
import { buildLauncher } from './test-launcher.ts';

const quiet = () => undefined;

// Built before the tests are declared: whether they can run decides their skip.
const directory = mkdtempSync(path.join(os.tmpdir(), 'sandboxd-launcher-'));
const binary = buildLauncher(directory);
const owned: { close(): void }[] = [];

afterEach(() => {
  for (const resource of owned.splice(0)) resource.close();
});
after(() => rm(directory, { recursive: true, force: true }));

async function readyLauncher(): Promise<Launcher> {
  const launcher = new Launcher({ log: quiet, binaryPath: binary as string });
  owned.push(launcher);
  launcher.start();
  for (let waited = 0; !launcher.isReady && waited < 5000; waited += 5) await sleep(5);
  assert.ok(launcher.isReady, 'the launcher said ready');
  return launcher;
}

function commands(launcher: Launcher | undefined) {
  const table = new CommandTable(() => defaultAgentLimits, launcher);
  owned.push({ close: () => table.killAll() });
  return (argv: string[], env: Record<string, string> = {}) =>
    table.start({
      argv,
      cwd: directory,
      env: { PATH: '/usr/bin:/bin', HOME: directory, ...env },
      timeoutMs: 30_000,
      isTty: false,
    });
}

async function finished(command: Command) {
  await command.started;
  await command.finished;
  const stdout = command.output.stdout.read(0, 1 << 20).data.toString();
  return {
    status: command.status,
    code: command.exitCode,
    signal: command.signal,
    stdout,
    failure: command.failure,
  };
}

async function parentOf(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

const needsCompiler = () => (binary === undefined ? 'no C compiler on this host' : false);

describe('launcher.c over its control channel', () => {
  /** The binary alone, with a stdio socket that accepts and drops the command's streams. */
  async function rawLauncher() {
    const server = net.createServer((socket) => socket.destroy());
    const name = `sandboxd-test-${process.pid}-${Date.now()}`;
    await new Promise<void>((resolve) => server.listen(`\0${name}`, resolve));
    owned.push({ close: () => server.close() });
    const child = spawn(binary as string, [name], { stdio: 'pipe' }) as ChildProcessWithoutNullStreams;
    owned.push({ close: () => child.kill('SIGKILL') });
    const lines: string[] = [];
    let partial = '';
    child.stdout.on('data', (chunk: Buffer) => {
      const parts = (partial + chunk.toString()).split('\n');
      partial = parts.pop() as string;
      lines.push(...parts);
    });
    const nextLine = async () => {
      for (let waited = 0; lines.length === 0 && waited < 5000; waited += 5) await sleep(5);
      return lines.shift();
    };
    const frame = (fields: string[], declaredBytes?: number) => {
      const payload = Buffer.from(fields.map((field) => `${field}\0`).join(''));
      const header = Buffer.alloc(4);
      header.writeUInt32LE(declaredBytes ?? payload.length);
      child.stdin.write(Buffer.concat([header, payload]));
    };
    assert.equal(await nextLine(), 'ready');
    return { child, nextLine, frame };
  }

  const token = 'ab'.repeat(16);

  it('refuses malformed requests and keeps serving', { skip: needsCompiler() }, async () => {
    const { child, nextLine, frame } = await rawLauncher();
    child.stdin.write(Buffer.from([3, 0, 0, 0, 0x61, 0x62, 0x63]));
    assert.equal(await nextLine(), 'refused fields-not-terminated');
    frame(['not-a-token', '/', '1', 'true']);
    assert.equal(await nextLine(), 'refused bad-token');
    frame([token, 'relative', '1', 'true']);
    assert.equal(await nextLine(), `failed ${token} EINVAL request cwd-not-absolute`);
    frame([token, '/', '5', 'true']);
    assert.equal(await nextLine(), `failed ${token} EINVAL request bad-argc`);
    // Declared larger than any request may be: the bytes are skipped, not buffered.
    child.stdin.write(Buffer.from([0, 0, 0x50, 0]));
    child.stdin.write(Buffer.alloc(0x500000));
    assert.equal(await nextLine(), `refused request-size-${0x500000}`);
    frame([token, '/', '1', '/bin/true']);
    const spawned = (await nextLine())?.split(' ');
    assert.deepEqual(spawned?.slice(0, 2), ['spawned', token]);
    assert.equal(await nextLine(), `exit ${spawned?.[2]} 0 0`);
  });

  it('exits when its control channel closes', { skip: needsCompiler() }, async () => {
    const { child } = await rawLauncher();
    const exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    child.stdin.end();
    assert.equal(await exited, 0);
  });
});

describe('commands started through the launcher', () => {
  it('run as its children, in their own session and process group', { skip: needsCompiler() }, async () => {
    const launcher = await readyLauncher();
    const command = commands(launcher)(['/bin/sleep', '5']);
    await command.started;
    const pid = command.pid as number;
    assert.equal(await parentOf(pid), launcher.pid);
    const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]?.split(' ') ?? [];
    assert.deepEqual([fields[2], fields[3]], [String(pid), String(pid)], 'pgid and sid are the pid');
    command.signalGroup('SIGKILL');
    assert.equal((await finished(command)).signal, 'SIGKILL');
  });

  it("search the command's own PATH and run a file without #! through sh, as execvp does", {
    skip: needsCompiler(),
  }, async () => {
    const run = commands(await readyLauncher());
    await writeFile(path.join(directory, 'plain-script'), 'echo "from a plain script: $1"\n');
    await chmod(path.join(directory, 'plain-script'), 0o755);
    const script = await finished(run(['plain-script', 'arg'], { PATH: `/nonexistent:${directory}` }));
    assert.equal(script.stdout, 'from a plain script: arg\n');
    const missing = await finished(run(['plain-script'], { PATH: '/usr/bin' }));
    assert.equal(missing.status, 'failed');
    assert.equal(missing.failure, 'spawn plain-script ENOENT');
    const noPath = await finished(run(['ls', '-d', '.'], { PATH: '' }));
    assert.equal(noPath.failure, 'spawn ls ENOENT');
  });

  it('report a signal by the name Node gives it', { skip: needsCompiler() }, async () => {
    const run = commands(await readyLauncher());
    const aborted = await finished(run(['/bin/sh', '-c', 'kill -ABRT $$']));
    assert.equal(aborted.status, 'terminated');
    assert.equal(aborted.signal, 'SIGABRT');
  });

  it('fail with a clear reason when the launcher dies, and the next ones use spawn until it is back', {
    skip: needsCompiler(),
  }, async () => {
    const launcher = await readyLauncher();
    const run = commands(launcher);
    const running = run(['/bin/sleep', '30']);
    await running.started;
    process.kill(launcher.pid as number, 'SIGKILL');
    const lost = await finished(running);
    assert.equal(lost.status, 'failed');
    assert.match(
      lost.failure ?? '',
      /launcher exited \(SIGKILL\) while the command ran; its exit status is lost/,
    );
    process.kill(-(running.pid as number), 'SIGKILL');

    const fallback = run(['/bin/sh', '-c', 'echo $PPID']);
    assert.equal(
      (await finished(fallback)).stdout,
      `${process.pid}\n`,
      'started by Node, under the sh wrapper',
    );
    for (let waited = 0; !launcher.isReady && waited < 3000; waited += 20) {
      await finished(run(['/bin/true']));
      await sleep(20);
    }
    const again = await finished(run(['/bin/sh', '-c', 'echo $PPID']));
    assert.equal(again.stdout, `${launcher.pid}\n`, 'a new launcher starts commands again');
  });

  it('are started by Node when there is no launcher binary', async () => {
    const launcher = new Launcher({ log: quiet, binaryPath: path.join(os.tmpdir(), 'no-such-launcher') });
    owned.push(launcher);
    launcher.start();
    const result = await finished(
      commands(launcher)(['/bin/sh', '-c', 'echo $PPID; cat /proc/self/oom_score_adj']),
    );
    assert.equal(result.stdout, `${process.pid}\n1000\n`);
  });
});

describe('the stdio socket', () => {
  it('hands over a connection with an expected token and closes any other', async () => {
    const server = new StdioServer(quiet);
    owned.push(server);
    await server.listening;
    const token = 'cd'.repeat(16);
    const received = new Promise<[number, string]>((resolve) =>
      server.expect(token, (stream, socket) => {
        let text = '';
        socket.on('data', (chunk: Buffer) => (text += chunk));
        socket.on('end', () => resolve([stream, text]));
      }),
    );
    const connect = (header: string, body: string) => {
      const socket = net.connect(`\0${server.name}`);
      socket.end(header + body);
      return new Promise<void>((resolve) => socket.on('close', () => resolve()));
    };
    await connect(`${'ef'.repeat(16)} 1\n`, 'injected');
    await connect('not a header at all, not even the length\n', 'x');
    await connect(`${token} 1\n`, 'from the command');
    assert.deepEqual(await received, [1, 'from the command']);
  });
});
