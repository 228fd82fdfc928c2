/** What a read of a stream returns, by absolute byte offsets since the command started. */
export interface OutputSlice {
  data: Buffer;
  /** Offset of the first byte of `data` (can be past the requested offset if that part was evicted). */
  offset: number;
  /** Offset right after `data`: pass it as the next read's offset. */
  nextOffset: number;
  /** Bytes between the requested offset and `offset` that are no longer kept. */
  evictedGapBytes: number;
}

/**
 * One output stream of a command, kept within a fixed budget: the first eighth
 * is frozen once written (the start of a build log says what ran), the rest is a
 * rolling tail (the end says how it failed). Bytes in between are counted, not
 * kept, and reads report the gap instead of silently skipping it.
 */
export class OutputBuffer {
  readonly budgetBytes: number;
  readonly #headLimit: number;
  readonly #tailLimit: number;
  #head: Buffer[] = [];
  #headBytes = 0;
  #tail: Buffer[] = [];
  #tailBytes = 0;
  #totalBytes = 0;

  constructor(budgetBytes: number) {
    this.budgetBytes = budgetBytes;
    this.#headLimit = Math.floor(budgetBytes / 8);
    this.#tailLimit = budgetBytes - this.#headLimit;
  }

  /** Every byte the stream has produced, kept or not. */
  get totalBytes(): number {
    return this.#totalBytes;
  }

  /** Bytes currently held in memory. */
  get retainedBytes(): number {
    return this.#headBytes + this.#tailBytes;
  }

  /** Offset where the rolling tail starts; everything in [headBytes, tailStart) is evicted. */
  get #tailStart(): number {
    return this.#totalBytes - this.#tailBytes;
  }

  get evictedBytes(): number {
    return this.#tailStart - this.#headBytes;
  }

  append(chunk: Buffer): void {
    let rest = chunk;
    if (this.#headBytes < this.#headLimit && this.#tailBytes === 0) {
      const take = Math.min(this.#headLimit - this.#headBytes, rest.length);
      this.#head.push(rest.subarray(0, take));
      this.#headBytes += take;
      this.#totalBytes += take;
      rest = rest.subarray(take);
    }
    if (rest.length === 0) return;
    if (rest.length >= this.#tailLimit) {
      // Copy so a huge chunk's backing store is not kept alive by a small view.
      this.#tail = [Buffer.from(rest.subarray(rest.length - this.#tailLimit))];
      this.#tailBytes = this.#tailLimit;
    } else {
      this.#tail.push(rest);
      this.#tailBytes += rest.length;
      this.#trimTail();
    }
    this.#totalBytes += rest.length;
  }

  #trimTail(): void {
    let excess = this.#tailBytes - this.#tailLimit;
    while (excess > 0) {
      const first = this.#tail[0] as Buffer;
      if (first.length <= excess) {
        this.#tail.shift();
        this.#tailBytes -= first.length;
        excess -= first.length;
      } else {
        this.#tail[0] = first.subarray(excess);
        this.#tailBytes -= excess;
        excess = 0;
      }
    }
  }

  /** Reads up to `limit` bytes starting at absolute `offset`. */
  read(offset: number, limit: number): OutputSlice {
    const start = Math.min(Math.max(0, offset), this.#totalBytes);
    if (start < this.#headBytes) {
      const end = Math.min(this.#headBytes, start + limit);
      const head = Buffer.concat(this.#head).subarray(start, end);
      if (end < this.#headBytes || this.evictedBytes > 0 || head.length === limit) {
        return { data: head, offset: start, nextOffset: end, evictedGapBytes: 0 };
      }
      // Nothing evicted yet: the tail continues the head without a gap.
      const more = this.read(end, limit - head.length);
      const data = Buffer.concat([head, more.data]);
      return { data, offset: start, nextOffset: more.nextOffset, evictedGapBytes: 0 };
    }
    const tailStart = this.#tailStart;
    const from = Math.max(start, tailStart);
    const evictedGapBytes = from - start;
    const end = Math.min(this.#totalBytes, from + limit);
    const data = Buffer.concat(this.#tail).subarray(from - tailStart, end - tailStart);
    return { data, offset: from, nextOffset: end, evictedGapBytes };
  }
}
