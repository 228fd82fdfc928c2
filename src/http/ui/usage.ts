import type { ContainerUsage, RuntimeDriver } from '../../runtime/driver.ts';
import type { SandboxManager } from '../../sandbox/manager.ts';

export interface UsageNow {
  /** Percent of one CPU over the last interval; null until two readings exist. */
  cpuPercent: number | null;
  memoryBytes: number;
}

const SAMPLE_EVERY_MS = 2000;
/** Sampling stops this long after the last page that showed it. */
const IDLE_AFTER_MS = 30_000;
const CONCURRENCY = 8;

/**
 * CPU and memory of every running sandbox, read in the background while someone
 * looks at the dashboard, so a page shows the last reading at once instead of
 * waiting for a hundred engine calls.
 */
export class UsageSampler {
  readonly #manager: SandboxManager;
  readonly #driver: RuntimeDriver;
  readonly #readings = new Map<string, { previous?: ContainerUsage; latest: ContainerUsage }>();
  #timer: NodeJS.Timeout | undefined;
  #lastWantedMs = 0;
  #isSampling = false;

  constructor(manager: SandboxManager, driver: RuntimeDriver) {
    this.#manager = manager;
    this.#driver = driver;
  }

  /** The last reading of a sandbox; asking keeps sampling on for a while. */
  of(sandboxId: string): UsageNow | undefined {
    this.#want();
    const reading = this.#readings.get(sandboxId);
    if (reading === undefined) return undefined;
    const { previous, latest } = reading;
    const cpuPercent =
      previous === undefined || latest.atMs <= previous.atMs
        ? null
        : (100 * (latest.cpuTotalNs - previous.cpuTotalNs)) / ((latest.atMs - previous.atMs) * 1e6);
    return {
      cpuPercent: cpuPercent === null ? null : Math.max(0, cpuPercent),
      memoryBytes: latest.memoryBytes,
    };
  }

  #want(): void {
    this.#lastWantedMs = Date.now();
    if (this.#timer !== undefined || this.#driver.usage === undefined) return;
    void this.#sample();
    this.#timer = setInterval(() => {
      if (Date.now() - this.#lastWantedMs > IDLE_AFTER_MS) this.stop();
      else void this.#sample();
    }, SAMPLE_EVERY_MS);
    this.#timer.unref();
  }

  async #sample(): Promise<void> {
    if (this.#isSampling) return;
    this.#isSampling = true;
    try {
      const running = this.#manager
        .list()
        .filter(
          (sandbox) =>
            sandbox.containerId !== undefined && (sandbox.state === 'ready' || sandbox.state === 'idle'),
        );
      const live = new Set(running.map((sandbox) => sandbox.id));
      for (const id of this.#readings.keys()) if (!live.has(id)) this.#readings.delete(id);
      for (let index = 0; index < running.length; index += CONCURRENCY) {
        await Promise.all(
          running.slice(index, index + CONCURRENCY).map(async (sandbox) => {
            const latest = await this.#driver.usage?.(sandbox.containerId as string).catch(() => undefined);
            if (latest === undefined) return;
            const previous = this.#readings.get(sandbox.id)?.latest;
            this.#readings.set(sandbox.id, previous === undefined ? { latest } : { previous, latest });
          }),
        );
      }
    } finally {
      this.#isSampling = false;
    }
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
