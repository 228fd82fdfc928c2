import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatMs, latencyTable, markdownTable, mean, percentile, summarize } from './stats.ts';

describe('percentile', () => {
  const oneToTwenty = Array.from({ length: 20 }, (_, index) => index + 1);

  it('takes the nearest rank, so the result is an observed value', () => {
    assert.equal(percentile(oneToTwenty, 50), 10);
    assert.equal(percentile(oneToTwenty, 95), 19);
    assert.equal(percentile(oneToTwenty, 100), 20);
    assert.equal(percentile([1, 2, 3], 50), 2);
  });

  it('does not depend on the order of the samples, nor reorder them', () => {
    const shuffled = [7, 1, 20, 3, 15, 2, 11, 19, 4, 18, 5, 17, 6, 16, 8, 14, 9, 13, 10, 12];
    const copy = [...shuffled];
    assert.equal(percentile(shuffled, 50), 10);
    assert.equal(percentile(shuffled, 95), 19);
    assert.deepEqual(shuffled, copy);
  });

  it('sorts numerically, not as strings', () => {
    assert.equal(percentile([100, 9, 20], 50), 20);
  });

  it('gives the only sample for a single sample, and NaN for none', () => {
    assert.equal(percentile([42], 95), 42);
    assert.ok(Number.isNaN(percentile([], 50)));
  });

  it('refuses a percentile outside (0, 100]', () => {
    assert.throws(() => percentile([1], 0), RangeError);
    assert.throws(() => percentile([1], 101), RangeError);
  });
});

describe('summarize', () => {
  it('reports n, p50, p95, mean, min and max', () => {
    assert.deepEqual(summarize([4, 1, 3, 2]), { n: 4, p50: 2, p95: 4, mean: 2.5, min: 1, max: 4 });
  });

  it('reports NaN rather than inventing numbers for no samples', () => {
    const summary = summarize([]);
    assert.equal(summary.n, 0);
    assert.ok(Number.isNaN(summary.p50) && Number.isNaN(summary.mean) && Number.isNaN(summary.min));
    assert.ok(Number.isNaN(mean([])));
  });
});

describe('formatMs', () => {
  it('keeps one decimal below 10 ms and rounds above', () => {
    assert.equal(formatMs(4.27), '4.3');
    assert.equal(formatMs(612.6), '613');
    assert.equal(formatMs(Number.NaN), '–');
  });
});

describe('markdownTable', () => {
  it('renders a header, an aligned rule and one line per row', () => {
    const table = markdownTable(
      ['what', 'ms'],
      [
        ['a', '1'],
        ['b', '2'],
      ],
      ['left', 'right'],
    );
    assert.equal(table, ['| what | ms |', '| --- | ---: |', '| a | 1 |', '| b | 2 |'].join('\n'));
  });

  it('escapes a pipe inside a cell', () => {
    assert.match(markdownTable(['x'], [['a|b']]), /\| a\\\|b \|/);
  });

  it('refuses a row whose width differs from the header', () => {
    assert.throws(() => markdownTable(['a', 'b'], [['only one']]), RangeError);
  });
});

describe('latencyTable', () => {
  it('summarizes each series as what | p50 | p95 | mean | n', () => {
    const table = latencyTable([['cold start', [100, 200, 300, 400]]]);
    const lines = table.split('\n');
    assert.equal(lines[0], '| what | p50 (ms) | p95 (ms) | mean (ms) | n |');
    assert.equal(lines[2], '| cold start | 200 | 400 | 250 | 4 |');
  });
});
