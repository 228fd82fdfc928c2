import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { ControlPlane, structured } from './support/control-plane.ts';
import { close, listen } from './support/egress-servers.ts';

/**
 * Asking the user for a host: a policy whose allow-list starts empty but lets
 * users be asked (network.egress.ask), a real MCP client that answers the
 * elicitation as a person would, and curl in the sandbox before and after. The
 * test-only override points web.test at this host's loopback.
 */

let plane: ControlPlane;
let web: http.Server;
let port: number;
let sandbox: { id: string; token: string };
const asked: string[] = [];

async function client(answer: boolean | undefined, era: 'legacy' | 'modern' = 'modern'): Promise<Client> {
  const made = new Client(
    { name: 'sandboxd-elicitation-test', version: '1.0.0' },
    {
      ...(answer === undefined ? {} : { capabilities: { elicitation: { form: {} } } }),
      versionNegotiation: { mode: era === 'modern' ? { pin: '2026-07-28' } : 'legacy' },
    },
  );
  if (answer !== undefined) {
    made.setRequestHandler('elicitation/create', async (request) => {
      asked.push(String((request.params as { message?: string }).message));
      return { action: 'accept', content: { allow: answer } };
    });
  }
  await made.connect(
    new StreamableHTTPClientTransport(new URL(`${plane.baseUrl}/s/${sandbox.id}/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${sandbox.token}` } },
    }),
  );
  return made;
}

async function curl(mcp: Client): Promise<string> {
  const result = structured(
    await mcp.callTool({
      name: 'exec_command',
      arguments: {
        cmd: `curl -s -o /dev/null -w '%{http_code}' http://web.test:${port}/`,
        yield_time_ms: 15_000,
      },
    }),
  );
  return String(result.stdout);
}

function ask(mcp: Client, host = 'web.test') {
  return mcp.callTool({
    name: 'request_permissions',
    arguments: { permission: 'network', reason: 'npm install needs it', arguments: { host, port } },
  });
}

before(async () => {
  web = http.createServer((_request, response) => response.end('reached\n'));
  port = await listen(web);
  plane = await ControlPlane.create({
    network: { egress: { hosts: [], ports: [port], cidrs: ['127.0.0.1/32'], ask: true } },
  });
  await plane.start({
    SANDBOXD_TEST_HOST_OVERRIDES: JSON.stringify({ 'web.test': ['127.0.0.1'], 'other.test': ['127.0.0.1'] }),
    SANDBOXD_LOG_LEVEL: 'info',
  });
  const response = await plane.fetch('/v1/sandboxes', { method: 'POST', body: '{}' });
  sandbox = (await response.json()) as { id: string; token: string };
  assert.equal(response.status, 201);
});

after(async () => {
  await plane?.destroy();
  if (web) await close(web);
});

describe('request_permissions for a network host', () => {
  it('answers ELICITATION_UNSUPPORTED to a client that cannot ask, and adds nothing', async () => {
    const mcp = await client(undefined);
    try {
      const result = await ask(mcp);
      assert.equal(result.isError, true);
      assert.equal((structured(result).error as { code: string }).code, 'ELICITATION_UNSUPPORTED');
      assert.equal(await curl(mcp), '403');
    } finally {
      await mcp.close();
    }
  });

  it('adds nothing when the user declines', async () => {
    const mcp = await client(false);
    try {
      const result = structured(await ask(mcp, 'other.test'));
      assert.equal(result.granted, false);
      assert.match(
        asked.at(-1) ?? '',
        new RegExp(`Allow sandbox ${sandbox.id} to reach other\\.test on port ${port}\\?`),
      );
      const described = (await (await plane.fetch(`/v1/sandboxes/${sandbox.id}`)).json()) as {
        egress: { hosts: string[] };
      };
      assert.deepEqual(described.egress.hosts, []);
    } finally {
      await mcp.close();
    }
  });

  it('asks the user, and once they allow, the host works for this sandbox and is listed and logged', async () => {
    const mcp = await client(true);
    try {
      assert.equal(await curl(mcp), '403', 'refused before');
      const result = structured(await ask(mcp));
      assert.deepEqual(
        { granted: result.granted, host: result.host, port: result.port, scope: result.scope },
        { granted: true, host: 'web.test', port, scope: 'sandbox' },
      );
      assert.match(asked.at(-1) ?? '', /npm install needs it/);
      assert.equal(await curl(mcp), '200', 'allowed after');
      const described = (await (await plane.fetch(`/v1/sandboxes/${sandbox.id}`)).json()) as {
        egress: { hosts: string[] };
      };
      assert.deepEqual(described.egress.hosts, ['web.test']);
      assert.match(plane.stderr, /"msg":"egress host approved by the user"/);
    } finally {
      await mcp.close();
    }
  });

  it('answers a 2025-11-25 client over stateless HTTP ELICITATION_UNSUPPORTED (its capabilities are not known per request)', async () => {
    const mcp = await client(true, 'legacy');
    try {
      const before = asked.length;
      const result = await ask(mcp, 'other.test');
      assert.equal((structured(result).error as { code: string }).code, 'ELICITATION_UNSUPPORTED');
      assert.equal(asked.length, before, 'nobody was asked');
    } finally {
      await mcp.close();
    }
  });

  it('refuses a port the policy does not list, and an address instead of a name', async () => {
    const mcp = await client(true);
    try {
      const wrongPort = await mcp.callTool({
        name: 'request_permissions',
        arguments: { permission: 'network', arguments: { host: 'web.test', port: port + 1 } },
      });
      assert.equal((structured(wrongPort).error as { code: string }).code, 'INVALID_ARGUMENT');
      const address = await mcp.callTool({
        name: 'request_permissions',
        arguments: { permission: 'network', arguments: { host: '169.254.169.254' } },
      });
      assert.equal((structured(address).error as { code: string }).code, 'INVALID_ARGUMENT');
    } finally {
      await mcp.close();
    }
  });
});
