/**
 * sandboxd as a regular user in the docker group runs it: `run` over the user's
 * own folder, over a root-owned readable one and over a private root-owned one.
 * The workload gets exactly the user's own access, never more. Needs root to
 * create the user (CI runs as root); the user is made once and kept.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { chmod, chown, copyFile, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CLI, ControlPlane } from './support/control-plane.ts';

const USER = 'sandboxd-tester';
const cleanups: string[] = [];
let account: { uid: number; gid: number; home: string } | undefined;
let nodeBinary = '';

function skipReason(): string | false {
  if (process.getuid?.() !== 0) return 'needs root to create a regular user in the docker group';
  if (execFileSync('getent', ['group', 'docker'], { encoding: 'utf8' }).trim() === '')
    return 'no docker group on this machine (the engine is not reached through a group-owned socket)';
  return false;
}
const skip = skipReason();

/** Makes the user once (idempotent), in the docker group, with a home of its own. */
function ensureUser(): { uid: number; gid: number; home: string } {
  try {
    execFileSync('id', [USER], { stdio: 'ignore' });
  } catch {
    execFileSync('useradd', ['--create-home', '--shell', '/bin/sh', '--groups', 'docker', USER]);
  }
  execFileSync('usermod', ['-aG', 'docker', USER]);
  const [uid, gid, home] = execFileSync(
    'sh',
    ['-c', `id -u ${USER}; id -g ${USER}; getent passwd ${USER} | cut -d: -f6`],
    {
      encoding: 'utf8',
    },
  )
    .trim()
    .split('\n');
  return { uid: Number(uid), gid: Number(gid), home: home as string };
}

/** Runs the built CLI as the user, with its supplementary groups (docker), in its own environment. */
function asUser(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return nodeAsUser([CLI, ...args]);
}

function nodeAsUser(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const user = account as { home: string };
  const child = spawn(
    'setpriv',
    ['--reuid', USER, '--regid', USER, '--init-groups', '--', nodeBinary, ...args],
    {
      env: { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: user.home, SANDBOXD_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk;
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk;
  });
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, stdout, stderr })));
}

async function folderOwnedBy(owner: { uid: number; gid: number }, mode: number): Promise<string> {
  const directory = await mkdtemp(path.join(os.tmpdir(), 'sandboxd-ru-'));
  cleanups.push(directory);
  await writeFile(path.join(directory, 'marker.txt'), 'readable\n');
  await chown(path.join(directory, 'marker.txt'), owner.uid, owner.gid);
  await chown(directory, owner.uid, owner.gid);
  await chmod(directory, mode);
  return directory;
}

before(async () => {
  if (skip !== false) return;
  account = ensureUser();
  // Node 24 may live in root's private cache: give the user a copy it can execute.
  const bin = await mkdtemp(path.join(os.tmpdir(), 'sandboxd-ru-node-'));
  cleanups.push(bin);
  nodeBinary = path.join(bin, 'node');
  await copyFile(process.execPath, nodeBinary);
  await chmod(bin, 0o755);
  await chmod(nodeBinary, 0o755);
  execFileSync('setpriv', ['--reuid', USER, '--regid', USER, '--init-groups', '--', 'test', '-r', CLI]);
});

after(async () => {
  for (const directory of cleanups) await rm(directory, { recursive: true, force: true });
});

describe('a regular user in the docker group', () => {
  it('runs a command over their own private folder; new files are theirs', { skip }, async () => {
    const user = account as { uid: number; gid: number };
    const directory = await folderOwnedBy(user, 0o700);
    const result = await asUser([
      'run',
      '--in-place',
      '--workspace',
      directory,
      '--',
      'sh',
      '-c',
      'id -u; echo made > made.txt',
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, `${user.uid}\n`);
    const made = await stat(path.join(directory, 'made.txt'));
    assert.deepEqual([made.uid, made.gid], [user.uid, user.gid]);
  });

  it("reads a root-owned folder it may read, and cannot write there: no more than the user's own access", {
    skip,
  }, async () => {
    const user = account as { uid: number };
    const directory = await folderOwnedBy({ uid: 0, gid: 0 }, 0o755);
    const result = await asUser([
      'run',
      '--in-place',
      '--workspace',
      directory,
      '--',
      'sh',
      '-c',
      'id -u; cat marker.txt; touch written.txt',
    ]);
    assert.notEqual(result.code, 0);
    assert.equal(result.stdout, `${user.uid}\nreadable\n`);
    assert.match(result.stderr, /Permission denied/);
    assert.throws(() => accessSync(path.join(directory, 'written.txt'), constants.F_OK));
  });

  it('is refused a private root-owned folder, as the user is on the host', { skip }, async () => {
    const directory = await folderOwnedBy({ uid: 0, gid: 0 }, 0o700);
    const result = await asUser(['run', '--in-place', '--workspace', directory, '--', 'ls']);
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /could not start: .*EACCES|[Pp]ermission denied/);
  });

  it("cannot reach root's agent sockets or control-plane socket to pose as an agent", { skip }, async () => {
    const plane = await ControlPlane.create();
    try {
      await plane.start();
      const client = await plane.client();
      await client.callTool({ name: 'exec_command', arguments: { cmd: 'true' } });
      await client.close();
      const [sandbox] = await readdir(path.join(plane.stateDir, 'sockets'));
      // Even a state directory someone made world-readable is made private at start.
      await chmod(plane.stateDir, 0o755);
      await plane.stop();
      await plane.start();
      const targets = [
        path.join(plane.stateDir, 'sockets', sandbox as string, 'control.sock'),
        path.join(plane.stateDir, 'control-plane.sock'),
      ];
      for (const target of targets) {
        const probe = await nodeAsUser([
          '-e',
          `require('net').connect(${JSON.stringify(target)}).on('connect', () => { console.log('connected'); process.exit(0); }).on('error', (e) => { console.log(e.code); process.exit(0); })`,
        ]);
        assert.equal(probe.stdout.trim(), 'EACCES', `${target}: ${probe.stdout}${probe.stderr}`);
      }
    } finally {
      await plane.destroy();
    }
  });

  it('keeps its state directory private (0700) in its own home', { skip }, async () => {
    const user = account as { uid: number; home: string };
    const stateDir = path.join(user.home, '.local/state/sandboxd');
    const info = await stat(stateDir);
    assert.equal(info.uid, user.uid);
    assert.equal(info.mode & 0o777, 0o700);
    assert.equal((await stat(path.join(stateDir, 'sockets'))).mode & 0o777, 0o700);
  });
});
