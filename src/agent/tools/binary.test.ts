import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isBinary } from './binary.ts';

describe('binary content', () => {
  it('is a NUL byte anywhere', () => {
    assert.equal(isBinary(Buffer.from('text\0more')), true);
  });

  it('is bytes that are not UTF-8, such as Latin-1', () => {
    assert.equal(isBinary(Buffer.from('caf\xe9', 'latin1')), true);
  });

  it('is not UTF-8 text, with or without multi-byte characters', () => {
    assert.equal(isBinary(Buffer.from('plain ascii\n')), false);
    assert.equal(isBinary(Buffer.from('café ✓ 日本\n')), false);
  });

  it('tolerates a character cut at the end of a head, but not of a whole file', () => {
    const cut = Buffer.from('日本').subarray(0, 4);
    assert.equal(isBinary(cut, true), false);
    assert.equal(isBinary(cut, false), true);
  });
});
