import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { AjvJsonSchemaValidator } from '@modelcontextprotocol/client/validators/ajv';
import { toolNames } from '../src/mcp/server.ts';
import { ControlPlane } from './support/control-plane.ts';
import { callTool, legacyRequest } from './support/raw-mcp.ts';

/**
 * The tool contract as a client without our SDK sees it over HTTP: every tool
 * advertises an outputSchema, and every result it returns, success or error,
 * conforms to it; the confusing tools carry a call to copy; each call leaves a
 * trace line in the log and nothing of its arguments.
 */

let plane: ControlPlane;
let tools: { name: string; description: string; outputSchema?: Record<string, unknown> }[];

before(async () => {
  plane = await ControlPlane.create();
  await plane.start({ SANDBOXD_LOG_LEVEL: 'info' });
  const answer = await legacyRequest(plane, 'tools/list');
  tools = (answer.body.result as { tools: typeof tools }).tools;
});
after(() => plane.destroy());

// A 1×1 PNG.
const PNG_1X1 =
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';
const SECRET = 'secret-value-that-must-not-be-logged';
const GIT = 'git -c user.name=t -c user.email=t@e';

describe('tool results and the outputSchema each tool advertises', () => {
  it('lists every tool of the catalog, each with an object outputSchema that requires ok', () => {
    assert.equal(tools.length, toolNames.length);
    for (const tool of tools) {
      assert.equal(tool.outputSchema?.type, 'object', tool.name);
      assert.ok((tool.outputSchema?.required as string[] | undefined)?.includes('ok'), tool.name);
    }
  });

  it('every result of every tool, success and error, conforms to it', async () => {
    const validator = new AjvJsonSchemaValidator();
    const seen = { ok: new Set<string>(), error: new Set<string>() };
    const check = async (name: string, args: Record<string, unknown>, isOk: boolean) => {
      const result = await callTool(plane, name, args);
      assert.equal(
        result.structuredContent.ok,
        isOk,
        `${name} ${JSON.stringify(args)}: ${result.content[0]?.text}`,
      );
      assert.equal(result.isError, !isOk);
      const schema = tools.find((tool) => tool.name === name)?.outputSchema as Record<string, unknown>;
      const verdict = validator.getValidator(schema)(result.structuredContent) as {
        valid: boolean;
        errorMessage?: string;
      };
      assert.ok(verdict.valid, `${name}: ${verdict.errorMessage}`);
      seen[isOk ? 'ok' : 'error'].add(name);
      return result.structuredContent;
    };

    await check(
      'write_file',
      { path: 'src/a.txt', content: `one\ntwo ${SECRET}\n`, create_dirs: true },
      true,
    );
    await check('write_file', { path: 'pic.png', content: PNG_1X1, encoding: 'base64' }, true);
    await check('read_file', { path: 'src/a.txt' }, true);
    await check('list_dir', { recursive: true }, true);
    await check('list_files', { patterns: '**/*.txt' }, true);
    await check('search_text', { query: 'two' }, true);
    await check('view_image', { path: 'pic.png' }, true);
    const patch = '*** Begin Patch\n*** Update File: src/a.txt\n@@\n-one\n+uno\n*** End Patch';
    await check('apply_patch', { patch }, true);
    await check('exec_command', { cmd: `${GIT} init -q && ${GIT} add -A && ${GIT} commit -qm first` }, true);
    await check('write_file', { path: 'src/a.txt', content: 'changed\n' }, true);
    await check('git_status', {}, true);
    await check('git_diff', {}, true);
    await check('git_log', {}, true);
    await check('git_show', { rev: 'HEAD' }, true);
    await check('git_blame', { path: 'src/a.txt' }, true);
    await check('check_exec_environment', {}, true);
    await check('server_info', {}, true);
    const running = await check('exec_command', { cmd: 'echo started; sleep 30', yield_time_ms: 300 }, true);
    const id = running.command_id as string;
    await check('write_stdin', { command_id: id, chars: '', yield_time_ms: 0 }, true);
    await check('read_output', { output_ref: `command:${id}:stdout`, offset: 0 }, true);
    await check('kill_command', { command_id: id, signal: 'KILL' }, true);
    const saved = await check('checkpoint_create', { label: 'contract' }, true);
    await check('checkpoint_list', {}, true);
    await check('preview_url', { port: 8000 }, true);
    await check('checkpoint_restore', { checkpoint_id: saved.checkpoint_id }, true);

    const errors: [string, Record<string, unknown>][] = [
      ['read_file', { path: 'missing.txt' }],
      ['write_file', { path: '../escape.txt', content: 'x' }],
      ['list_dir', { path: 'src/a.txt' }],
      ['list_files', { max_results: 0 }],
      ['search_text', { query: '' }],
      ['view_image', { path: 'src/a.txt' }],
      [
        'apply_patch',
        { patch: '*** Begin Patch\n*** Update File: src/a.txt\n@@\n-absent\n+x\n*** End Patch' },
      ],
      ['exec_command', { cmd: '' }],
      ['write_stdin', { command_id: 'no-such-command' }],
      ['kill_command', { command_id: 'x'.repeat(65) }],
      ['read_output', { output_ref: 'not-a-ref' }],
      ['git_status', { path: '/etc' }],
      ['git_diff', { context_lines: -1 }],
      ['git_log', { max_count: 0 }],
      ['git_show', { rev: 'no-such-rev' }],
      ['git_blame', { path: 'missing.txt' }],
      ['check_exec_environment', { unexpected: true }],
      ['server_info', { unexpected: true }],
      ['request_permissions', { permission: 'network', reason: 'test' }],
      ['checkpoint_create', { label: 42 }],
      ['checkpoint_list', { unexpected: true }],
      ['preview_url', { port: 0 }],
      ['checkpoint_restore', { checkpoint_id: 'snap-000000000000' }],
    ];
    for (const [name, args] of errors) await check(name, args, false);

    assert.deepEqual([...seen.error].sort(), tools.map((tool) => tool.name).sort(), 'every tool failed once');
    const neverSucceeds = ['request_permissions'];
    assert.deepEqual(
      [...seen.ok].sort(),
      tools
        .map((tool) => tool.name)
        .filter((name) => !neverSucceeds.includes(name))
        .sort(),
      'every tool that can succeed did',
    );
  });
});

