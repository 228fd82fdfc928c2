/**
 * A budget that refills at a steady rate up to a capacity. Taking more than is
 * left puts it in debt (down to minus its capacity), which is then paid back
 * before anything can be taken again: a penalty that grows with the abuse.
 */
export class TokenBucket {
  readonly #capacity: number;
  readonly #perSecond: number;
  readonly #now: () => number;
  #tokens: number;
  #updatedAt: number;

  constructor(options: { capacity: number; perSecond: number; now?: () => number }) {
    this.#capacity = options.capacity;
    this.#perSecond = options.perSecond;
    this.#now = options.now ?? Date.now;
    this.#tokens = options.capacity;
    this.#updatedAt = this.#now();
  }

  get tokens(): number {
    const now = this.#now();
    this.#tokens = Math.min(
      this.#capacity,
      this.#tokens + ((now - this.#updatedAt) / 1000) * this.#perSecond,
    );
    this.#updatedAt = now;
    return this.#tokens;
  }

  /** Takes `count` tokens, into debt if need be; returns what is left. */
  take(count: number): number {
    this.#tokens = Math.max(-this.#capacity, this.tokens - count);
    return this.#tokens;
  }

  /** Milliseconds until `count` tokens are there again. */
  msUntil(count: number): number {
    return Math.max(0, Math.ceil(((count - this.tokens) / this.#perSecond) * 1000));
  }
}
