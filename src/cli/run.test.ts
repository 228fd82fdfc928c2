import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EXIT_SANDBOX_FAILURE, EXIT_TIMEOUT, exitCodeFor } from './run.ts';

describe('the exit code of sandboxd run', () => {
  it("is the command's own when it exited", () => {
    assert.equal(exitCodeFor({ status: 'exited', exit_code: 3, signal: null }), 3);
  });

  it('is 124 when the command timed out', () => {
    assert.equal(exitCodeFor({ status: 'timeout', exit_code: null, signal: 'SIGTERM' }), EXIT_TIMEOUT);
  });

  it('is 128 + 9 when kill_command killed the command', () => {
    assert.equal(exitCodeFor({ status: 'killed', exit_code: null, signal: 'SIGKILL' }), 137);
  });

  it('is 128 + the signal when another signal ended it', () => {
    assert.equal(exitCodeFor({ status: 'terminated', exit_code: null, signal: 'SIGTERM' }), 143);
  });

  it('says the sandbox failed when the command could not start', () => {
    assert.equal(exitCodeFor({ status: 'failed', exit_code: null, signal: null }), EXIT_SANDBOX_FAILURE);
  });
});
