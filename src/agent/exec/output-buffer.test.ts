import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OutputBuffer } from './output-buffer.ts';

const text = (buffer: Buffer) => buffer.toString('latin1');

describe('OutputBuffer', () => {
  it('keeps everything while under budget and reads by absolute offsets', () => {
    const buffer = new OutputBuffer(80);
    buffer.append(Buffer.from('hello '));
    buffer.append(Buffer.from('world'));
    assert.equal(buffer.totalBytes, 11);
    const all = buffer.read(0, 100);
    assert.equal(text(all.data), 'hello world');
    assert.equal(all.nextOffset, 11);
    assert.equal(text(buffer.read(6, 3).data), 'wor');
    assert.equal(buffer.read(11, 10).data.length, 0);
  });

  it('freezes the first eighth and rolls the tail, reporting the evicted gap', () => {
    const buffer = new OutputBuffer(16); // head 2, tail 14
    for (let index = 0; index < 10; index++)
      buffer.append(Buffer.from(String.fromCharCode(97 + index).repeat(4)));
    assert.equal(buffer.totalBytes, 40);
    assert.equal(buffer.retainedBytes, 16);
    assert.equal(buffer.evictedBytes, 24);
    assert.equal(text(buffer.read(0, 2).data), 'aa');
    const gap = buffer.read(2, 100);
    assert.equal(gap.evictedGapBytes, 24);
    assert.equal(gap.offset, 26);
    assert.equal(text(gap.data), 'gghhhhiiiijjjj');
    assert.equal(gap.nextOffset, 40);
  });

  it('keeps only the end of a chunk larger than the whole tail', () => {
    const buffer = new OutputBuffer(8); // head 1, tail 7
    buffer.append(Buffer.from('0123456789abcdef'));
    assert.equal(text(buffer.read(0, 1).data), '0');
    const tail = buffer.read(1, 100);
    assert.equal(text(tail.data), '9abcdef');
    assert.equal(tail.evictedGapBytes, 8);
  });

  it('never holds more than its budget under a flood', () => {
    const buffer = new OutputBuffer(1024);
    for (let index = 0; index < 10_000; index++) buffer.append(Buffer.alloc(100, 120));
    assert.equal(buffer.totalBytes, 1_000_000);
    assert.ok(buffer.retainedBytes <= 1024);
  });
});