describe('descriptions a model can copy from', () => {
  it('shows the minimal call for the tools models most often get wrong', () => {
    const expected: Record<string, string[]> = {
      apply_patch: ['*** Begin Patch', '*** Update File:'],
      exec_command: ['"workdir":', 'command_id', '"yield_time_ms":30000'],
      write_stdin: ['"chars":""'],
      kill_command: ['"signal":"KILL"'],
      read_output: ['command:abc:stdout', '"offset":0'],
    };
    for (const [name, fragments] of Object.entries(expected)) {
      const description = tools.find((tool) => tool.name === name)?.description ?? '';
      for (const fragment of fragments) assert.ok(description.includes(fragment), `${name}: ${fragment}`);
    }
  });
});

describe('the trace of each tool call on stderr', () => {
  it('is pino JSON with tool, duration, outcome and error code, and no argument value or token', async () => {
    const traces = () =>
      plane.stderr
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as Record<string, unknown>)
        .filter((line) => line.msg === 'tool call');
    const before = traces().length;
    await callTool(plane, 'exec_command', { cmd: `echo ${SECRET} > /dev/null` });
    await callTool(plane, 'read_file', { path: `${SECRET}.txt` });
    const [ran, failed] = traces().slice(before);
    assert.deepEqual(
      [ran?.tool, ran?.outcome, ran?.error_code, ran?.workspace],
      ['exec_command', 'ok', undefined, 'default'],
    );
    assert.deepEqual(
      [failed?.tool, failed?.outcome, failed?.error_code],
      ['read_file', 'error', 'NOT_FOUND'],
    );
    for (const trace of [ran, failed]) {
      assert.equal(typeof trace?.duration_ms, 'number');
      assert.match(String(trace?.sandbox), /^[a-z0-9-]+$/);
    }
    assert.ok(!plane.stderr.includes(SECRET), 'no argument value or file content');
    assert.ok(!plane.stderr.includes(plane.token), 'no token');
  });
});
