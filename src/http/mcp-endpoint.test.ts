import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { McpServer } from '@modelcontextprotocol/server';
import { z } from 'zod';
import { createMcpServer } from '../mcp/server.ts';
import type { WorkspaceTarget } from '../mcp/target.ts';
import { McpEndpoint } from './mcp-endpoint.ts';

const URL_ = 'http://127.0.0.1:1/mcp';

/** An endpoint over a one-tool server that counts the instances it builds and what they were built for. */
function endpointUnderTest() {
  const built: { withInstructions: boolean; server: McpServer }[] = [];
  const served: McpServer[] = [];
  const endpoint = new McpEndpoint(
    ({ withInstructions }) => {
      const server = new McpServer(
        { name: 'test', version: '1.0.0' },
        { capabilities: { tools: {} }, ...(withInstructions ? { instructions: 'read the docs' } : {}) },
      );
      server.registerTool('echo', { inputSchema: z.object({ text: z.string() }) }, async ({ text }) => {
        served.push(server);
        return { content: [{ type: 'text', text }] };
      });
      built.push({ withInstructions, server });
      return server;
    },
    { maxRequestBodySize: 1024 * 1024, onerror: () => {} },
  );
  // What the hono route does: the body parsed once, the raw Request handed on.
  const fetchLike = async (input: string | URL | Request, init?: RequestInit) => {
    const request = new Request(input, init);
    const text = request.method === 'POST' ? await request.clone().text() : '';
    return endpoint.fetch(request, text === '' ? undefined : JSON.parse(text));
  };
  return { endpoint, built, served, fetchLike };
}

async function post(fetchLike: ReturnType<typeof endpointUnderTest>['fetchLike'], body: unknown) {
  return fetchLike(URL_, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': '2025-11-25',
    },
    body: JSON.stringify(body),
  });
}

const callEcho = (id: number, text: string) => ({
  jsonrpc: '2.0',
  id,
  method: 'tools/call',
  params: { name: 'echo', arguments: { text } },
});

describe('McpEndpoint: 2025-era requests', () => {
  test('a tools/call is answered with one JSON body, not an SSE stream', async () => {
    const { fetchLike } = endpointUnderTest();
    const response = await post(fetchLike, callEcho(7, 'hello'));
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^application\/json/);
    const answer = (await response.json()) as { id: number; result: { content: { text: string }[] } };
    assert.equal(answer.id, 7);
    assert.equal(answer.result.content[0]?.text, 'hello');
  });

  test('sequential calls reuse one server instance, concurrent calls get their own', async () => {
    const { fetchLike, built, served } = endpointUnderTest();
    for (let index = 0; index < 5; index++) await (await post(fetchLike, callEcho(index, 'x'))).json();
    assert.equal(built.length, 1);
    assert.equal(new Set(served).size, 1);
    await Promise.all([1, 2, 3].map(async (id) => (await post(fetchLike, callEcho(id, 'y'))).json()));
    assert.equal(built.length, 3, 'two more instances for three calls in flight at once');
  });

  test('initialize gets a fresh instance with instructions, which is not reused', async () => {
    const { fetchLike, built } = endpointUnderTest();
    await (await post(fetchLike, callEcho(1, 'warm'))).json();
    const initialize = {
      jsonrpc: '2.0',
      id: 2,
      method: 'initialize',
      params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'a', version: '1' } },
    };
    const answer = (await (await post(fetchLike, initialize)).json()) as {
      result: { instructions?: string };
    };
    assert.equal(answer.result.instructions, 'read the docs');
    assert.deepEqual(
      built.map((each) => each.withInstructions),
      [false, true],
    );
    await (await post(fetchLike, callEcho(3, 'after'))).json();
    assert.equal(built.length, 2, 'the call after initialize took the idle instance, not the handshake one');
  });

  test('GET and DELETE are refused with 405, Allow: POST and an invalid request: there is no session', async () => {
    const { fetchLike, built } = endpointUnderTest();
    for (const method of ['GET', 'DELETE']) {
      const response = await fetchLike(URL_, { method, headers: { accept: 'text/event-stream' } });
      assert.equal(response.status, 405, method);
      assert.equal(response.headers.get('allow'), 'POST');
      assert.deepEqual(await response.json(), {
        jsonrpc: '2.0',
        error: { code: -32600, message: 'Method Not Allowed: send JSON-RPC with POST' },
        id: null,
      });
    }
    assert.equal(built.length, 0, 'no server was built for them');
  });

  test('a notification is 202 whatever the Accept header says', async () => {
    const { fetchLike } = endpointUnderTest();
    for (const accept of ['application/json', 'text/plain', '']) {
      const response = await fetchLike(URL_, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept },
        body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }),
      });
      assert.equal(response.status, 202, accept);
    }
  });

  test('a request is answered in JSON to a client that accepts JSON alone, refused to one that does not', async () => {
    const { fetchLike } = endpointUnderTest();
    const send = (accept: string) =>
      fetchLike(URL_, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept },
        body: JSON.stringify(callEcho(3, 'json')),
      });
    for (const accept of ['application/json', '*/*', '']) {
      const response = await send(accept);
      assert.equal(response.status, 200, accept);
      assert.equal(((await response.json()) as { id: number }).id, 3);
    }
    const refused = await send('text/html');
    assert.equal(refused.status, 406);
    assert.equal(((await refused.json()) as { error: { code: number } }).error.code, -32600);
  });

  test('a notification is accepted with 202 without an instance: the next call builds the only one', async () => {
    const { fetchLike, built, served } = endpointUnderTest();
    const response = await post(fetchLike, { jsonrpc: '2.0', method: 'notifications/initialized' });
    assert.equal(response.status, 202);
    await (await post(fetchLike, callEcho(1, 'x'))).json();
    assert.equal(built.length, 1);
    assert.equal(served[0], built[0]?.server);
  });

  test('an unknown tool is a JSON-RPC answer, and the instance stays usable', async () => {
    const { fetchLike } = endpointUnderTest();
    const bad = (await (
      await post(fetchLike, { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'nope' } })
    ).json()) as { result?: { isError: boolean }; error?: unknown };
    assert.ok(bad.error !== undefined || bad.result?.isError === true);
    const good = (await (await post(fetchLike, callEcho(2, 'fine'))).json()) as {
      result: { content: { text: string }[] };
    };
    assert.equal(good.result.content[0]?.text, 'fine');
  });
});

