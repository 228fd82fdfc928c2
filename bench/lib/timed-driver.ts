import type { RuntimeDriver } from '../../src/runtime/driver.ts';

export interface DriverCall {
  method: string;
  startMs: number;
  endMs: number;
}

/**
 * Records every call the sandbox manager makes to its runtime driver, with
 * start and end times on the `performance.now()` clock, so a benchmark can
 * split one `create()` into its engine calls without touching src/.
 */
export class DriverCallLog {
  readonly calls: DriverCall[] = [];

  clear(): void {
    this.calls.length = 0;
  }

  /** The most recent call of `method`, if there was one. */
  last(method: keyof RuntimeDriver): DriverCall | undefined {
    return this.calls.findLast((call) => call.method === method);
  }

  count(method: keyof RuntimeDriver): number {
    return this.calls.filter((call) => call.method === method).length;
  }

  /** `inner`, with every method call recorded here once it settles (resolved or rejected). */
  wrap(inner: RuntimeDriver): RuntimeDriver {
    const calls = this.calls;
    return new Proxy(inner, {
      get(target, property) {
        const value: unknown = Reflect.get(target, property, target);
        if (typeof value !== 'function') return value;
        return async (...args: unknown[]) => {
          const startMs = performance.now();
          try {
            return await value.apply(target, args);
          } finally {
            calls.push({ method: String(property), startMs, endMs: performance.now() });
          }
        };
      },
    });
  }
}
