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
  // read() would start the reads again, hence no _read while it is emptied.
  const reader = stream as unknown as { _read: unknown };
  reader._read = () => {};
  const chunks: Buffer[] = [];
  for (let chunk = stream.read() as Buffer | null; chunk !== null; chunk = stream.read() as Buffer | null)
    chunks.push(chunk);
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
  let child: ChildProcess;
  try {
    child = spawn(handover.binary, handover.args, {
      stdio: handover.hasControl ? [a, b, 'ignore', 'pipe'] : [a, b, 'ignore'],
    });
  } catch {
    return end();
  }
  const stop = () => {
    child.kill('SIGKILL');
    end();
  };
  child.once('error', stop);
  child.once('exit', stop);
  a.once('close', stop);
  b.once('close', stop);
  return child;
}
