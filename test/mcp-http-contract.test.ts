import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { toolNames } from '../src/mcp/server.ts';
import { ControlPlane } from './support/control-plane.ts';
import {
  callTool,
  LEGACY,
  legacyRequest,
  MODERN,
  modernMeta,
  modernRequest,
  post,
  rawRequest,
} from './support/raw-mcp.ts';

/**
 * The HTTP leg of MCP as a client without our SDK meets it: version
 * negotiation, the answers before dispatch, browsers, the 2026-07-28 request
 * metadata headers (SEP-2243) and discovery. Raw requests only.
 */

let plane: ControlPlane;

before(async () => {
  plane = await ControlPlane.create();
  await plane.start();
});
after(() => plane.destroy());

const initialize = (protocolVersion: unknown) => ({
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion, capabilities: {}, clientInfo: { name: 'raw-client', version: '1.0.0' } },
});

/** What a socket gets back for bytes written by hand, read until the server has answered. */
function exchange(bytes: string): Promise<string> {
  const url = new URL(plane.baseUrl);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(url.port), url.hostname);
    let answer = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      answer += chunk;
      if (/\r\n\r\n/.test(answer)) socket.end();
    });
    socket.on('end', () => resolve(answer));
    socket.on('error', reject);
    socket.write(bytes);
  });
}

describe('initialize with a version the server does not speak', () => {
  it('is answered with the newest legacy version: an old date, a made-up date, 2026-07-28 or a number', async () => {
    for (const version of ['2024-11-05', '2030-13-45', MODERN, 20250618, null]) {
      const answer = await post(plane, initialize(version));
      assert.equal(answer.status, 200, String(version));
      assert.equal(answer.body.result?.protocolVersion, LEGACY, String(version));
    }
    const spoken = await post(plane, initialize('2025-06-18'));
    assert.equal(spoken.body.result?.protocolVersion, '2025-06-18', 'a version it speaks is kept');
  });
});

describe('answers before dispatch', () => {
  it('carry id null and the JSON-RPC code for what went wrong', async () => {
    const cases: [string, Record<string, string>, number, number][] = [
      ['{"jsonrpc":', {}, 400, -32700],
      ['[{"jsonrpc":"2.0","id":1,"method":"ping"}]', {}, 400, -32600],
      ['{"jsonrpc":"1.0","id":1,"method":"ping"}', {}, 400, -32600],
      ['{"jsonrpc":"2.0","id":1}', {}, 400, -32600],
      ['{"jsonrpc":"2.0","id":1,"result":{}}', {}, 400, -32600],
      ['{"jsonrpc":"2.0","id":1,"method":"ping"}', { 'content-type': 'text/plain' }, 415, -32600],
    ];
    for (const [body, headers, status, code] of cases) {
      const answer = await post(plane, body, headers);
      assert.equal(answer.status, status, body);
      assert.equal(answer.body.error?.code, code, body);
      assert.equal(answer.body.id, null, body);
    }
  });

  it('refuses a malformed Content-Length with 400 and an oversized one with 413 before reading the body', async () => {
    const head = (length: string) =>
      `POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${plane.token}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${length}\r\n\r\n`;
    assert.match(await exchange(head('abc')), /^HTTP\/1\.1 400/);
    // No byte of the 1 TB body is sent: the answer can only come from the header.
    const oversized = await exchange(head('1000000000000'));
    assert.match(oversized, /^HTTP\/1\.1 413/);
  });

  it('accepts a notification with 202 even when Accept omits text/event-stream', async () => {
    for (const accept of ['application/json', '']) {
      const answer = await post(plane, { jsonrpc: '2.0', method: 'notifications/initialized' }, { accept });
      assert.equal(answer.status, 202, accept);
    }
  });

  it('answers GET and DELETE with 405, and a running command goes on undisturbed', async () => {
    const started = await callTool(plane, 'exec_command', {
      cmd: 'sleep 1.5; echo finished',
      yield_time_ms: 100,
    });
    assert.equal(started.structuredContent.status, 'running');
    const id = started.structuredContent.command_id as string;
    for (const method of ['GET', 'DELETE']) {
      const answer = await rawRequest(plane, {
        method,
        headers: { accept: 'text/event-stream', 'mcp-session-id': 'any' },
      });
      assert.equal(answer.status, 405, method);
      assert.equal(answer.headers.allow, 'POST');
      assert.equal(JSON.parse(answer.text).id, null);
    }
    const polled = await callTool(plane, 'write_stdin', { command_id: id, chars: '', yield_time_ms: 10_000 });
    assert.equal(polled.structuredContent.status, 'exited');
    assert.equal(polled.structuredContent.exit_code, 0);
    assert.match(String(polled.structuredContent.stdout), /finished/);
  });
});

