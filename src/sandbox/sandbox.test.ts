import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ToolReply } from '../protocol/agent-api.ts';
import { ToolError } from '../protocol/errors.ts';
import { KillCommandTool, WriteStdinTool } from '../protocol/tools/commands.ts';
import { WriteFileTool } from '../protocol/tools/files.ts';
import { callAgentTool } from './sandbox.ts';

/** A fake agent that answers every call with `result` and remembers the timeout it was given. */
function agentAnswering(result: unknown) {
  const calls: { name: string; timeoutMs: number | undefined }[] = [];
  return {
    calls,
    async callTool(name: string, _input: unknown, timeoutMs?: number): Promise<ToolReply> {
      calls.push({ name, timeoutMs });
      return { summary: 'done', result: result as Record<string, unknown> };
    },
  };
}

describe('a typed agent tool call', () => {
  it("returns the result its descriptor's output schema promises, unknown fields dropped", async () => {
    const agent = agentAnswering({ path: 'a.txt', bytes_written: 3, created: true, extra: 'x' });
    const reply = await callAgentTool(agent, WriteFileTool, { path: 'a.txt', content: 'abc' });
    assert.deepEqual(reply.result, { path: 'a.txt', bytes_written: 3, created: true });
  });

  it('refuses a reply that breaks the output schema with AGENT_PROTOCOL_ERROR', async () => {
    const agent = agentAnswering({ path: 'a.txt', bytes_written: -1 });
    await assert.rejects(
      callAgentTool(agent, WriteFileTool, { path: 'a.txt', content: 'abc' }),
      (error: unknown) => error instanceof ToolError && error.code === 'AGENT_PROTOCOL_ERROR',
    );
  });

  it('refuses bad input before it reaches the agent', async () => {
    const agent = agentAnswering({});
    await assert.rejects(
      callAgentTool(agent, WriteFileTool, { path: 7 } as never),
      (error: unknown) => error instanceof ToolError && error.code === 'INVALID_ARGUMENT',
    );
    assert.equal(agent.calls.length, 0);
  });

  it("waits for a reply as long as the tool's own wait plus the margin, defaults included", async () => {
    const agent = agentAnswering({});
    await callAgentTool(agent, WriteStdinTool, { command_id: 'c1' }).catch(() => undefined);
    await callAgentTool(agent, WriteStdinTool, { command_id: 'c1', yield_time_ms: 100 }).catch(
      () => undefined,
    );
    await callAgentTool(agent, KillCommandTool, { command_id: 'c1', wait_ms: 10 }).catch(() => undefined);
    await callAgentTool(agent, WriteFileTool, { path: 'a', content: '' }).catch(() => undefined);
    assert.deepEqual(
      agent.calls.map((call) => call.timeoutMs),
      [5_000 + 30_000, 100 + 30_000, 10 + 2_000 + 30_000, 120_000],
    );
  });
});
