import type { Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import type { LargeReads } from './large-reads.ts';

/**
 * Carries one direction's bytes from `source` into `destination` with
 * backpressure, ending `destination` at the source's end; `fail` closes the
 * tunnel. The default is pipe().
 */
export type Carry = (source: Readable, destination: Writable, fail: (reason: Error) => void) => void;

const pipe: Carry = (source, destination) => {
  source.pipe(destination);
};

/**
 * How both ends carry a tunnel's bytes: `a` to `b` with `forward` (pipe() if not
 * given) and `b` to `a` with `backward`, half-closes passed through (make both
 * sockets with allowHalfOpen), and any error on either socket closing both.
 * Resolves, with the first error's message if any, once both sockets are
 * closed. `bReads`: `b` was made with LargeReads, which then carries its bytes
 * (and `backward` is not used), asking `bAdmit` about each chunk (LargeReads.pipeTo).
 */
export function splice(
  a: Socket,
  b: Socket,
  carry: {
    forward?: Carry;
    backward?: Carry;
    bReads?: LargeReads;
    bAdmit?: (bytes: number) => number | undefined;
  } = {},
): Promise<{ error?: string }> {
  let error: string | undefined;
  const fail = (reason: Error) => {
    error ??= reason.message;
    a.destroy();
    b.destroy();
  };
  a.on('error', fail);
  b.on('error', fail);
  (carry.forward ?? pipe)(a, b, fail);
  if (carry.bReads !== undefined) carry.bReads.pipeTo(a, carry.bAdmit);
  else (carry.backward ?? pipe)(b, a, fail);
  // Once one side is gone nothing more can reach it: the other closes as soon as what it
  // still has to write is written (at once when the first side vanished without ending).
  const follow = (gone: Socket, other: Socket) =>
    gone.once('close', () => {
      if (!gone.readableEnded || other.writableFinished) other.destroy();
      else other.once('finish', () => other.destroy());
    });
  follow(a, b);
  follow(b, a);
  const closed = (socket: Socket) =>
    new Promise<void>((resolve) => (socket.closed ? resolve() : socket.once('close', () => resolve())));
  return Promise.all([closed(a), closed(b)]).then(() => (error === undefined ? {} : { error }));
}
