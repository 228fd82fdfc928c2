import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatAge } from '../policy/units.ts';
import { formatTable } from './ls.ts';

describe('sandboxd ls output', () => {
  it('aligns columns to the widest cell and leaves the last one unpadded', () => {
    assert.equal(
      formatTable([
        ['SANDBOX', 'PRUNE', 'WHY'],
        ['sb-1', 'yes', 'gone'],
      ]),
      'SANDBOX  PRUNE  WHY\nsb-1     yes    gone',
    );
  });

  it('gives ages in seconds up to two minutes, then minutes, hours past two hours, days past two days', () => {
    assert.deepEqual([5_000, 119_000, 600_000, 3 * 3_600_000, 72 * 3_600_000].map(formatAge), [
      '5s',
      '119s',
      '10m',
      '3h',
      '3d',
    ]);
  });
});
