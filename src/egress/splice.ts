import type { ChildProcess } from 'node:child_process';
import type net from 'node:net';
import type { Readable, Writable } from 'node:stream';
import type { EgressLimits } from '../policy/egress.ts';
import type { LargeReads } from '../protocol/large-reads.ts';
import { HANDOVER_BYTES, handOver, isRelayable, type RelayStarts } from '../protocol/relay.ts';
import { type Carry, splice } from '../protocol/splice.ts';
import type { ByteBudget } from './budget.ts';

/** A tunnel with no bytes either way for this long is closed. */
export const TUNNEL_IDLE_TIMEOUT_MS = 10 * 60_000;

const exhausted = () => new Error('the sandbox used up its egress byte budget');

/** Bytes of one direction, counted as they pass. */
export interface Counted {
  bytes: number;
  /** Chunks wait for their time (the bytes-per-second limit): detach() would refuse. */
  readonly isHolding: boolean;
  /**
   * Stops carrying (for the relay to take over), unless chunks wait for their
   * time: false then, and nothing changed.
   */
  detach(): boolean;
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
  const onData = (chunk: Buffer) => {
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
  };
  const onEnd = () => {
    isEnded = true;
    if (held.length === 0) destination.end();
  };
  source.on('data', onData);
  source.once('end', onEnd);
  const counted: Counted = {
    bytes: 0,
    get isHolding() {
      return held.length > 0;
    },
    detach: () => {
      if (held.length > 0) return false;
      source.off('data', onData);
      source.off('end', onEnd);
      destination.off('drain', release);
      source.pause();
      return true;
    },
  };
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

/** A metered relay's grants: a share of the budget's rate (an eighth of a second of it), at most 4 MiB. */
export function relayWindow(limits: EgressLimits): number {
  const most = 4 * 2 ** 20;
  const rate = limits.bytesPerSecond;
  return rate === undefined ? most : Math.min(most, Math.max(16 * 1024, Math.floor(rate / 8)));
}

/** The metered relay's exit statuses (image/relay/relay.c). */
const RELAY_EXIT_IDLE = 3;

/** The metered relay's arguments; `count`: one way only, exactly that many bytes (a response body). */
export function meteredRelayArgs(count?: number): string[] {
  const args = ['--metered', String(TUNNEL_IDLE_TIMEOUT_MS)];
  return count === undefined ? args : [...args, '--count', String(count)];
}

/**
 * Carries a tunnel's bytes between the sandbox (`inside`) and the destination
 * (`outside`) within the sandbox's byte budget, until both are closed. With
 * `relay` (the control plane's relay binary) and `outsideReads`, a tunnel whose
 * destination sent HANDOVER_BYTES goes on in the relay, metered: it moves bytes
 * only as far as the budget granted them (src/protocol/relay.ts, relay.c).
 */
export async function meteredSplice(
  inside: net.Socket,
  outside: net.Socket,
  budget: ByteBudget,
  outsideReads?: LargeReads,
  relay?: { binary: string; starts: RelayStarts },
): Promise<MeteredResult> {
  let sent: Counted = { bytes: 0, isHolding: false, detach: () => true };
  let received = { bytes: 0 };
  outside.setTimeout(TUNNEL_IDLE_TIMEOUT_MS, () => outside.destroy(new Error('idle')));
  const forward: Carry = (source, destination, fail) => {
    sent = meter(source, destination, budget, fail);
  };
  const done = splice(
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
  let relayed: Promise<RelayOutcome> | undefined;
  if (relay !== undefined && outsideReads !== undefined) {
    outsideReads.onPiped = () => {
      if (outsideReads.piped < HANDOVER_BYTES || !isRelayable(inside) || !isRelayable(outside)) return;
      // Chunks the rate holds go first, in order: the next chunk tries again.
      if (sent.isHolding) return;
      outsideReads.onPiped = undefined;
      // Past the door's rate of relay starts the tunnel stays in Node.
      if (!relay.starts.take()) return;
      sent.detach();
      relayed = handOver(inside, outside, outsideReads, {
        binary: relay.binary,
        args: meteredRelayArgs(),
        hasControl: true,
        admit: (bytes, fromA) => {
          if (budget.charge(bytes) === undefined) return false;
          if (fromA) sent.bytes += bytes;
          else received.bytes += bytes;
          return true;
        },
      })
        .then((child) => {
          if (child === undefined) return { sent: 0, received: 0 };
          // The relay ends an idle tunnel itself; Node sees no reads now and must not.
          outside.setTimeout(0);
          return meterRelay(child, budget);
        })
        .catch((error: unknown) => {
          inside.destroy();
          outside.destroy();
          return { sent: 0, received: 0, error: (error as Error).message };
        });
    };
  }
  const { error } = await done;
  const more = relayed === undefined ? { sent: 0, received: 0 } : await relayed;
  const reason = error ?? more.error;
  return {
    bytesSent: sent.bytes + more.sent,
    bytesReceived: received.bytes + more.received,
    ...(reason === undefined ? {} : { error: reason }),
  };
}

export interface RelayOutcome {
  sent: number;
  received: number;
  error?: string;
}

/**
 * Feeds a metered relay its grants from `budget` (reserved ahead, a window at a
 * time, held as the rate says) and reads its reports; resolves with its totals
 * once it closed, the unused part of its grants given back. The budget used up
 * with the relay's grant spent: the relay is killed and the tunnel ends.
 */
export function meterRelay(child: ChildProcess, budget: ByteBudget): Promise<RelayOutcome> {
  const control = child.stdio[3] as net.Socket;
  let granted = 0;
  let used = 0;
  let isHolding = false;
  let error: string | undefined;
  const totals = { sent: 0, received: 0 };
  const grant = () => {
    const window = relayWindow(budget.limits);
    const outstanding = granted - used;
    if (isHolding || outstanding > window / 2 || control.destroyed) return;
    const reserved = budget.reserve(window - outstanding);
    if (reserved === undefined) {
      if (outstanding === 0) {
        error = exhausted().message;
        child.kill('SIGKILL');
      }
      return;
    }
    const send = () => {
      isHolding = false;
      if (control.destroyed) return budget.refund(reserved.bytes);
      granted += reserved.bytes;
      const message = Buffer.alloc(8);
      message.writeBigUInt64LE(BigInt(reserved.bytes));
      control.write(message);
      grant();
    };
    if (reserved.holdMs === 0) return send();
    isHolding = true;
    setTimeout(send, reserved.holdMs);
  };
  let pending: Buffer = Buffer.alloc(0);
  control.on('data', (chunk: Buffer) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    let offset = 0;
    for (; pending.length - offset >= 16; offset += 16) {
      totals.sent = Number(pending.readBigUInt64LE(offset));
      totals.received = Number(pending.readBigUInt64LE(offset + 8));
    }
    pending = pending.subarray(offset);
    used = totals.sent + totals.received;
    grant();
  });
  control.on('error', () => child.kill('SIGKILL'));
  grant();
  return new Promise((resolve) => {
    child.once('close', (code) => {
      // Killed, its last report may be old: what it used since is not known, and stays charged.
      if (code !== null) budget.refund(Math.max(0, granted - used));
      if (code === RELAY_EXIT_IDLE) error ??= 'idle';
      else if (code !== 0) error ??= `the relay ended with ${code ?? 'a signal'}`;
      resolve({ ...totals, ...(error === undefined ? {} : { error }) });
    });
  });
}
