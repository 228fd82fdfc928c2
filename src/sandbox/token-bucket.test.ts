import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TokenBucket } from './token-bucket.ts';

describe('TokenBucket', () => {
  it('refills at its rate up to its capacity', () => {
    let now = 0;
    const bucket = new TokenBucket({ capacity: 4, perSecond: 2, now: () => now });
    assert.equal(bucket.take(3), 1);
    now = 500;
    assert.equal(bucket.tokens, 2);
    now = 60_000;
    assert.equal(bucket.tokens, 4);
  });

  it('goes into debt, at most its capacity, and says when it is paid back', () => {
    let now = 0;
    const bucket = new TokenBucket({ capacity: 4, perSecond: 2, now: () => now });
    assert.equal(bucket.take(6), -2);
    assert.equal(bucket.msUntil(1), 1500);
    assert.equal(bucket.take(100), -4);
    now = 2500;
    assert.equal(bucket.msUntil(1), 0);
  });
});