describe('McpEndpoint: clients of either era', () => {
  for (const mode of ['legacy', 'auto'] as const) {
    test(`an SDK client negotiating '${mode}' connects, sees the instructions and calls a tool`, async () => {
      const { fetchLike, built } = endpointUnderTest();
      const client = new Client({ name: 'test', version: '1.0.0' }, { versionNegotiation: { mode } });
      await client.connect(new StreamableHTTPClientTransport(new URL(URL_), { fetch: fetchLike }));
      assert.equal(client.getNegotiatedProtocolVersion(), mode === 'legacy' ? '2025-11-25' : '2026-07-28');
      assert.equal(client.getInstructions(), 'read the docs');
      const result = (await client.callTool({ name: 'echo', arguments: { text: 'hi' } })) as {
        content: { text: string }[];
      };
      assert.equal(result.content[0]?.text, 'hi');
      assert.equal(
        built.filter((each) => each.withInstructions).length,
        1,
        'only the handshake carried them',
      );
      await client.close();
    });
  }
});

describe('McpEndpoint: initialize with a version the server does not speak', () => {
  const target = {
    sandbox: async () => {
      throw new Error('no sandbox in this test');
    },
    currentSandbox: () => undefined,
    facts: () => ({ name: 'default', kind: 'volume', source: 'default', policy: 'default' }),
  } as WorkspaceTarget;

  test('an old date, a made-up date, the stateless version or a number: the newest legacy version', async () => {
    const endpoint = new McpEndpoint(async () => createMcpServer(target), {
      maxRequestBodySize: 1024 * 1024,
      onerror: () => {},
    });
    try {
      for (const protocolVersion of ['2024-11-05', '2031-02-30', '2026-07-28', 20250618, '2025-06-18']) {
        const body = {
          jsonrpc: '2.0',
          id: 1,
          method: 'initialize',
          params: { protocolVersion, capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
        };
        const request = new Request(URL_, {
          method: 'POST',
          headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
          body: JSON.stringify(body),
        });
        const response = await endpoint.fetch(request, body);
        assert.equal(response.status, 200, String(protocolVersion));
        const answer = (await response.json()) as { result: { protocolVersion: string } };
        const expected = protocolVersion === '2025-06-18' ? '2025-06-18' : '2025-11-25';
        assert.equal(answer.result.protocolVersion, expected, String(protocolVersion));
      }
    } finally {
      await endpoint.close();
    }
  });
});
