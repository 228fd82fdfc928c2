import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { encodeLine } from '#protocol/framing';
import { jsonShapeOf } from '#protocol/json-shape';
import type { AgentToolSpec } from '#protocol/tool-spec';
import { fileTools } from './index.ts';
import { call, makeWorkspace, type TestWorkspace } from './test-workspace.ts';

/**
 * The control plane drops an agent connection whose reply is over its budget,
 * so the budgets must hold the worst an honest agent sends: text made of control
 * characters (six bytes each on the wire) and the most results a call may ask for.
 */
describe('file tool replies fit their budgets', () => {
  let ws: TestWorkspace;
  const control = (bytes: number) => '\u0001'.repeat(bytes);

  before(async () => {
    ws = await makeWorkspace();
    await ws.write('control.txt', `${control(2000)}\n`.repeat(600));
    for (let i = 0; i < 500; i++) await ws.write(`dir/${control(250)}${String(i).padStart(3, '0')}`, 'x');
  });
  after(() => ws.cleanup());

  async function measure(name: keyof typeof fileTools, input: Record<string, unknown>) {
    const tool = fileTools[name];
    const outcome = await call(tool as never, ws.context, input);
    const line = Buffer.from(encodeLine({ jsonrpc: '2.0', id: 1, result: outcome }));
    const spec = tool.spec as unknown as AgentToolSpec;
    const budget = spec.reply(spec.input.parse(input), ws.context.limits);
    return { bytes: line.length - 1, elements: jsonShapeOf(line).elements, budget };
  }

  for (const [name, input] of [
    ['read_file', { path: 'control.txt' }],
    ['read_file', { path: 'control.txt', max_bytes: 1024 * 1024 }],
    ['list_dir', { path: 'dir', max_entries: 500 }],
    ['list_files', { path: 'dir', max_results: 500 }],
    ['search_text', { query: '\u0001', max_results: 100, context_lines: 2, max_preview_bytes: 2000 }],
  ] as const) {
    it(`${name} ${JSON.stringify(input).replaceAll('\\u0001', '^A')}`, async () => {
      const { bytes, elements, budget } = await measure(name, input);
      assert.ok(bytes <= budget.maxBytes, `${bytes} bytes over the budget of ${budget.maxBytes}`);
      assert.ok(
        elements <= budget.maxElements,
        `${elements} elements over the budget of ${budget.maxElements}`,
      );
      console.log(
        `# ${name}: ${bytes} of ${budget.maxBytes} bytes, ${elements} of ${budget.maxElements} elements`,
      );
    });
  }
});
