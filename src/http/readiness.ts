import type { RuntimeDriver } from '../runtime/driver.ts';

export type Readiness = { status: 'ready' } | { status: 'not ready'; reason: string };

/**
 * How long one answer of /readyz stands. The route needs no token, and each
 * answer costs two engine calls: without a cache, anyone who can reach the port
 * could keep the engine busy. A probe every few seconds still sees a change
 * within a second.
 */
export const READINESS_CACHE_MS = 1000;

/** An engine that does not answer within this is not ready (and the probe is not held). */
const ENGINE_TIMEOUT_MS = 3000;

function withinTimeout<T>(work: Promise<T>): Promise<T> {
  return Promise.race([
    work,
    new Promise<T>((_, reject) => setTimeout(() => reject(new Error('timeout')), ENGINE_TIMEOUT_MS).unref()),
  ]);
}

async function checkReadiness(driver: RuntimeDriver, workerImage: string): Promise<Readiness> {
  try {
    await withinTimeout(driver.facts());
    if (!(await withinTimeout(driver.hasImage(workerImage)))) {
      return { status: 'not ready', reason: `worker image ${workerImage} is missing` };
    }
    return { status: 'ready' };
  } catch {
    return { status: 'not ready', reason: 'the container engine does not answer' };
  }
}

/** Readiness, asked of the engine at most once a second; concurrent callers share one check. */
export function cachedReadiness(
  driver: RuntimeDriver,
  workerImage: string,
  now: () => number = Date.now,
): () => Promise<Readiness> {
  let last: { answer: Promise<Readiness>; at: number } | undefined;
  return () => {
    if (last === undefined || now() - last.at >= READINESS_CACHE_MS) {
      last = { answer: checkReadiness(driver, workerImage), at: now() };
    }
    return last.answer;
  };
}
