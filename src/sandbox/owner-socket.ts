import { randomBytes } from 'node:crypto';
import { link, mkdir, stat, unlink } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { z } from 'zod';

/**
 * Every process that owns sandboxes (a `serve`, a `stdio`, a `run`) listens on a
 * Unix socket while it lives, and labels its containers with that socket's path.
 * Connecting tells whether the owner is alive — the kernel answers for a process
 * that died without cleaning up (ECONNREFUSED), so no pid file can go stale — and
 * the owner answers with one line saying who it is. `serve` claims its socket
 * exclusively at a fixed path in the state directory: that is the lock that keeps
 * two control planes off one state directory.
 */

export const OwnerInfo = z.object({
  kind: z.enum(['serve', 'stdio', 'run']),
  pid: z.number().int(),
  startedAt: z.string(),
  /** Where `serve` answers, for the message a second instance prints. */
  url: z.string().optional(),
});
export type OwnerInfo = z.infer<typeof OwnerInfo>;

export type OwnerProbe =
  | { state: 'alive'; info: OwnerInfo | undefined }
  | { state: 'gone' }
  | { state: 'unknown'; reason: string };

const CONTROL_PLANE_SOCKET = 'control-plane.sock';
const PROCESS_SOCKET = /^(stdio|run)-(\d+)-[0-9a-f]+\.sock$/;

/** The socket `serve` holds while it runs: one control plane per state directory. */
export function controlPlaneSocket(stateDir: string): string {
  return path.join(stateDir, CONTROL_PLANE_SOCKET);
}

/** The socket of a `stdio` or `run` process, at a name of its own, for as long as it runs. */
export function claimProcessSocket(stateDir: string, kind: 'stdio' | 'run'): Promise<OwnerSocket> {
  const socketPath = path.join(
    stateDir,
    'owners',
    `${kind}-${process.pid}-${randomBytes(4).toString('hex')}.sock`,
  );
  const startedAt = new Date().toISOString();
  return OwnerSocket.claim(socketPath, () => ({ kind, pid: process.pid, startedAt }), false);
}

/**
 * Who held an owner socket, read from its name alone: all there is to say about
 * an owner that is gone (a live one answers for itself).
 */
export function ownerOfSocket(socketPath: string): { kind: OwnerInfo['kind']; pid?: number } | undefined {
  const name = path.basename(socketPath);
  if (name === CONTROL_PLANE_SOCKET) return { kind: 'serve' };
  const match = PROCESS_SOCKET.exec(name);
  return match === null ? undefined : { kind: match[1] as 'stdio' | 'run', pid: Number(match[2]) };
}

const PROBE_TIMEOUT_MS = 1000;
const INFO_MAX_BYTES = 4096;

/** Whether the process behind an owner socket is alive, and who it says it is. */
export function probeOwner(socketPath: string, timeoutMs = PROBE_TIMEOUT_MS): Promise<OwnerProbe> {
  return new Promise((resolve) => {
    const socket = net.connect(socketPath);
    let received = '';
    let isConnected = false;
    const finish = (probe: OwnerProbe) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(probe);
    };
    const timer = setTimeout(
      () =>
        finish(
          isConnected
            ? { state: 'alive', info: undefined }
            : { state: 'unknown', reason: 'no answer in time' },
        ),
      timeoutMs,
    );
    socket.setEncoding('utf8');
    socket.once('connect', () => {
      isConnected = true;
    });
    socket.on('data', (chunk: string) => {
      received += chunk;
      if (received.length > INFO_MAX_BYTES) finish({ state: 'alive', info: undefined });
    });
    socket.once('end', () => finish({ state: 'alive', info: parseInfo(received) }));
    socket.once('error', (error: NodeJS.ErrnoException) => {
      if (isConnected) finish({ state: 'alive', info: parseInfo(received) });
      // A refused connection is a socket nobody listens on; a missing file, an owner that cleaned up.
      else if (error.code === 'ECONNREFUSED' || error.code === 'ENOENT') finish({ state: 'gone' });
      else finish({ state: 'unknown', reason: error.code ?? error.message });
    });
  });
}

