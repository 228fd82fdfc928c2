import type { Socket } from 'node:net';
import type { Transform } from 'node:stream';
import type { LargeReads } from './large-reads.ts';

/**
 * How both ends carry a tunnel's bytes: `a` to `b` through `forward` (if given)
 * and `b` to `a` through `backward`, with pipe()'s backpressure, half-closes
 * passed through (make both sockets with allowHalfOpen), and any error on any
 * stream closing everything. Resolves, with the first error's message if any,
 * once both sockets are closed. `bReads`: `b` was made with LargeReads, which then
 * carries its bytes.
 */
export function splice(
  a: Socket,
  b: Socket,
  transforms: { forward?: Transform; backward?: Transform; bReads?: LargeReads } = {},
): Promise<{ error?: string }> {
  const streams = [a, b, transforms.forward, transforms.backward].filter((stream) => stream !== undefined);
  let error: string | undefined;
  const fail = (reason: Error) => {
    error ??= reason.message;
    for (const stream of streams) stream.destroy();
  };
  for (const stream of streams) stream.on('error', fail);
  if (transforms.forward === undefined) a.pipe(b);
  else a.pipe(transforms.forward).pipe(b);
  const { backward, bReads } = transforms;
  if (backward !== undefined) backward.pipe(a);
  if (bReads !== undefined) bReads.pipeTo(backward ?? a);
  else b.pipe(backward ?? a);
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
