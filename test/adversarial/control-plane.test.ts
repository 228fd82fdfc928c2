import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { PROTOCOL_VERSION } from '../../src/protocol/agent-api.ts';
import { Arena, codeOf, KNOWN_CODES, type Structured, tally } from './arena.ts';

/**
 * The control plane as a target: who may call, what may be sent, and what a
 * sandbox can do to it from the inside (dial its socket and pose as the agent).
 */

let arena: Arena;
before(async () => {
  arena = await Arena.open();
});
after(() => arena?.close());

interface RawResponse {
  status: number;
  body: string;
}

/** A request through node:http, which sends paths and Host headers exactly as given. */
function raw(options: {
  method?: string;
  path: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Send the body in pieces without a Content-Length. */
  chunked?: boolean;
}): Promise<RawResponse> {
  const url = new URL(arena.plane.baseUrl);
  return new Promise((resolve, reject) => {
    const request = http.request(
      {
        host: url.hostname,
        port: url.port,
        method: options.method ?? 'POST',
        path: options.path,
        headers: options.headers,
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () =>
          resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
        );
      },
    );
    request.on('error', (error: NodeJS.ErrnoException) => {
      // The server may answer 413 and close while the body is still being sent.
      if (error.code === 'EPIPE' || error.code === 'ECONNRESET') resolve({ status: -1, body: error.code });
      else reject(error);
    });
    if (options.body !== undefined && options.chunked) {
      const body = Buffer.isBuffer(options.body) ? options.body : Buffer.from(options.body);
      const piece = 256 * 1024;
      let offset = 0;
      const pump = () => {
        while (offset < body.length) {
          const ok = request.write(body.subarray(offset, offset + piece));
          offset += piece;
          if (!ok) {
            request.once('drain', pump);
            return;
          }
        }
        request.end();
      };
      pump();
    } else {
      request.end(options.body);
    }
  });
}

const MCP_HEADERS = {
  'content-type': 'application/json',
  accept: 'application/json, text/event-stream',
  'mcp-protocol-version': '2025-11-25',
};

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** A JSON-RPC tools/call of read_file on B's precious file. */
const readNeighbour = () =>
  JSON.stringify({
    jsonrpc: '2.0',
    id: 7,
    method: 'tools/call',
    params: { name: 'read_file', arguments: { path: arena.neighbourFile } },
  });

