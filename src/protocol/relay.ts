import { type ChildProcess, spawn } from 'node:child_process';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { TLSSocket } from 'node:tls';
import type { LargeReads } from './large-reads.ts';

/** image/relay/relay.c, built into the worker image: splice(2) between its fd 0 and fd 1. */
export const RELAY_PATH = '/opt/sandboxd/relay';

/**
 * A tunnel is handed to the relay (image/relay/relay.c) once its heavy side
 * sent this many bytes: Node's spawn forks the process (milliseconds), which a
 * small request must not pay; a download pays it once and then moves its bytes
 * in the kernel. The agent and the control plane hand over at the same mark.
 */
export const HANDOVER_BYTES = 1024 * 1024;

interface ReadingHandle {
  reading: boolean;
  readStop(): number;
}

/** Stops a socket's reads now (pause() alone lets libuv read on into the stream's buffer). */
export function stopReading(socket: Socket): void {
  const handle = (socket as unknown as { _handle: ReadingHandle | null })._handle;
  if (handle?.reading) {
    handle.reading = false;
    handle.readStop();
  }
  socket.pause();
}

/** Resolves once everything written to `socket` so far went to the kernel. */
export function flushed(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    if (socket.writableLength === 0) resolve();
    else socket.write(Buffer.alloc(0), () => resolve());
  });
}

/**
 * What a stream had read into its buffer and not yet passed on (a socket's, or
 * a response's over a socket); the reads underneath stay stopped.
 */
export function takeBuffered(stream: Readable): Buffer[] {
  // read() would start the reads again, hence no _read while it is emptied; and it emits each
  // chunk as 'data', which must reach no listener (an HTTP client's parser would see it twice).
  const reader = stream as unknown as { _read: unknown };
  reader._read = () => {};
  const listeners = stream.rawListeners('data') as Array<(chunk: Buffer) => void>;
  stream.removeAllListeners('data');
  const chunks: Buffer[] = [];
  for (let chunk = stream.read() as Buffer | null; chunk !== null; chunk = stream.read() as Buffer | null)
    chunks.push(chunk);
  for (const listener of listeners) stream.on('data', listener);
  delete reader._read;
  return chunks;
}

/** A socket the relay can carry: open both ways, and plain (a TLS socket's bytes on the wire are not its bytes). */
export const isRelayable = (socket: Socket) =>
  !socket.destroyed &&
  !socket.readableEnded &&
  !socket.writableEnded &&
  socket.readable &&
  !(socket instanceof TLSSocket);

export interface Handover {
  /** The relay binary. */
  binary: string;
  args: string[];
  /** fd 3 of the relay is a socket to it (the metered relay's grants and reports). */
  hasControl: boolean;
  /** Stops whatever carries `a`'s bytes into `b` (a pipe); called first. Without it: stopped already. */
  detachForward?(): void;
  /**
   * Bytes a socket had read and not yet passed on, about to be written to the
   * other before the relay starts: `fromA` true for `a` → `b`. False refuses
   * them: the tunnel ends.
   */
  admit?(bytes: number, fromA: boolean): boolean;
}

/**
 * Hands the rest of a tunnel to the relay: both sockets stop reading, what Node
 * holds is written out, then the relay gets them as its fd 0 (`a`) and fd 1
 * (`b`, read with `bReads`). When it exits both sockets go; when either socket is
 * destroyed (as a door's closeAll does) the relay is killed. Resolves with the
 * relay, or undefined when the tunnel ended instead (both sockets destroyed).
 */
export async function handOver(
  a: Socket,
  b: Socket,
  bReads: LargeReads,
  handover: Handover,
): Promise<ChildProcess | undefined> {
  handover.detachForward?.();
  stopReading(a);
  const fromB = bReads.detach();
  stopReading(b);
  // What `a` had read belongs before anything the relay reads from it.
  const fromA = takeBuffered(a);
  const size = (chunks: Buffer[]) => chunks.reduce((sum, chunk) => sum + chunk.length, 0);
  const admit = handover.admit ?? (() => true);
  const end = () => {
    a.destroy();
    b.destroy();
    return undefined;
  };
  if (!admit(size(fromB), false) || !admit(size(fromA), true)) return end();
  for (const chunk of fromB) a.write(chunk);
  for (const chunk of fromA) b.write(chunk);
  await Promise.all([flushed(a), flushed(b)]);
  if (a.destroyed || b.destroyed) return end();
  return spawnRelay(handover.binary, handover.args, a, b, handover.hasControl);
}

/**
 * Starts the relay on `a` (its fd 0) and `b` (its fd 1), and fd 3 a socket to
 * it when `hasControl`: when it exits both sockets go, when either socket is
 * destroyed it is killed. Undefined when it could not start (both destroyed).
 */
export function spawnRelay(
  binary: string,
  args: string[],
  a: Socket,
  b: Socket,
  hasControl: boolean,
): ChildProcess | undefined {
  const end = () => {
    a.destroy();
    b.destroy();
  };
  let child: ChildProcess;
  try {
    child = spawn(binary, args, { stdio: hasControl ? [a, b, 'ignore', 'pipe'] : [a, b, 'ignore'] });
  } catch {
    end();
    return undefined;
  }
  const stop = () => {
    child.kill('SIGKILL');
    end();
  };
  // A spawn that failed (ENOENT, EMFILE) says so with 'error', on a later tick.
  child.once('error', stop);
  // Out of file descriptors the process is made without its pipes: of no use.
  if (hasControl && child.stdio?.[3] == null) {
    stop();
    return undefined;
  }
  child.once('exit', stop);
  a.once('close', stop);
  b.once('close', stop);
  return child;
}

/**
 * How often a door may start relays: `perSecond` a second, with a burst of as
 * many. A tunnel past it stays in Node; each start forks the control plane, which
 * a sandbox opening and closing tunnels must not drive at will.
 */
export class RelayStarts {
  readonly perSecond: number;
  #tokens: number;
  #at: number;

  constructor(perSecond = 16) {
    this.perSecond = perSecond;
    this.#tokens = perSecond;
    this.#at = performance.now();
  }

  /** Takes one start if there is one. */
  take(): boolean {
    const now = performance.now();
    this.#tokens = Math.min(this.perSecond, this.#tokens + ((now - this.#at) * this.perSecond) / 1000);
    this.#at = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}
