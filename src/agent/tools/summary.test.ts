import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_SUMMARY_BYTES } from '#protocol/reply-budget';
import { cutMarker, listLines, summarize, summarizeLines } from './summary.ts';

const marker = /^… \[.+ not shown; the structured result has all of it\]$/;

describe('summaries', () => {
  it('leave a text that fits as it is', () => {
    assert.equal(summarize('head', 'body'), 'head\n\nbody');
    assert.equal(summarize('head', 'body', '\n'), 'head\nbody');
    assert.equal(summarize('head'), 'head');
  });

  it('cut a long body at a line end within the limit and end with the marker', () => {
    const body = Array.from({ length: 20_000 }, (_, index) => `line ${index}`).join('\n');
    const summary = summarize('head', body);
    assert.ok(Buffer.byteLength(summary) <= MAX_SUMMARY_BYTES);
    const lines = summary.split('\n');
    assert.match(lines.at(-1) as string, marker);
    assert.match(lines.at(-2) as string, /^line \d+$/);
  });

  it('keep as many lines as fit and count the rest in the marker', () => {
    const lines = Array.from({ length: 10_000 }, () => 'x'.repeat(100));
    const summary = summarizeLines('head', lines);
    assert.ok(Buffer.byteLength(summary) <= MAX_SUMMARY_BYTES);
    const last = summary.split('\n').at(-1) as string;
    assert.match(last, marker);
    const shown = summary.split('\n').length - 2;
    assert.equal(last, cutMarker(`${lines.length - shown} more lines`));
  });

  it('list at most maxLines and say how many more with the same marker', () => {
    assert.equal(listLines(['a', 'b', 'c'], 5, 2), `a\nb\n${cutMarker('3 more')}`);
    assert.equal(listLines(['a', 'b'], 2, 2), 'a\nb');
  });
});
