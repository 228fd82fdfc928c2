import type { Logger } from 'pino';

/**
 * Warnings about one sandbox, at most `perWindow` in a window; the others are
 * counted, and the count goes out with the next warning logged. A workload can
 * make its sandbox's link warn at will (a refused connection, a bad message),
 * and the logger writes synchronously: unlimited, that stalls the shared
 * control plane and fills its disk.
 */
export class WarningLimiter {
  readonly #log: Logger;
  readonly #perWindow: number;
  readonly #windowMs: number;
  readonly #now: () => number;
  #windowStart = Number.NEGATIVE_INFINITY;
  #logged = 0;
  #suppressed = 0;

  constructor(log: Logger, options: { perWindow?: number; windowMs?: number; now?: () => number } = {}) {
    this.#log = log;
    this.#perWindow = options.perWindow ?? 10;
    this.#windowMs = options.windowMs ?? 60_000;
    this.#now = options.now ?? Date.now;
  }

  warn(fields: Record<string, unknown>, message: string): void {
    const now = this.#now();
    if (now - this.#windowStart >= this.#windowMs) {
      this.#windowStart = now;
      this.#logged = 0;
    }
    if (this.#logged >= this.#perWindow) {
      this.#suppressed++;
      return;
    }
    this.#logged++;
    const suppressed = this.#suppressed;
    this.#suppressed = 0;
    this.#log.warn(suppressed === 0 ? fields : { ...fields, suppressedWarnings: suppressed }, message);
  }
}
