import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Logger } from 'pino';
import { WarningLimiter } from './warning-limiter.ts';

describe('WarningLimiter', () => {
  it('logs a few warnings a window and counts the rest into the next one', () => {
    const logged: Record<string, unknown>[] = [];
    const log = { warn: (fields: Record<string, unknown>) => logged.push(fields) } as unknown as Logger;
    let now = 0;
    const limiter = new WarningLimiter(log, { perWindow: 2, windowMs: 1000, now: () => now });
    for (let i = 0; i < 50; i++) limiter.warn({ i }, 'bad message');
    assert.deepEqual(logged, [{ i: 0 }, { i: 1 }]);
    now = 1000;
    limiter.warn({ i: 50 }, 'bad message');
    assert.deepEqual(logged.at(-1), { i: 50, suppressedWarnings: 48 });
  });
});