function parseInfo(text: string): OwnerInfo | undefined {
  try {
    return OwnerInfo.parse(JSON.parse(text));
  } catch {
    return undefined;
  }
}

/** Another live process holds the socket. */
export class OwnerSocketBusy extends Error {
  readonly info: OwnerInfo | undefined;
  constructor(socketPath: string, info: OwnerInfo | undefined) {
    super(`${socketPath} is held by a running process${info === undefined ? '' : ` (pid ${info.pid})`}`);
    this.info = info;
  }
}

const CLAIM_ATTEMPTS = 5;
const TAKEOVER_SETTLE_MS = 50;

/** A socket this process listens on while it owns sandboxes. */
export class OwnerSocket {
  readonly path: string;
  readonly #server: net.Server;
  readonly #inode: number;

  private constructor(socketPath: string, server: net.Server, inode: number) {
    this.path = socketPath;
    this.#server = server;
    this.#inode = inode;
  }

  /**
   * Listens on `socketPath`. With `isExclusive`, fails with OwnerSocketBusy while a
   * live process holds it, and takes over a socket whose owner died. The claim is
   * atomic: the socket is bound under a private name and hard-linked into place,
   * and link() fails when the name exists, so two racing claimants cannot both win.
   */
  static async claim(socketPath: string, info: () => OwnerInfo, isExclusive: boolean): Promise<OwnerSocket> {
    await mkdir(path.dirname(socketPath), { recursive: true, mode: 0o700 });
    const server = net.createServer((connection) => {
      connection.on('error', () => undefined);
      connection.end(JSON.stringify(info()));
    });
    const privateName = `${socketPath}.${process.pid}.${randomBytes(4).toString('hex')}`;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(privateName, () => {
        server.off('error', reject);
        resolve();
      });
    });
    try {
      const { ino } = await stat(privateName);
      for (let attempt = 0; attempt < CLAIM_ATTEMPTS; attempt++) {
        try {
          await link(privateName, socketPath);
          const claimed = new OwnerSocket(socketPath, server, ino);
          if (attempt === 0) return claimed;
          // We replaced a dead owner's socket; a claimant racing us may have done the same
          // a moment later (its unlink removing our link). Whoever still holds the path won.
          await new Promise((resolve) => setTimeout(resolve, TAKEOVER_SETTLE_MS));
          if (await claimed.isHeld()) return claimed;
          continue;
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        }
        const probe = await probeOwner(socketPath);
        if (probe.state === 'alive' || (isExclusive && probe.state === 'unknown')) {
          throw new OwnerSocketBusy(socketPath, probe.state === 'alive' ? probe.info : undefined);
        }
        // Left behind by a process that died: take its place.
        await unlink(socketPath).catch(ignoreMissing);
      }
      throw new OwnerSocketBusy(socketPath, undefined);
    } catch (error) {
      await closeServer(server);
      throw error;
    } finally {
      await unlink(privateName).catch(ignoreMissing);
    }
  }

  /** Whether the path still leads to this socket (a racing claimant may have replaced it). */
  async isHeld(): Promise<boolean> {
    try {
      return (await stat(this.path)).ino === this.#inode;
    } catch (error) {
      // Only a socket that is gone is lost; a passing error (EMFILE, EINTR) is not a takeover.
      return (error as NodeJS.ErrnoException).code !== 'ENOENT';
    }
  }

  async close(): Promise<void> {
    if (await this.isHeld()) await unlink(this.path).catch(ignoreMissing);
    await closeServer(this.#server);
  }
}

function closeServer(server: net.Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

function ignoreMissing(error: NodeJS.ErrnoException): void {
  if (error.code !== 'ENOENT') throw error;
}
