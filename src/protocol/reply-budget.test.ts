import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { agentMethods } from './agent-api.ts';
import { MAX_LINE_BYTES } from './framing.ts';
import { defaultAgentLimits } from './limits.ts';
import { MAX_REPLY_ELEMENTS, replyBudget, textBytes } from './reply-budget.ts';
import { agentToolSpecs } from './tools/index.ts';

const toolBudget = (name: string, input: unknown, limits = defaultAgentLimits) =>
  agentMethods.tool.reply({ name, input }, limits);

describe('reply budgets', () => {
  it("derive a read_file reply from max_bytes and the sandbox's file limit", () => {
    const base = replyBudget();
    assert.equal(toolBudget('read_file', { path: 'a' }).maxBytes, base.maxBytes + textBytes(60 * 1024));
    const small = { ...defaultAgentLimits, maxFileBytes: 1024 };
    assert.equal(
      toolBudget('read_file', { path: 'a', max_bytes: 1e9 }, small).maxBytes,
      base.maxBytes + textBytes(1024),
    );
  });

  it('stay within the line and element ceilings, and never below what an error needs', () => {
    const base = replyBudget();
    const inputs: Record<string, unknown> = {
      read_file: { path: 'a', max_bytes: 1e9 },
      write_file: { path: 'a', content: '' },
      view_image: { path: 'a' },
      search_text: { query: 'x', max_results: 100_000, context_lines: 20, max_preview_bytes: 65_536 },
      apply_patch: { patch: 'x'.repeat(1000) },
      exec_command: { cmd: 'true', max_output_bytes: 4 * 1024 * 1024 },
      write_stdin: { command_id: 'c' },
      kill_command: { command_id: 'c' },
      read_output: { output_ref: 'command:c' },
      git_blame: { path: 'a', max_lines: 10_000 },
      git_log: { max_count: 500 },
    };
    for (const spec of agentToolSpecs) {
      const budget = toolBudget(spec.name, inputs[spec.name] ?? {});
      assert.ok(budget.maxBytes >= base.maxBytes && budget.maxBytes <= MAX_LINE_BYTES, spec.name);
      assert.ok(
        budget.maxElements >= base.maxElements && budget.maxElements <= MAX_REPLY_ELEMENTS,
        spec.name,
      );
    }
  });

  it('give a call the agent will refuse the budget of an error', () => {
    assert.deepEqual(toolBudget('no_such_tool', {}), replyBudget());
    assert.deepEqual(toolBudget('read_file', { path: 3 }), replyBudget());
    assert.deepEqual(agentMethods.ping.reply(), replyBudget());
  });
});
