import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ToolReply } from '../protocol/agent-api.ts';
import { EXIT_SANDBOX_FAILURE, EXIT_TIMEOUT, executeWithDeadline, exitCodeFor } from './run.ts';

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

/** Replies as an agent sends them, complete: the host validates every reply against the tool's output schema. */
function agentReply(name: string, status: 'running' | 'exited', exitCode: number | null): ToolReply {
  if (name === 'read_output') {
    const result = {
      command_id: 'c1',
      stream: 'stdout',
      data: '',
      offset: 0,
      next_offset: 0,
      total_bytes: 0,
      evicted_gap_bytes: 0,
      status,
      is_complete: status !== 'running',
    };
    return { summary: '', result };
  }
  const counters = { stdout: 0, stderr: 0 };
  const result = {
    command_id: 'c1',
    status,
    timed_out: false,
    exit_code: exitCode,
    signal: null,
    duration_ms: 1,
    tty: false,
    stdout: '',
    stderr: '',
    total_bytes: counters,
    omitted_bytes: counters,
    evicted_gap_bytes: counters,
    output_refs: { stdout: 'command:c1:stdout', stderr: 'command:c1:stderr' },
  };
  return { summary: status, result };
}

describe('the host-side deadline of sandboxd run', () => {
  it('gives up with 124 when the sandbox keeps answering "running" past the deadline', async () => {
    let polls = 0;
    const forever = {
      async callTool(name: string): Promise<ToolReply> {
        polls++;
        await new Promise((resolve) => setTimeout(resolve, 5));
        return agentReply(name, 'running', null);
      },
    };
    const started = performance.now();
    const code = await executeWithDeadline(
      forever,
      { command: ['sleep', '1'], timeoutMs: 10, env: {}, isRawOutput: false },
      150,
    );
    assert.equal(code, EXIT_TIMEOUT);
    assert.ok(performance.now() - started < 1000, 'it did not wait for the sandbox');
    assert.ok(polls > 3, 'the sandbox was polled meanwhile');
  });

  it("passes the command's own exit code on when it ends before the deadline", async () => {
    const quick = {
      async callTool(name: string): Promise<ToolReply> {
        return agentReply(name, 'exited', 7);
      },
    };
    assert.equal(
      await executeWithDeadline(
        quick,
        { command: ['false'], timeoutMs: 10, env: {}, isRawOutput: false },
        60_000,
      ),
      7,
    );
  });
});
