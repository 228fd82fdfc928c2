import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parentPidOf } from './process-group.ts';

describe('parentPidOf', () => {
  it('reads the parent pid of a /proc stat line', () => {
    assert.equal(parentPidOf('42 (bash) S 7 42 42 34816 42 4194560 0'), 7);
  });

  it('is not fooled by a command name with spaces and parentheses', () => {
    assert.equal(parentPidOf('42 (a) S 9 (b) R 5 42 42 0'), 5);
  });
});
