import type net from 'node:net';
import { Transform, type TransformCallback } from 'node:stream';
import type { LargeReads } from '../protocol/large-reads.ts';
import { splice } from '../protocol/splice.ts';
import type { ByteBudget } from './budget.ts';

/** A tunnel with no bytes either way for this long is closed. */
export const TUNNEL_IDLE_TIMEOUT_MS = 10 * 60_000;

/**
 * Counts the bytes of one direction and charges them to the sandbox's budget,
 * holding a chunk for as long as the bytes-per-second limit says. While a chunk
 * is held, pipe() stops reading the source: that is the backpressure.
 */
export class Meter extends Transform {
  bytes = 0;
  readonly #budget: ByteBudget;

  constructor(budget: ByteBudget) {
    super();
    this.#budget = budget;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    const holdMs = this.#budget.charge(chunk.length);
    if (holdMs === undefined) {
      callback(new Error('the sandbox used up its egress byte budget'));
      return;
    }
    this.bytes += chunk.length;
    if (holdMs === 0) callback(null, chunk);
    else setTimeout(() => callback(null, chunk), holdMs);
  }
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
  const forward = new Meter(budget);
  const backward = new Meter(budget);
  outside.setTimeout(TUNNEL_IDLE_TIMEOUT_MS, () => outside.destroy(new Error('idle')));
  const { error } = await splice(inside, outside, {
    forward,
    backward,
    ...(outsideReads === undefined ? {} : { bReads: outsideReads }),
  });
  return {
    bytesSent: forward.bytes,
    bytesReceived: backward.bytes,
    ...(error === undefined ? {} : { error }),
  };
}
