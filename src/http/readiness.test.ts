import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RuntimeDriver } from '../runtime/driver.ts';
import { cachedReadiness, READINESS_CACHE_MS } from './readiness.ts';

function countingDriver(hasImage: boolean) {
  const calls = { facts: 0, hasImage: 0 };
  const driver = {
    facts: async () => {
      calls.facts++;
      return {};
    },
    hasImage: async () => {
      calls.hasImage++;
      return hasImage;
    },
  } as unknown as RuntimeDriver;
  return { driver, calls };
}

describe('/readyz', () => {
  it('asks the engine once for a burst of unauthenticated probes, and again after the cache time', async () => {
    const { driver, calls } = countingDriver(true);
    let clock = 0;
    const readiness = cachedReadiness(driver, 'img', () => clock);
    const answers = await Promise.all(Array.from({ length: 100 }, () => readiness()));
    assert.ok(answers.every((answer) => answer.status === 'ready'));
    assert.deepEqual(calls, { facts: 1, hasImage: 1 });
    clock += READINESS_CACHE_MS;
    await readiness();
    assert.deepEqual(calls, { facts: 2, hasImage: 2 });
  });

  it('says why it is not ready', async () => {
    const { driver } = countingDriver(false);
    assert.deepEqual(await cachedReadiness(driver, 'img')(), {
      status: 'not ready',
      reason: 'worker image img is missing',
    });
    const broken = { facts: async () => Promise.reject(new Error('down')) } as unknown as RuntimeDriver;
    assert.deepEqual(await cachedReadiness(broken, 'img')(), {
      status: 'not ready',
      reason: 'the container engine does not answer',
    });
  });
});
