import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chown, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { stripVTControlCharacters } from 'node:util';
import { toolNames } from '../src/mcp/server.ts';
import { CLI, ControlPlane, ROOT } from './support/control-plane.ts';

/**
 * Clients we did not write, run the way CI runs them: the official MCP
 * conformance suite against `sandboxd serve`, and the MCP Inspector's CLI
 * listing the tools and running exec_command over HTTP (with a token, in both
 * protocol eras) and over stdio. Both ship as npm packages in devDependencies
 * and need nothing downloaded at run time.
 */

const BIN = path.join(ROOT, 'node_modules/.bin');
/** Each child gets this long; the whole suite takes about two seconds here. */
const CHILD_TIMEOUT_MS = 120_000;

let scratch: string;

before(async () => {
  scratch = await mkdtemp(path.join(os.tmpdir(), 'sandboxd-clients-'));
});
after(() => rm(scratch, { recursive: true, force: true }));

function run(
  command: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      command,
      args,
      {
        cwd: scratch,
        timeout: CHILD_TIMEOUT_MS,
        maxBuffer: 16 * 1024 * 1024,
        // The Inspector keeps a catalog and client config under $HOME: a private one per run.
        env: { ...process.env, HOME: scratch, NO_COLOR: '1', ...env },
      },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

describe('the MCP conformance suite against sandboxd serve', () => {
  let plane: ControlPlane;
  before(async () => {
    plane = await ControlPlane.create();
    // The suite cannot send a token; --no-auth is allowed on loopback only.
    await plane.start({}, ['--no-auth']);
  });
  after(() => plane.destroy());

  it('passes every scenario that applies; the rest are the listed expected failures', async () => {
    const result = await run(path.join(BIN, 'conformance'), [
      'server',
      '--url',
      `${plane.baseUrl}/mcp`,
      '--expected-failures',
      path.join(ROOT, 'test/conformance/expected-failures.yml'),
      '--output-dir',
      path.join(scratch, 'conformance'),
    ]);
    const output = stripVTControlCharacters(result.stdout);
    const summary = output.slice(output.indexOf('=== SUMMARY ==='));
    assert.equal(result.code, 0, `${summary}\n${result.stderr}`);
    for (const scenario of ['server-initialize', 'ping', 'tools-list', 'dns-rebinding-protection']) {
      assert.match(summary, new RegExp(`✓ ${scenario}: [1-9]\\d* passed, 0 failed`), scenario);
    }
  });
});

describe('the MCP Inspector CLI', () => {
  const inspector = (args: string[], env: Record<string, string> = {}) =>
    run(path.join(BIN, 'mcp-inspector'), ['--cli', '--format', 'json', ...args], env);
  const execArgs = ['--method', 'tools/call', '--tool-name', 'exec_command'];

  describe('over HTTP with a token', () => {
    let plane: ControlPlane;
    before(async () => {
      plane = await ControlPlane.create();
      await plane.start();
    });
    after(() => plane.destroy());

    for (const era of ['legacy', 'modern']) {
      it(`lists the tools and runs exec_command (${era} era)`, async () => {
        const target = [
          `${plane.baseUrl}/mcp`,
          '--transport',
          'http',
          '--protocol-era',
          era,
          '--header',
          `Authorization: Bearer ${plane.token}`,
        ];
        const listed = await inspector([...target, '--method', 'tools/list']);
        assert.equal(listed.code, 0, listed.stderr);
        const tools = (JSON.parse(listed.stdout) as { result: { tools: { name: string }[] } }).result.tools;
        assert.equal(tools.length, toolNames.length);
        const called = await inspector([...target, ...execArgs, '--tool-args-json', `{"cmd":"echo ${era}"}`]);
        assert.equal(called.code, 0, called.stderr);
        const structured = (
          JSON.parse(called.stdout) as { result: { structuredContent: Record<string, unknown> } }
        ).result.structuredContent;
        assert.deepEqual([structured.ok, structured.status, structured.stdout], [true, 'exited', `${era}\n`]);
      });
    }

    it('is refused without the token', async () => {
      const refused = await inspector([
        `${plane.baseUrl}/mcp`,
        '--transport',
        'http',
        '--method',
        'tools/list',
      ]);
      assert.equal(refused.code, 3, 'exit code 3: the server requires authentication');
    });
  });

  it('lists the tools and runs exec_command over stdio', async () => {
    const folder = await mkdtemp(path.join(os.tmpdir(), 'sandboxd-clients-ws-'));
    const stateDir = await mkdtemp(path.join(os.tmpdir(), 'sandboxd-clients-state-'));
    try {
      await chown(folder, 1000, 1000);
      const server = ['--', process.execPath, CLI, 'stdio', '--workspace', folder];
      const env = ['-e', `SANDBOXD_STATE_DIR=${stateDir}`, '-e', 'SANDBOXD_LOG_LEVEL=warn'];
      const listed = await inspector([...env, '--method', 'tools/list', ...server]);
      assert.equal(listed.code, 0, listed.stderr);
      assert.equal(
        (JSON.parse(listed.stdout) as { result: { tools: unknown[] } }).result.tools.length,
        toolNames.length,
      );
      const called = await inspector([...env, ...execArgs, '--tool-args-json', '{"cmd":"id -u"}', ...server]);
      assert.equal(called.code, 0, called.stderr);
      const structured = (
        JSON.parse(called.stdout) as { result: { structuredContent: Record<string, unknown> } }
      ).result.structuredContent;
      assert.deepEqual([structured.status, structured.stdout], ['exited', '1000\n']);
    } finally {
      await rm(folder, { recursive: true, force: true });
      await rm(stateDir, { recursive: true, force: true });
    }
  });
});