describe('browsers', () => {
  it('get a 204 preflight from an allowed origin that names the headers clients must send', async () => {
    const answer = await rawRequest(plane, {
      method: 'OPTIONS',
      headers: {
        origin: 'http://localhost:3000',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization, content-type, mcp-method',
      },
    });
    assert.equal(answer.status, 204);
    assert.equal(answer.headers['access-control-allow-origin'], 'http://localhost:3000');
    const allowed = String(answer.headers['access-control-allow-headers']).toLowerCase();
    for (const header of ['mcp-method', 'mcp-name', 'mcp-protocol-version', 'authorization', 'content-type'])
      assert.ok(allowed.includes(header), header);
  });

  it('are refused 403, -32600, id null, for any origin that is not exactly an allowed one', async () => {
    for (const origin of [
      'http://localhost:3000/path',
      'http://localhost:3000?query=1',
      'http://localhost@evil.example',
      'http://localhost.evil.example',
      'null',
    ]) {
      const answer = await post(plane, initialize(LEGACY), { origin });
      assert.equal(answer.status, 403, origin);
      assert.equal(answer.body.error?.code, -32600, origin);
      assert.equal(answer.body.id, null, origin);
    }
    const allowed = await post(plane, initialize(LEGACY), { origin: 'http://localhost:3000' });
    assert.equal(allowed.status, 200);
    assert.equal(allowed.headers.get('access-control-allow-origin'), 'http://localhost:3000');
  });
});

