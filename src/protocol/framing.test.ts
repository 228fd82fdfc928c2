import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type Line, LineRefusedError, LineSplitter, LineTooLongError } from './framing.ts';

const texts = (lines: Line[]) => lines.map((line) => line.text);

describe('LineSplitter', () => {
  it('joins a line split across chunks and splits many lines in one chunk', () => {
    const splitter = new LineSplitter({ maxBytes: 64 });
    assert.deepEqual(texts(splitter.push(Buffer.from('{"a":'))), []);
    assert.deepEqual(texts(splitter.push(Buffer.from('1}\n{"b":2}\n{"c"'))), ['{"a":1}', '{"b":2}']);
    assert.deepEqual(texts(splitter.push(Buffer.from(':3}\n'))), ['{"c":3}']);
  });

  it('keeps multi-byte characters that straddle chunks intact', () => {
    const splitter = new LineSplitter({ maxBytes: 64 });
    const bytes = Buffer.from('"héllo"\n');
    assert.deepEqual(texts(splitter.push(bytes.subarray(0, 3))), []);
    assert.deepEqual(texts(splitter.push(bytes.subarray(3))), ['"héllo"']);
  });

  it('refuses a line longer than the cap, even when it never ends', () => {
    const splitter = new LineSplitter({ maxBytes: 16 });
    splitter.push(Buffer.alloc(10, 0x61));
    assert.throws(() => splitter.push(Buffer.alloc(10, 0x61)), LineTooLongError);
  });

  it('refuses a complete line longer than the cap', () => {
    const splitter = new LineSplitter({ maxBytes: 4 });
    assert.throws(() => splitter.push(Buffer.from('123456\n')), LineTooLongError);
  });

  it('refuses JSON nested too deep or with too many elements before the line ends', () => {
    const deep = new LineSplitter({ maxBytes: 1024, maxDepth: 4 });
    assert.deepEqual(texts(deep.push(Buffer.from('[[[["x"]]]]\n'))), ['[[[["x"]]]]']);
    assert.throws(() => deep.push(Buffer.from('[[[[[')), /deeper than 4 levels/);
    const wide = new LineSplitter({ maxBytes: 1024, maxElements: 4 });
    assert.deepEqual(texts(wide.push(Buffer.from('{"a":"[,,,]","b":[1,2]}\n'))), ['{"a":"[,,,]","b":[1,2]}']);
    assert.throws(() => wide.push(Buffer.from('[1,2,3,4,')), LineRefusedError);
  });

  it('reports the bytes and elements of each line, and asks for its limits at every chunk', () => {
    let limits = { maxBytes: 8, maxElements: 100 };
    const splitter = new LineSplitter(() => limits);
    assert.deepEqual(splitter.push(Buffer.from('[1,2]\n["é"]\n')), [
      { text: '[1,2]', bytes: 5, elements: 2 },
      { text: '["é"]', bytes: 6, elements: 1 },
    ]);
    assert.throws(() => splitter.push(Buffer.from('[1,2,3,4]')), LineTooLongError);
    limits = { maxBytes: 16, maxElements: 100 };
    assert.deepEqual(texts(splitter.push(Buffer.from('[1,2,3,4]\n'))), ['[1,2,3,4]']);
  });
});
