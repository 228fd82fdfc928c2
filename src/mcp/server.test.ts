import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { Client, InMemoryTransport } from '@modelcontextprotocol/client';
import { AjvJsonSchemaValidator } from '@modelcontextprotocol/client/validators/ajv';
import { pino } from 'pino';
import type { Sandbox } from '../sandbox/sandbox.ts';
import { catalog, createMcpServer } from './server.ts';
import type { WorkspaceTarget } from './target.ts';

/** A workspace whose sandbox answers every tool with `reply`. */
function targetAnswering(reply: { summary: string; result: Record<string, unknown> }): WorkspaceTarget {
  const sandbox = { id: 'sb-test', activeCalls: 0, callTool: async () => reply } as unknown as Sandbox;
  return {
    sandbox: async () => sandbox,
    currentSandbox: () => sandbox,
    facts: () => ({ name: 'default', kind: 'volume', source: 'default', policy: 'default' }),
  };
}

/** A connected client of a server over `target`, and the trace lines the server logged. */
async function connected(target: WorkspaceTarget) {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()));
      done();
    },
  });
  const server = createMcpServer(target, { log: pino({ level: 'info' }, sink) });
  const client = new Client({ name: 'unit', version: '1' });
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await server.connect(serverSide);
  await client.connect(clientSide);
  return { client, lines, close: () => client.close() };
}

const validator = new AjvJsonSchemaValidator();
const conforms = (schema: unknown, value: unknown) =>
  validator.getValidator(schema as Record<string, unknown>)(value) as {
    valid: boolean;
    errorMessage?: string;
  };

describe('the tool catalog', () => {
  test('every tool advertises an outputSchema: an object root that requires ok', async () => {
    const { client, close } = await connected(targetAnswering({ summary: '', result: {} }));
    try {
      const { tools } = await client.listTools();
      assert.equal(tools.length, catalog.length);
      for (const tool of tools) {
        const schema = tool.outputSchema as { type?: string; required?: string[] } | undefined;
        assert.equal(schema?.type, 'object', tool.name);
        assert.ok(schema?.required?.includes('ok'), `${tool.name} requires ok`);
      }
    } finally {
      await close();
    }
  });

  test('the tools models most often get wrong carry a call to copy, which their input schema accepts', () => {
    const examples: Record<string, RegExp[]> = {
      apply_patch: [/\*\*\* Begin Patch/, /\*\*\* Update File:/],
      exec_command: [/"workdir":/, /command_id/, /"yield_time_ms":30000/],
      write_stdin: [/"chars":""/],
      kill_command: [/"signal":"KILL"/],
      read_output: [/command:abc:stdout/, /"offset":0/],
    };
    for (const [name, patterns] of Object.entries(examples)) {
      const spec = catalog.find((entry) => entry.spec.name === name)?.spec;
      assert.ok(spec, name);
      for (const pattern of patterns) assert.match(spec.description, pattern, name);
      const json = /Example[^:]*: (\{.*?\})(;|$)/m.exec(spec.description)?.[1];
      assert.ok(json, `${name} has a one-line JSON example`);
      const parsed = spec.input.safeParse(JSON.parse(json));
      assert.ok(parsed.success, `${name}'s example is a valid call: ${parsed.error?.message}`);
    }
  });

  test('descriptions stay short', () => {
    for (const { spec } of catalog) assert.ok(spec.description.length <= 1600, spec.name);
  });
});

describe('tool results against their outputSchema', () => {
  test('success, refused arguments and a refusing tool all conform', async () => {
    const reply = { summary: 'done', result: { path: 'a.txt', bytes_written: 3, created: true } };
    const { client, close } = await connected(targetAnswering(reply));
    try {
      const schemas = new Map((await client.listTools()).tools.map((tool) => [tool.name, tool.outputSchema]));
      const calls = [
        { name: 'write_file', arguments: { path: 'a.txt', content: 'abc' }, ok: true },
        { name: 'write_file', arguments: { path: 7 }, ok: false },
        { name: 'request_permissions', arguments: { permission: 'network' }, ok: false },
      ];
      for (const call of calls) {
        const result = await client.callTool({ name: call.name, arguments: call.arguments });
        const structured = result.structuredContent as { ok: boolean };
        assert.equal(structured.ok, call.ok, call.name);
        assert.equal(result.isError, !call.ok);
        const verdict = conforms(schemas.get(call.name), structured);
        assert.ok(verdict.valid, `${call.name}: ${verdict.errorMessage}`);
      }
    } finally {
      await close();
    }
  });

  test('a sandbox reply that breaks the result schema becomes AGENT_PROTOCOL_ERROR, never a bad result', async () => {
    const { client, close } = await connected(
      targetAnswering({ summary: 'x', result: { path: 'a.txt', bytes_written: -1 } }),
    );
    try {
      const result = await client.callTool({ name: 'write_file', arguments: { path: 'a', content: '' } });
      const structured = result.structuredContent as { ok: boolean; error: { code: string } };
      assert.equal(structured.ok, false);
      assert.equal(structured.error.code, 'AGENT_PROTOCOL_ERROR');
    } finally {
      await close();
    }
  });
});

describe('the trace of a tool call', () => {
  test('one JSON line with tool, outcome, code and duration, and no argument value', async () => {
    const secret = 'hunter2-do-not-log';
    const reply = { summary: 'done', result: { path: 'a.txt', bytes_written: 3, created: true } };
    const { client, lines, close } = await connected(targetAnswering(reply));
    try {
      await client.callTool({ name: 'write_file', arguments: { path: 'a.txt', content: secret } });
      await client.callTool({ name: 'read_file', arguments: { path: secret, max_lines: -1 } });
    } finally {
      await close();
    }
    const traces = lines.filter((line) => line.msg === 'tool call');
    assert.equal(traces.length, 2);
    assert.deepEqual(
      traces.map(({ tool, outcome, error_code, workspace, sandbox }) => ({
        tool,
        outcome,
        error_code,
        workspace,
        sandbox,
      })),
      [
        {
          tool: 'write_file',
          outcome: 'ok',
          error_code: undefined,
          workspace: 'default',
          sandbox: 'sb-test',
        },
        {
          tool: 'read_file',
          outcome: 'error',
          error_code: 'INVALID_ARGUMENT',
          workspace: 'default',
          sandbox: 'sb-test',
        },
      ],
    );
    for (const trace of traces) {
      assert.equal(typeof trace.duration_ms, 'number');
      assert.ok(!JSON.stringify(trace).includes(secret));
    }
  });
});