describe('2026-07-28 request metadata headers (SEP-2243)', () => {
  const mismatch = async (answer: Awaited<ReturnType<typeof post>>, header: RegExp) => {
    assert.equal(answer.status, 400);
    assert.equal(answer.body.error?.code, -32020);
    assert.match(answer.body.error?.message ?? '', header);
  };

  it('serves a request whose headers mirror its body, a Base64-encoded name included', async () => {
    const list = await modernRequest(plane, 'tools/list');
    assert.equal(list.status, 200);
    assert.equal((list.body.result?.tools as unknown[] | undefined)?.length, toolNames.length);
    const call = await modernRequest(
      plane,
      'tools/call',
      { name: 'exec_command', arguments: { cmd: 'echo modern' } },
      { 'mcp-name': `=?base64?${Buffer.from('exec_command').toString('base64')}?=` },
    );
    assert.equal(call.status, 200);
    assert.equal((call.body.result?.structuredContent as { stdout: string } | undefined)?.stdout, 'modern\n');
  });

  it('refuses a missing Mcp-Method or Mcp-Name with -32020 naming it', async () => {
    const noMethod = await post(
      plane,
      { jsonrpc: '2.0', id: 7, method: 'tools/list', params: { _meta: modernMeta } },
      { 'mcp-protocol-version': MODERN },
    );
    await mismatch(noMethod, /Mcp-Method/);
    const noName = await post(
      plane,
      {
        jsonrpc: '2.0',
        id: 8,
        method: 'tools/call',
        params: { name: 'server_info', arguments: {}, _meta: modernMeta },
      },
      { 'mcp-protocol-version': MODERN, 'mcp-method': 'tools/call' },
    );
    await mismatch(noName, /Mcp-Name/);
  });

  it('refuses a mismatching, repeated or malformed mirror header, or a bad Base64 sentinel', async () => {
    const serverInfo = { name: 'server_info', arguments: {} };
    const cases: [string, Record<string, unknown>, Record<string, string>, RegExp][] = [
      ['tools/list', {}, { 'mcp-method': 'tools/call' }, /Mcp-Method/],
      ['tools/call', serverInfo, { 'mcp-name': 'read_file' }, /Mcp-Name/],
      ['tools/call', serverInfo, { 'mcp-name': '=?base64?%%%?=' }, /Mcp-Name/],
      ['tools/list', {}, { 'mcp-protocol-version': LEGACY }, /MCP-Protocol-Version/],
    ];
    for (const [method, params, headers, named] of cases)
      await mismatch(await modernRequest(plane, method, params, headers), named);
    // node:http sends what fetch would not: a header line twice, raw bytes outside ASCII.
    const sentByHand = async (
      method: string,
      name: string | undefined,
      headers: Record<string, string | string[]>,
    ) => {
      const params = { ...(name === undefined ? {} : { name, arguments: {} }), _meta: modernMeta };
      const answer = await rawRequest(plane, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          'mcp-protocol-version': MODERN,
          ...headers,
        },
        body: JSON.stringify({ jsonrpc: '2.0', id: 9, method, params }),
      });
      assert.equal(answer.status, 400);
      return JSON.parse(answer.text).error as { code: number; message: string };
    };
    const repeated = await sentByHand('tools/list', undefined, {
      'mcp-method': ['tools/list', 'tools/list'],
    });
    assert.equal(repeated.code, -32020);
    assert.match(repeated.message, /Mcp-Method/);
    const raw = Buffer.from('server_infö', 'utf8').toString('latin1');
    const malformed = await sentByHand('tools/call', 'server_infö', {
      'mcp-method': 'tools/call',
      'mcp-name': raw,
    });
    assert.equal(malformed.code, -32020);
    assert.match(malformed.message, /Mcp-Name/);
  });

  it('answers an MCP-Protocol-Version it does not speak with the supported versions', async () => {
    for (const version of ['2099-01-01', '2024-11-05']) {
      const answer = await post(
        plane,
        { jsonrpc: '2.0', id: 11, method: 'tools/list', params: {} },
        { 'mcp-protocol-version': version },
      );
      assert.equal(answer.status, 400, version);
      assert.equal(answer.body.error?.code, -32022, version);
      assert.deepEqual(answer.body.error?.data, {
        supported: [MODERN, LEGACY, '2025-06-18'],
        requested: version,
      });
    }
  });
});

describe('discovery', () => {
  for (const path of ['/mcp/server-card', '/.well-known/mcp.json']) {
    it(`${path} names the endpoint, its methods and every protocol version, without a token`, async () => {
      const response = await fetch(`${plane.baseUrl}${path}`);
      assert.equal(response.status, 200);
      const card = (await response.json()) as {
        name: string;
        remotes: { type: string; url: string; supportedProtocolVersions: string[] }[];
        _meta: Record<string, { httpMethods: string[]; methods: Record<string, string[]> }>;
      };
      assert.deepEqual(card.remotes[0], {
        ...card.remotes[0],
        type: 'streamable-http',
        url: `${plane.baseUrl}/mcp`,
        supportedProtocolVersions: [MODERN, LEGACY, '2025-06-18'],
      });
      const endpoint = card._meta['io.sandboxd/endpoint'];
      assert.deepEqual(endpoint?.httpMethods, ['POST']);
      // Every method the card names is one the endpoint answers in that era.
      for (const method of endpoint?.methods[MODERN] ?? []) {
        const params = method === 'tools/call' ? { name: 'server_info', arguments: {} } : {};
        const answer = await modernRequest(plane, method, params);
        assert.equal(answer.body.error, undefined, `${method}: ${JSON.stringify(answer.body.error)}`);
      }
      for (const method of (endpoint?.methods.legacy ?? []).filter(
        (name) => !name.startsWith('notifications/'),
      )) {
        const params =
          method === 'initialize'
            ? initialize(LEGACY).params
            : method === 'tools/call'
              ? { name: 'server_info', arguments: {} }
              : {};
        const answer = await legacyRequest(plane, method, params);
        assert.equal(answer.body.error, undefined, `${method}: ${JSON.stringify(answer.body.error)}`);
      }
    });
  }
});
