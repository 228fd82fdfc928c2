import type { EgressLimits } from '../policy/egress.ts';

/**
 * A sandbox's byte budget across all its tunnels: a token bucket for bytes per
 * second (one second of burst) and a running total against totalBytes. The
 * splice asks it how long to hold each chunk; holding the chunk is what pushes
 * back on the sender (TCP windows on one side, the Unix socket on the other).
 */
export class ByteBudget {
  #limits: EgressLimits;
  #tokens: number;
  #refilledAt: number;
  readonly #now: () => number;
  /** Bytes moved so far, both directions. */
  usedBytes = 0;

  constructor(limits: EgressLimits, now: () => number = () => performance.now()) {
    this.#limits = limits;
    this.#now = now;
    this.#tokens = limits.bytesPerSecond ?? 0;
    this.#refilledAt = now();
  }

  get limits(): EgressLimits {
    return this.#limits;
  }

  set limits(limits: EgressLimits) {
    this.#limits = limits;
    this.#tokens = Math.min(this.#tokens, limits.bytesPerSecond ?? 0);
  }

  get isExhausted(): boolean {
    return this.#limits.totalBytes !== undefined && this.usedBytes >= this.#limits.totalBytes;
  }

  /**
   * Charges `bytes` and returns how many milliseconds to hold them (0: pass them
   * on now), or undefined when they exceed the total: the tunnel must close.
   */
  charge(bytes: number): number | undefined {
    const total = this.#limits.totalBytes;
    if (total !== undefined && this.usedBytes + bytes > total) {
      this.usedBytes = total;
      return undefined;
    }
    this.usedBytes += bytes;
    const rate = this.#limits.bytesPerSecond;
    if (rate === undefined) return 0;
    const now = this.#now();
    this.#tokens = Math.min(rate, this.#tokens + ((now - this.#refilledAt) * rate) / 1000);
    this.#refilledAt = now;
    this.#tokens -= bytes;
    return this.#tokens >= 0 ? 0 : (-this.#tokens * 1000) / rate;
  }

  /**
   * Charges up to `bytes` ahead of their use (a relay's grant): as many as the
   * total leaves, none (undefined) once it is used up, and how long to hold them.
   */
  reserve(bytes: number): { bytes: number; holdMs: number } | undefined {
    const total = this.#limits.totalBytes;
    const granted = total === undefined ? bytes : Math.min(bytes, total - this.usedBytes);
    if (granted <= 0) return undefined;
    return { bytes: granted, holdMs: this.charge(granted) ?? 0 };
  }

  /** Gives back reserved bytes that were never used (a relay ended with part of its grant). */
  refund(bytes: number): void {
    this.usedBytes = Math.max(0, this.usedBytes - bytes);
  }
}
