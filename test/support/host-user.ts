import { execFileSync, spawn } from 'node:child_process';
import { chmod, copyFile, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { CLI } from './control-plane.ts';

/**
 * A regular host user in the docker group, for tests that run sandboxd — or an
 * attack — as someone other than root. Made once (idempotent) and kept; needs
 * root to create.
 */
export const HOST_USER = 'sandboxd-tester';

export interface ProcessResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Why the tests cannot run here, or false. */
export function hostUserSkipReason(): string | false {
  if (process.getuid?.() !== 0) return 'needs root to create a regular user in the docker group';
  if (execFileSync('getent', ['group', 'docker'], { encoding: 'utf8' }).trim() === '')
    return 'no docker group on this machine (the engine is not reached through a group-owned socket)';
  return false;
}

export class HostUser {
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
  readonly #nodeBinary: string;
  readonly #binDir: string;

  private constructor(account: { uid: number; gid: number; home: string }, binDir: string) {
    this.uid = account.uid;
    this.gid = account.gid;
    this.home = account.home;
    this.#binDir = binDir;
    this.#nodeBinary = path.join(binDir, 'node');
  }

  static async create(): Promise<HostUser> {
    try {
      execFileSync('id', [HOST_USER], { stdio: 'ignore' });
    } catch {
      execFileSync('useradd', ['--create-home', '--shell', '/bin/sh', '--groups', 'docker', HOST_USER]);
    }
    execFileSync('usermod', ['-aG', 'docker', HOST_USER]);
    const [uid, gid, home] = execFileSync(
      'sh',
      ['-c', `id -u ${HOST_USER}; id -g ${HOST_USER}; getent passwd ${HOST_USER} | cut -d: -f6`],
      { encoding: 'utf8' },
    )
      .trim()
      .split('\n');
    // Node 24 may live in root's private cache: give the user a copy it can execute.
    const bin = await mkdtemp(path.join(os.tmpdir(), 'sandboxd-hostuser-node-'));
    await copyFile(process.execPath, path.join(bin, 'node'));
    await chmod(bin, 0o755);
    await chmod(path.join(bin, 'node'), 0o755);
    const user = new HostUser({ uid: Number(uid), gid: Number(gid), home: home as string }, bin);
    execFileSync('setpriv', [...user.#setpriv(), 'test', '-r', CLI]);
    return user;
  }

  #setpriv(): string[] {
    return ['--reuid', HOST_USER, '--regid', HOST_USER, '--init-groups', '--'];
  }

  /** Runs Node as the user, with its supplementary groups (docker), in its own environment. */
  node(args: string[]): Promise<ProcessResult> {
    const child = spawn('setpriv', [...this.#setpriv(), this.#nodeBinary, ...args], {
      env: { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: this.home, SANDBOXD_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
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

  /** A transport for an MCP client that runs `sandboxd ARGS` (stdio) as the user. */
  stdioTransport(args: string[]): StdioClientTransport {
    return new StdioClientTransport({
      command: 'setpriv',
      args: [...this.#setpriv(), this.#nodeBinary, CLI, ...args],
      env: { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: this.home, SANDBOXD_LOG_LEVEL: 'warn' },
      stderr: 'pipe',
    });
  }

  /** Runs the built CLI as the user. */
  sandboxd(args: string[]): Promise<ProcessResult> {
    return this.node([CLI, ...args]);
  }

  /** What connecting to a Unix socket gives the user: 'connected', or the error code. */
  async connect(socketPath: string): Promise<string> {
    const script = `require('net').connect(${JSON.stringify(socketPath)}).on('connect', () => { console.log('connected'); process.exit(0); }).on('error', (e) => { console.log(e.code); process.exit(0); })`;
    return (await this.node(['-e', script])).stdout.trim();
  }

  async dispose(): Promise<void> {
    await rm(this.#binDir, { recursive: true, force: true });
  }
}
