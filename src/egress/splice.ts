import type net from 'node:net';
import type { Readable, Writable } from 'node:stream';
import type { LargeReads } from '../protocol/large-reads.ts';
import { type Carry, splice } from '../protocol/splice.ts';
import type { ByteBudget } from './budget.ts';

/** A tunnel with no bytes either way for this long is closed. */
export const TUNNEL_IDLE_TIMEOUT_MS = 10 * 60_000;

const exhausted = () => new Error('the sandbox used up its egress byte budget');

/** Bytes of one direction, counted as they pass. */
export interface Counted {
  bytes: number;
}

/**
 * Carries `source`'s bytes into `destination`, counting them and charging them
 * to the sandbox's budget: a chunk the bytes-per-second limit holds is written
 * when its time comes, and the source is paused meanwhile (as while the
 * destination is full): that is the backpressure. No stream sits between the
 * two, so a chunk costs one charge and one write. `fail` is told when the
 * budget is used up; `destination` is ended at the source's end.
 */
export function meter(
  source: Readable,
  destination: Writable,
  budget: ByteBudget,
  fail: (reason: Error) => void,
): Counted {
  const counted = { bytes: 0 };
  let holds = 0;
  const hold = () => {
    if (holds++ === 0) source.pause();
  };
  const release = () => {
    if (--holds === 0 && !source.destroyed) source.resume();
  };
  const write = (chunk: Buffer) => {
    if (destination.destroyed) return;
    if (!destination.write(chunk)) {
      hold();
      destination.once('drain', release);
    }
  };
  // Chunks waiting for their time, oldest first; the source's end waits for them too.
  const held: Buffer[] = [];
  let isEnded = false;
  source.on('data', (chunk: Buffer) => {
    const holdMs = budget.charge(chunk.length);
    if (holdMs === undefined) {
      fail(exhausted());
      return;
    }
    counted.bytes += chunk.length;
    if (holdMs === 0 && held.length === 0) return write(chunk);
    held.push(chunk);
    hold();
    setTimeout(() => {
      write(held.shift() as Buffer);
      release();
      if (isEnded && held.length === 0) destination.end();
    }, holdMs);
  });
  source.once('end', () => {
    isEnded = true;
    if (held.length === 0) destination.end();
  });
  // A source paused before (a tunnel whose first line was read) flows from here on.
  source.resume();
  return counted;
}

export interface MeteredResult {
  /** Sandbox → destination. */
  bytesSent: number;
  /** Destination → sandbox. */
  bytesReceived: number;
  /** Why it ended early, if it did (an error, the byte budget, idleness). */
  error?: string;
}

/**
 * Carries a tunnel's bytes between the sandbox (`inside`) and the destination
 * (`outside`) within the sandbox's byte budget, until both are closed.
 */
export async function meteredSplice(
  inside: net.Socket,
  outside: net.Socket,
  budget: ByteBudget,
  outsideReads?: LargeReads,
): Promise<MeteredResult> {
  let sent: Counted = { bytes: 0 };
  let received: Counted = { bytes: 0 };
  outside.setTimeout(TUNNEL_IDLE_TIMEOUT_MS, () => outside.destroy(new Error('idle')));
  const forward: Carry = (source, destination, fail) => {
    sent = meter(source, destination, budget, fail);
  };
  const { error } = await splice(
    inside,
    outside,
    outsideReads === undefined
      ? {
          forward,
          backward: (source, destination, fail) => {
            received = meter(source, destination, budget, fail);
          },
        }
      : {
          forward,
          bReads: outsideReads,
          bAdmit: (bytes) => {
            const holdMs = budget.charge(bytes);
            if (holdMs === undefined) {
              // Not from within the read callback that asked.
              process.nextTick(() => outside.destroy(exhausted()));
              return undefined;
            }
            received.bytes += bytes;
            return holdMs;
          },
        },
  );
  return {
    bytesSent: sent.bytes,
    bytesReceived: received.bytes,
    ...(error === undefined ? {} : { error }),
  };
}
