import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LineSplitter, LineTooLongError } from './framing.ts';

describe('LineSplitter', () => {
  it('joins a line split across chunks and splits many lines in one chunk', () => {
    const splitter = new LineSplitter(64);
    assert.deepEqual(splitter.push(Buffer.from('{"a":')), []);
    assert.deepEqual(splitter.push(Buffer.from('1}\n{"b":2}\n{"c"')), ['{"a":1}', '{"b":2}']);
    assert.deepEqual(splitter.push(Buffer.from(':3}\n')), ['{"c":3}']);
  });

  it('keeps multi-byte characters that straddle chunks intact', () => {
    const splitter = new LineSplitter(64);
    const bytes = Buffer.from('"héllo"\n');
    assert.deepEqual(splitter.push(bytes.subarray(0, 3)), []);
    assert.deepEqual(splitter.push(bytes.subarray(3)), ['"héllo"']);
  });

  it('refuses a line longer than the cap, even when it never ends', () => {
    const splitter = new LineSplitter(16);
    splitter.push(Buffer.alloc(10, 0x61));
    assert.throws(() => splitter.push(Buffer.alloc(10, 0x61)), LineTooLongError);
  });

  it('refuses a complete line longer than the cap', () => {
    const splitter = new LineSplitter(4);
    assert.throws(() => splitter.push(Buffer.from('123456\n')), LineTooLongError);
  });
});