/** The JSON-RPC message of a response body, plain JSON or one SSE event. */
function rpcOf(
  body: string,
): { result?: { structuredContent?: Structured }; error?: { code: number } } | undefined {
  const text =
    body.startsWith('event:') || body.startsWith('data:') ? (/^data: (.*)$/m.exec(body)?.[1] ?? '') : body;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

describe('adversarial: control plane', () => {
  it('refuses missing, wrong, foreign and misplaced tokens', () =>
    arena.case('cp.auth', async () => {
      const { a, b, plane } = arena;
      const attempts: [string, () => Promise<RawResponse>, number[]][] = [
        ['no token on B', () => raw({ path: b.path, headers: MCP_HEADERS, body: readNeighbour() }), [401]],
        [
          'wrong token on B',
          () =>
            raw({
              path: b.path,
              headers: { ...MCP_HEADERS, ...bearer(`${b.token}x`) },
              body: readNeighbour(),
            }),
          [401],
        ],
        [
          "A's token on B",
          () => raw({ path: b.path, headers: { ...MCP_HEADERS, ...bearer(a.token) }, body: readNeighbour() }),
          [401, 403],
        ],
        [
          "A's token as Basic on B",
          () =>
            raw({
              path: b.path,
              headers: {
                ...MCP_HEADERS,
                authorization: `Basic ${Buffer.from(`x:${b.token}`).toString('base64')}`,
              },
              body: readNeighbour(),
            }),
          [401],
        ],
        [
          "A's token on /mcp",
          () => raw({ path: '/mcp', headers: { ...MCP_HEADERS, ...bearer(a.token) }, body: readNeighbour() }),
          [401, 403],
        ],
        [
          "A's token on /w/other/mcp",
          () =>
            raw({
              path: '/w/other/mcp',
              headers: { ...MCP_HEADERS, ...bearer(a.token) },
              body: readNeighbour(),
            }),
          [401, 403],
        ],
        [
          "A's token lists /v1/sandboxes",
          () => raw({ method: 'GET', path: '/v1/sandboxes', headers: bearer(a.token) }),
          [401, 403],
        ],
        [
          "A's token deletes B",
          () => raw({ method: 'DELETE', path: `/v1/sandboxes/${b.id}`, headers: bearer(a.token) }),
          [401, 403],
        ],
        [
          "A's token creates a sandbox",
          () =>
            raw({
              path: '/v1/sandboxes',
              headers: { ...bearer(a.token), 'content-type': 'application/json' },
              body: '{}',
            }),
          [401, 403],
        ],
        [
          "A's token reads /metrics",
          () => raw({ method: 'GET', path: '/metrics', headers: bearer(a.token) }),
          [401, 403],
        ],
        [
          "B's token in ?token= on B",
          () => raw({ path: `${b.path}?token=${b.token}`, headers: MCP_HEADERS, body: readNeighbour() }),
          [400],
        ],
        [
          "B's token in ?access_token= on B",
          () =>
            raw({ path: `${b.path}?access_token=${b.token}`, headers: MCP_HEADERS, body: readNeighbour() }),
          [400],
        ],
        [
          'operator token in ?token= on /v1',
          () => raw({ method: 'GET', path: `/v1/sandboxes?token=${plane.token}` }),
          [400],
        ],
      ];
      const outcomes: string[] = [];
      for (const [label, attempt, expected] of attempts) {
        const response = await attempt();
        assert.ok(
          expected.includes(response.status),
          `${label}: ${response.status} ${response.body.slice(0, 200)}`,
        );
        assert.ok(!response.body.includes(arena.neighbourContent.trim()), `${label} leaked B's file`);
        assert.ok(
          !response.body.includes(b.token) && !response.body.includes(plane.token),
          `${label} echoed a token`,
        );
        outcomes.push(`${label} ${response.status}`);
      }
      assert.equal((await plane.fetch(`/v1/sandboxes/${b.id}`)).status, 200, 'B still exists');
      return {
        attempted: attempts.map(([label]) => label).join('; '),
        result: `${outcomes.join('; ')}; no response carried B's data or a token; B still exists`,
      };
    }));

  it("path tricks cannot steer A's token to B", () =>
    arena.case('cp.path-confusion', async () => {
      const { a, b } = arena;
      const paths = [
        `/s/${a.id}/../${b.id}/mcp`,
        `/s/${a.id}/mcp/../../${b.id}/mcp`,
        `/s/${a.id}%2f..%2f${b.id}/mcp`,
        `/s/${a.id}%2F..%2F${b.id}/mcp`,
        `/s/${b.id}%00/mcp`,
        `/s/${b.id}/mcp/`,
        `//s/${b.id}/mcp`,
        `/s//${b.id}/mcp`,
        `/S/${b.id}/mcp`,
        `/s/${b.id.toUpperCase()}/mcp`,
        `/s/${b.id}/mcp;${a.id}`,
        `/s/${b.id}/mcp?id=${a.id}`,
        `/s/${b.id}/mcp#${a.id}`,
        `/s/%73%62${b.id.slice(2)}/mcp`,
        `/s/${b.id}%2fmcp`,
        `/v1/../s/${b.id}/mcp`,
        `/s/${b.id}/./mcp`,
      ];
      const outcomes: string[] = [];
      for (const path of paths) {
        const response = await raw({
          path,
          headers: { ...MCP_HEADERS, ...bearer(a.token) },
          body: readNeighbour(),
        });
        assert.ok(!response.body.includes(arena.neighbourContent.trim()), `${path} reached B's file`);
        const rpc = rpcOf(response.body);
        const content = rpc?.result?.structuredContent;
        // A 200 must have been served by A itself (B's file does not exist there).
        if (response.status === 200)
          assert.equal(content?.error?.code, 'NOT_FOUND', `${path}: ${response.body.slice(0, 200)}`);
        outcomes.push(`${response.status}${response.status === 200 ? `(A:${content?.error?.code})` : ''}`);
      }
      return {
        attempted: `${paths.length} raw paths with A's token aimed at B: ${paths.map((p) => p.replaceAll(a.id, 'A').replaceAll(b.id, 'B')).join(' ')}`,
        result: `never reached B (${tally(outcomes)})`,
      };
    }));

  it('refuses foreign Host and Origin headers', () =>
    arena.case('cp.host-origin', async () => {
      const port = new URL(arena.plane.baseUrl).port;
      const headers = { ...MCP_HEADERS, ...bearer(arena.b.token) };
      const hosts = [
        'evil.example',
        `evil.example:${port}`,
        '127.0.0.1.evil.example',
        `localhost.evil.example:${port}`,
        '0.0.0.0',
        '169.254.169.254',
      ];
      const origins = [
        'http://evil.example',
        'null',
        `http://localhost.evil.example:${port}`,
        'http://127.0.0.1.nip.io',
        'file://',
      ];
      const outcomes: string[] = [];
      for (const host of hosts) {
        const response = await raw({
          path: arena.b.path,
          headers: { ...headers, host },
          body: readNeighbour(),
        });
        assert.equal(response.status, 403, `Host ${host}: ${response.status}`);
        outcomes.push(`Host ${host} ${response.status}`);
      }
      for (const origin of origins) {
        const response = await raw({
          path: arena.b.path,
          headers: { ...headers, origin },
          body: readNeighbour(),
        });
        assert.equal(response.status, 403, `Origin ${origin}: ${response.status}`);
        outcomes.push(`Origin ${origin} ${response.status}`);
      }
      // The legitimate spelling still works.
      const own = await raw({
        path: arena.b.path,
        headers: { ...headers, origin: `http://127.0.0.1:${port}` },
        body: readNeighbour(),
      });
      assert.equal(own.status, 200);
      return {
        attempted: `Host ${hosts.join(', ')}; Origin ${origins.join(', ')} (B's valid token on every request)`,
        result: `${tally(outcomes.map((o) => o.split(' ').pop() as string))} for all; Origin http://127.0.0.1:${port} → ${own.status}`,
      };
    }));

  it('refuses oversized and non-JSON bodies', () =>
    arena.case('cp.body-limits', async () => {
      const headers = { ...MCP_HEADERS, ...bearer(arena.a.token) };
      const big = JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'tools/call',
        params: { name: 'write_file', arguments: { path: 'big.txt', content: 'x'.repeat(6 * 1024 * 1024) } },
      });
      const planeBefore = await arena.controlPlaneRssKiB();
      const declared = await raw({ path: arena.a.path, headers, body: big });
      const chunked = await raw({ path: arena.a.path, headers, body: big, chunked: true });
      const endless = await raw({
        path: arena.a.path,
        headers,
        body: Buffer.alloc(64 * 1024 * 1024, 0x20),
        chunked: true,
      });
      const text = await raw({
        path: arena.a.path,
        headers: { ...headers, 'content-type': 'text/plain' },
        body: '{}',
      });
      const form = await raw({
        path: arena.a.path,
        headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded' },
        body: 'a=b',
      });
      const v1 = await raw({
        path: '/v1/sandboxes',
        headers: { ...bearer(arena.plane.token), 'content-type': 'application/json' },
        body: JSON.stringify({ labels: { pad: 'x'.repeat(100 * 1024) } }),
      });
      const planeAfter = await arena.controlPlaneRssKiB();
      for (const response of [declared, chunked, endless])
        assert.ok([413, -1].includes(response.status), String(response.status));
      assert.equal(text.status, 415);
      assert.equal(form.status, 415);
      assert.equal(v1.status, 413);
      const listed = await arena.call(arena.a, 'list_dir', { path: '.' });
      assert.ok(!(listed.entries as { name: string }[]).some((entry) => entry.name === 'big.txt'));
      return {
        attempted:
          '6 MiB tools/call with Content-Length, the same chunked, 64 MiB of spaces chunked, text/plain and form bodies, a 100 KiB /v1 body',
        result: `${declared.status}, ${chunked.status}, ${endless.status} (413 or reset mid-upload), ${text.status}, ${form.status}, /v1 ${v1.status}; nothing written; control plane RSS ${(planeBefore / 1024).toFixed(0)}→${(planeAfter / 1024).toFixed(0)} MiB`,
      };
    }));

  it('answers malformed JSON-RPC with typed errors and keeps serving', () =>
    arena.case('cp.malformed-jsonrpc', async () => {
      const headers = { ...MCP_HEADERS, ...bearer(arena.a.token) };
      const call = (params: unknown) =>
        JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'tools/call', params });
      const bodies: [string, string][] = [
        ['truncated', '{"jsonrpc":"2.0","id":1,"method":'],
        ['empty', ''],
        ['null', 'null'],
        ['number', '42'],
        ['string', '"tools/list"'],
        ['batch', `[${call({ name: 'server_info', arguments: {} })}]`],
        ['empty batch', '[]'],
        ['deep arrays', `${'['.repeat(100_000)}${']'.repeat(100_000)}`],
        ['deep objects', `${'{"a":'.repeat(50_000)}1${'}'.repeat(50_000)}`],
        [
          'deep arguments',
          call({
            name: 'read_file',
            arguments: { path: JSON.parse(`${'['.repeat(60)}"x"${']'.repeat(60)}`) },
          }),
        ],
        ['jsonrpc 1.0', JSON.stringify({ jsonrpc: '1.0', id: 1, method: 'tools/list' })],
        ['no method', JSON.stringify({ jsonrpc: '2.0', id: 1 })],
        ['method number', JSON.stringify({ jsonrpc: '2.0', id: 1, method: 5 })],
        ['id object', JSON.stringify({ jsonrpc: '2.0', id: { x: 1 }, method: 'tools/list' })],
        ['unknown method', JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'sandbox/escape' })],
        ['params string', call('read_file')],
        ['arguments array', call({ name: 'read_file', arguments: ['x'] })],
        ['no name', call({ arguments: {} })],
        ['unknown tool', call({ name: 'rm_rf', arguments: {} })],
        ['tool __proto__', call({ name: '__proto__', arguments: {} })],
        ['tool constructor', call({ name: 'constructor', arguments: {} })],
        ['1 MiB tool name', call({ name: 'x'.repeat(1024 * 1024), arguments: {} })],
        [
          '__proto__ argument',
          '{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"read_file","arguments":{"path":"x","__proto__":{"polluted":1}}}}',
        ],
        [
          'duplicate keys',
          '{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"read_file","arguments":{"path":"x","path":"../../etc/passwd"}}}',
        ],
        ['lone surrogate', call({ name: 'read_file', arguments: { path: '\ud800' } })],
        [
          'invalid UTF-8',
          Buffer.concat([
            Buffer.from(call({ name: 'read_file', arguments: { path: 'A' } }).slice(0, -6)),
            Buffer.from([0xc0, 0xaf, 0x22, 0x7d, 0x7d, 0x7d]),
          ]).toString('latin1'),
        ],
        ['wrong protocol version', JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' })],
        ['2026 version without envelope', JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' })],
      ];
      const outcomes: string[] = [];
      for (const [label, body] of bodies) {
        const extra =
          label === 'wrong protocol version'
            ? { 'mcp-protocol-version': '1999-01-01' }
            : label === '2026 version without envelope'
              ? { 'mcp-protocol-version': '2026-07-28' }
              : {};
        const response = await raw({ path: arena.a.path, headers: { ...headers, ...extra }, body });
        const rpc = rpcOf(response.body);
        const typed =
          rpc?.error?.code !== undefined
            ? `rpc ${rpc.error.code}`
            : rpc?.result?.structuredContent?.ok === false
              ? (rpc.result.structuredContent.error?.code ?? '?')
              : response.status === 202
                ? 'accepted'
                : undefined;
        assert.ok(typed !== undefined, `${label}: ${response.status} ${response.body.slice(0, 200)}`);
        assert.ok(response.status < 500, `${label}: ${response.status}`);
        assert.ok(!response.body.includes('root:x:0:0'), `${label} leaked`);
        outcomes.push(`${label} ${response.status} ${typed}`);
      }
      const info = await arena.call(arena.a, 'server_info', {});
      assert.equal(info.ok, true);
      return {
        attempted: bodies.map(([label]) => label).join(', '),
        result: `${outcomes.join('; ')}; A's server_info still ok`,
      };
    }));

  it('wrong types and extra arguments get INVALID_ARGUMENT from every tool', () =>
    arena.case('cp.wrong-types', async () => {
      const tools = (await arena.a.client.listTools()).tools;
      const wrongValues: unknown[] = [
        null,
        42,
        -1,
        1e308,
        true,
        'x',
        [],
        ['x'],
        {},
        { nested: { deep: [1] } },
      ];
      const codes: string[] = [];
      let calls = 0;
      for (const tool of tools) {
        const properties = Object.keys((tool.inputSchema as { properties?: object }).properties ?? {});
        for (const property of properties) {
          for (const value of wrongValues) {
            const result = await arena.call(arena.a, tool.name, { [property]: value });
            calls++;
            const code = codeOf(result);
            assert.ok(
              code === 'ok' || KNOWN_CODES.has(code),
              `${tool.name}.${property}=${JSON.stringify(value)} → ${code}`,
            );
            assert.notEqual(
              code,
              'INTERNAL_ERROR',
              `${tool.name}.${property}=${JSON.stringify(value)}: ${JSON.stringify(result)}`,
            );
            codes.push(code);
          }
        }
        const extra = await arena.call(arena.a, tool.name, { surprise_argument: 1 });
        calls++;
        assert.equal(codeOf(extra), 'INVALID_ARGUMENT', `${tool.name} with an unknown argument`);
        codes.push('INVALID_ARGUMENT');
      }
      return {
        attempted: `${calls} calls: every property of every one of the ${tools.length} tools set to null, 42, -1, 1e308, true, "x", [], ["x"], {}, a nested object; plus an unknown argument each`,
        result: `${tally(codes)}; no INTERNAL_ERROR`,
      };
    }));

  it('1 MiB strings in every argument of every tool', () =>
    arena.case('cp.huge-strings', async () => {
      await arena.sh(arena.a, 'mkdir -p /workspace/huge && echo hello > /workspace/f.txt');
      const minimal: Record<string, Record<string, unknown>> = {
        read_file: { path: 'f.txt' },
        write_file: { path: 'huge/out.txt', content: 'x' },
        view_image: { path: 'f.txt' },
        search_text: { query: 'x' },
        apply_patch: { patch: '*** Begin Patch\n*** End Patch' },
        exec_command: { cmd: 'true' },
        write_stdin: { command_id: 'nope' },
        kill_command: { command_id: 'nope' },
        read_output: { output_ref: 'command:nope:stdout' },
        git_blame: { path: 'f.txt' },
      };
      const huge = `${'x'.repeat(1024 * 1024 - 2)}/y`;
      const tools = (await arena.a.client.listTools()).tools;
      const planeBefore = await arena.controlPlaneRssKiB();
      const codes: string[] = [];
      for (const tool of tools) {
        const properties = Object.keys((tool.inputSchema as { properties?: object }).properties ?? {});
        // All at once, each string as long as the 4 MiB body cap allows.
        const share = `${'x'.repeat(Math.floor((3.5 * 1024 * 1024) / Math.max(properties.length, 1)) - 2)}/y`;
        const all: Record<string, unknown> = {};
        for (const property of properties) {
          all[property] = share;
          const result = await arena.call(arena.a, tool.name, { ...minimal[tool.name], [property]: huge });
          const code = codeOf(result);
          assert.ok(code === 'ok' || KNOWN_CODES.has(code), `${tool.name}.${property} → ${code}`);
          assert.notEqual(
            code,
            'INTERNAL_ERROR',
            `${tool.name}.${property}: ${JSON.stringify(result).slice(0, 300)}`,
          );
          codes.push(`${tool.name}.${property}:${code}`);
        }
        if (properties.length > 1) {
          const result = await arena.call(arena.a, tool.name, all);
          assert.ok(
            KNOWN_CODES.has(codeOf(result)),
            `${tool.name} with every argument huge → ${codeOf(result)}`,
          );
          codes.push(`${tool.name}.*:${codeOf(result)}`);
        }
      }
      const successes = codes.filter((code) => code.endsWith(':ok'));
      const planeAfter = await arena.controlPlaneRssKiB();
      return {
        attempted: `a 1 MiB string in each of the ${codes.length - tools.filter((t) => Object.keys((t.inputSchema as { properties?: object }).properties ?? {}).length > 1).length} arguments of the ${tools.length} tools, one at a time, then in all arguments at once (3.5 MiB shared, under the 4 MiB body cap)`,
        result: `${tally(codes.map((code) => code.split(':')[1] as string))}; accepted where 1 MiB is legitimate: ${successes.map((code) => code.split(':')[0]).join(', ')}; control plane RSS ${(planeBefore / 1024).toFixed(0)}→${(planeAfter / 1024).toFixed(0)} MiB`,
      };
    }));

  it("a workspace name cannot claim another sandbox's volume", () =>
    arena.case('cp.workspace-collision', async () => {
      // Per-sandbox volumes are sandboxd-ws-<id>, named workspaces sandboxd-ws-<name>: the
      // name sb-<id of B> would be B's own volume.
      const response = await arena.plane.fetch('/v1/sandboxes', {
        method: 'POST',
        body: JSON.stringify({ workspace: arena.b.id }),
      });
      const body = (await response.json()) as {
        id?: string;
        token?: string;
        mcpUrl?: string;
        error?: { code: string };
      };
      let leaked = false;
      if (response.status === 201 && body.id !== undefined) {
        const client = await arena.plane.client(new URL(body.mcpUrl as string).pathname, body.token);
        const read = await arena.call(client, 'read_file', { path: arena.neighbourFile });
        leaked = read.content === arena.neighbourContent;
        await client.close();
        await arena.plane.fetch(`/v1/sandboxes/${body.id}`, { method: 'DELETE' });
      }
      const named = await raw({
        path: `/w/${arena.b.id}/mcp`,
        headers: { ...MCP_HEADERS, ...bearer(arena.plane.token) },
        body: readNeighbour(),
      });
      const namedLeak = named.body.includes(arena.neighbourContent.trim());
      assert.ok(!leaked, "a /v1 workspace named after B's id mounted B's volume");
      assert.ok(!namedLeak, "/w/<B's id>/mcp reached B's volume");
      assert.equal(response.status, 400, JSON.stringify(body));
      return {
        attempted: `operator POST /v1/sandboxes {workspace: "${arena.b.id}"} and /w/${arena.b.id}/mcp (B's volume is sandboxd-ws-${arena.b.id})`,
        result: `/v1 ${response.status} ${body.error?.code ?? ''}; /w ${named.status}; B's volume never mounted elsewhere`,
      };
    }));

  it('a process in A posing as its agent on the control socket cannot hurt the control plane', () =>
    arena.case('cp.rogue-agent', async () => {
      const rogue = `
import json, os, signal, socket, time
P = '/run/sandboxd/control.sock'
log = lambda *a: print(*a, flush=True)
def conn():
    # A sandbox that keeps breaking the protocol finds its socket closed for a while: dial again.
    for _ in range(300):
        s = socket.socket(socket.AF_UNIX)
        try:
            s.connect(P); return s
        except (FileNotFoundError, ConnectionRefusedError):
            s.close(); time.sleep(0.05)
    raise OSError('the socket stayed closed')
def fate(s, data, wait=2):
    try:
        s.sendall(data)
    except OSError as e:
        return 'send:' + type(e).__name__
    s.settimeout(wait)
    try:
        return 'closed' if s.recv(65536) == b'' else 'answered'
    except socket.timeout:
        return 'still-open'
    except OSError as e:
        return type(e).__name__
def hello(version=${PROTOCOL_VERSION}):
    return (json.dumps({'jsonrpc': '2.0', 'method': 'hello', 'params': {'protocolVersion': version,
        'agentVersion': 'rogue', 'pid': 4242, 'uid': 0, 'gid': 0, 'activeCommands': 0}}) + '\\n').encode()
time.sleep(0.5)
log('garbage-first-line', fate(conn(), b'not json\\n'))
log('request-instead-of-hello', fate(conn(), b'{"jsonrpc":"2.0","id":1,"method":"tool","params":{}}\\n'))
log('oversized-hello', fate(conn(), b'{"x":"' + b'a' * (200 * 1024)))
log('wrong-version', fate(conn(), hello(999)))
held, refused = [], 0
for _ in range(16):
    s = conn(); s.settimeout(0.2)
    try:
        if s.recv(1) == b'':
            refused += 1; s.close()
        else:
            held.append(s)
    except socket.timeout:
        held.append(s)
log('idle-connections', 'held', len(held), 'refused', refused)
for s in held: s.close()
time.sleep(0.3)
# Take over: stop the real agent (the workload runs as its user), then say a valid hello.
agents = [int(d) for d in os.listdir('/proc') if d.isdigit()
          and open('/proc/%s/cmdline' % d, 'rb').read().startswith(b'node\\0/opt/sandboxd/agent.mjs')]
for pid in agents: os.kill(pid, signal.SIGSTOP)
try:
    for attempt in range(10):
        me = conn()
        f = me.makefile('rb')
        try:
            me.sendall(hello()); line = f.readline()
        except OSError:
            line = b''  # dialled just as the socket closed
        if line:
            break
        time.sleep(0.5)
    request = json.loads(line); log('takeover', 'attempt', attempt + 1, 'first-request', request['method'])
    me.sendall((json.dumps({'jsonrpc': '2.0', 'id': request['id'], 'result': {}}) + '\\n').encode())
    answers = [
        ('100KiB-summary', lambda rid: {'jsonrpc': '2.0', 'id': rid, 'result': {'summary': 'x' * (100 * 1024), 'result': {}}}),
        ('non-object-result', lambda rid: {'jsonrpc': '2.0', 'id': rid, 'result': {'summary': 'ok', 'result': 'not an object'}}),
        ('forged-error', lambda rid: {'jsonrpc': '2.0', 'id': rid, 'error': {'code': -32000, 'message': 'x', 'data': {'code': 'SYMLINK_ESCAPE', 'message': 'forged', 'category': 'security', 'retryable': False}}}),
        ('33MiB-line', None),
    ]
    me.settimeout(20)
    for label, answer in answers:
        line = f.readline()
        if not line:
            log('link-closed-before', label); break
        request = json.loads(line)
        if answer is None:
            try:
                me.sendall(b'[' * (33 * 1024 * 1024))
                log(label, 'sent')
            except OSError as e:
                log(label, type(e).__name__)
            break
        me.sendall((json.dumps(answer(request['id'])) + '\\n').encode())
        log(label, 'sent')
    log('rogue-done', fate(me, b'', 1))
finally:
    for pid in agents: os.kill(pid, signal.SIGCONT)
`;
      const planeBefore = await arena.controlPlaneRssKiB();
      const started = await arena.exec(arena.a, 'python3 -', {
        stdin: rogue,
        yield_time_ms: 100,
        timeout_ms: 60_000,
      });
      assert.equal(started.status, 'running', started.stderr);
      // While the rogue holds A's link, A's tool calls reach it; every hostile reply must
      // come back as a typed error.
      const seen: string[] = [];
      const deadline = Date.now() + 40_000;
      let takeoverSeen = false;
      while (Date.now() < deadline) {
        const result = await arena
          .call(arena.a, 'read_file', { path: 'nothing-here' }, 45_000)
          .catch(
            (error: Error) =>
              ({ ok: false, error: { code: `THROWN:${error.message.slice(0, 60)}` } }) as Structured,
          );
        const code = codeOf(result);
        if (code !== 'NOT_FOUND') takeoverSeen = true;
        seen.push(code);
        if (takeoverSeen && code === 'NOT_FOUND') break; // the real agent is back
        await new Promise((resolve) => setTimeout(resolve, 150));
      }
      const hostile = seen.filter((code) => code !== 'NOT_FOUND');
      for (const code of hostile) assert.ok(KNOWN_CODES.has(code), `typed: ${code}`);
      assert.ok(takeoverSeen, 'the rogue got hold of the link');
      assert.equal(seen.at(-1), 'NOT_FOUND', 'the real agent took A back');
      const log = await arena.call(arena.a, 'write_stdin', {
        command_id: started.command_id,
        chars: '',
        yield_time_ms: 20_000,
      });
      const planeAfter = await arena.controlPlaneRssKiB();
      const info = await arena.call(arena.a, 'server_info', {});
      return {
        attempted:
          'from a command in A, dial /run/sandboxd/control.sock: garbage, a request before hello, a 200 KiB hello, a wrong protocol version, 16 idle connections; then SIGSTOP the agent, say a valid hello, and send hostile replies to the tool calls (a 100 KiB summary, a non-object result, a forged typed error, a 33 MiB line); SIGCONT the agent',
        result: `rogue log: ${String(log.stdout ?? '')
          .trim()
          .replace(
            /\n/g,
            '; ',
          )}; A's calls meanwhile: ${tally(hostile)}; then the real agent (pid ${(info.sandbox as { agent?: { pid?: number } }).agent?.pid}) took A back; control plane RSS ${(planeBefore / 1024).toFixed(0)}→${(planeAfter / 1024).toFixed(0)} MiB`,
      };
    }));
});
