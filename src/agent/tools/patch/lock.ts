/**
 * An in-process async mutex per absolute path. Two patches of the same file in
 * one agent run one after the other, so the second reads what the first wrote.
 * A patch takes all its paths in sorted order, which rules out two patches each
 * holding a path the other waits for.
 */
export class PathLocks {
  readonly #tails = new Map<string, Promise<void>>();

  /** Waits for every path, then returns the function that releases them all. */
  async acquire(paths: readonly string[]): Promise<() => void> {
    const releases: (() => void)[] = [];
    for (const key of [...new Set(paths)].sort()) releases.push(await this.#acquireOne(key));
    let isReleased = false;
    return () => {
      if (isReleased) return;
      isReleased = true;
      for (const release of releases.reverse()) release();
    };
  }

  /** Paths some patch holds or waits for; empty when the agent is idle. */
  get size(): number {
    return this.#tails.size;
  }

  async #acquireOne(key: string): Promise<() => void> {
    const previous = this.#tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const tail = previous.then(() => held);
    this.#tails.set(key, tail);
    await previous;
    return () => {
      release();
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    };
  }
}

/** The locks every apply_patch call of this agent process shares. */
export const agentPathLocks = new PathLocks();
