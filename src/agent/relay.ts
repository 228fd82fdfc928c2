import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import type { LargeReads } from '#protocol/large-reads';
import { splice } from '#protocol/splice';

/** image/relay/relay.c, built into the worker image: splice(2) between its fd 0 and fd 1. */
export const RELAY_PATH = '/opt/sandboxd/relay';

/**
 * A tunnel is handed to the relay once `b`'s side sent this many bytes: Node's
 * spawn forks the agent (milliseconds), which a small request must not pay; a
 * download pays it once and then moves its bytes in the kernel.
 */
export const HANDOVER_BYTES = 1024 * 1024;

let relayPath: string | null | undefined;

/** The relay binary when this agent runs in the image (SANDBOXD_RELAY names another, for tests). */
function findRelay(): string | null {
  if (relayPath === undefined) {
    const candidate = process.env.SANDBOXD_RELAY ?? RELAY_PATH;
    try {
      accessSync(candidate, constants.X_OK);
      relayPath = candidate;
    } catch {
      relayPath = null;
    }
  }
  return relayPath;
}

interface ReadingHandle {
  reading: boolean;
  readStop(): number;
}

/** Stops a socket's reads now (pause() alone lets libuv read on into the stream's buffer). */
function stopReading(socket: Socket): void {
  const handle = (socket as unknown as { _handle: ReadingHandle | null })._handle;
  if (handle?.reading) {
    handle.reading = false;
    handle.readStop();
  }
  socket.pause();
}

/** Resolves once everything written to `socket` so far went to the kernel. */
function flushed(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    if (socket.writableLength === 0) resolve();
    else socket.write(Buffer.alloc(0), () => resolve());
  });
}

/** A socket the relay can carry: open both ways, and plain (a TLS socket's bytes on the wire are not its bytes). */
const isOpen = (socket: Socket) =>
  !socket.destroyed &&
  !socket.readableEnded &&
  !socket.writableEnded &&
  socket.readable &&
  !(socket instanceof TLSSocket);

/**
 * As splice() from #protocol/splice (`b` read with `bReads`), and once `b` sent
 * HANDOVER_BYTES (and neither socket is TLS, as the agent port's tunnels may be), the rest of the tunnel goes to the relay process: both
 * sockets stop reading, what Node holds is written out, then the relay gets
 * them as its fd 0 and 1. When it exits (or either socket is destroyed, as
 * closeAll does) both sockets and the relay go. Resolves when both are closed.
 */
export function relaySplice(a: Socket, b: Socket, bReads: LargeReads): Promise<{ error?: string }> {
  const done = splice(a, b, { bReads });
  const binary = findRelay();
  if (binary === null) return done;
  bReads.onPiped = () => {
    if (bReads.piped < HANDOVER_BYTES) return;
    bReads.onPiped = undefined;
    if (isOpen(a) && isOpen(b)) void handOver(a, b, bReads, binary);
  };
  return done;
}

async function handOver(a: Socket, b: Socket, bReads: LargeReads, binary: string): Promise<void> {
  a.unpipe(b);
  stopReading(a);
  for (const chunk of bReads.detach()) a.write(chunk);
  stopReading(b);
  // What `a` had read into its stream buffer belongs before anything the relay reads; read()
  // would start the socket's reads again, hence no _read while it is emptied.
  const reader = a as unknown as { _read: unknown };
  reader._read = () => {};
  for (let chunk = a.read() as Buffer | null; chunk !== null; chunk = a.read() as Buffer | null)
    b.write(chunk);
  delete reader._read;
  await Promise.all([flushed(a), flushed(b)]);
  if (a.destroyed || b.destroyed) {
    a.destroy();
    b.destroy();
    return;
  }
  let child: ChildProcess;
  try {
    child = spawn(binary, [], { stdio: [a, b, 'ignore'] });
  } catch {
    a.destroy();
    b.destroy();
    return;
  }
  const end = () => {
    child.kill('SIGKILL');
    a.destroy();
    b.destroy();
  };
  child.once('error', end);
  child.once('exit', end);
  a.once('close', end);
  b.once('close', end);
}
