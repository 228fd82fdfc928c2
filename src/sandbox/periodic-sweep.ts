/**
 * A pass run every interval (the reaper's, the snapshots'): concurrent calls
 * share the pass in flight, a failing pass is logged by `onError` and the next
 * one runs as usual, and stop() waits for the pass in flight.
 */
export class PeriodicSweep {
  readonly #pass: () => Promise<void>;
  readonly #onError: (error: unknown) => void;
  #timer: NodeJS.Timeout | undefined;
  #sweeping: Promise<void> | undefined;

  constructor(pass: () => Promise<void>, onError: (error: unknown) => void) {
    this.#pass = pass;
    this.#onError = onError;
  }

  start(intervalMs: number): void {
    this.#timer = setInterval(() => void this.sweep(), intervalMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#sweeping;
  }

  /** One pass; concurrent calls share it. */
  sweep(): Promise<void> {
    this.#sweeping ??= this.#pass()
      .catch(this.#onError)
      .finally(() => {
        this.#sweeping = undefined;
      });
    return this.#sweeping;
  }
}
