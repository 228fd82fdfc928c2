import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Hono } from 'hono';
import { mcpCors } from './cors.ts';
import { allowedHosts, allowedOrigins, hostNameOf, isAllowedOrigin } from './origin.ts';

const LOCAL = ['localhost', '127.0.0.1', '[::1]'];

describe('browser origins are matched exactly', () => {
  test('a local origin on any port is allowed, in the form browsers send', () => {
    for (const origin of [
      'http://localhost:3000',
      'http://127.0.0.1',
      'https://localhost',
      'http://[::1]:6274',
    ])
      assert.ok(isAllowedOrigin(origin, LOCAL), origin);
  });

  test('anything that only looks local is refused', () => {
    for (const origin of [
      'http://localhost:3000/path',
      'http://localhost:3000?query=1',
      'http://localhost:3000/',
      'http://localhost@evil.example',
      'http://user@localhost',
      'http://localhost.evil.example',
      'http://evil.example',
      'HTTP://LOCALHOST:3000',
      'file://localhost',
      'null',
      '',
    ])
      assert.equal(isAllowedOrigin(origin, LOCAL), false, origin);
  });

  test('a whole origin in the allow-list matches only itself', () => {
    const allowed = ['https://app.example.com'];
    assert.ok(isAllowedOrigin('https://app.example.com', allowed));
    assert.equal(isAllowedOrigin('http://app.example.com', allowed), false);
    assert.equal(isAllowedOrigin('https://app.example.com:8443', allowed), false);
  });

  test('a Host header is a host name and an optional port, nothing more', () => {
    assert.equal(hostNameOf('localhost:8080'), 'localhost');
    assert.equal(hostNameOf('[::1]:8080'), '[::1]');
    assert.equal(hostNameOf('localhost/evil'), undefined);
    assert.equal(hostNameOf('user@localhost'), undefined);
    assert.equal(hostNameOf(''), undefined);
  });
});

/** A stand-in for the control plane's front: the checks, CORS, and an endpoint that needs a token. */
function front() {
  const app = new Hono();
  app.use('*', allowedHosts(LOCAL));
  app.use('*', allowedOrigins(LOCAL));
  app.use('/mcp', mcpCors());
  app.post('/mcp', (c) =>
    c.req.header('authorization') === undefined ? c.json({ error: 'no token' }, 401) : c.json({ ok: true }),
  );
  return (path: string, init: RequestInit) => app.request(`http://localhost:8080${path}`, init);
}

describe('CORS on the MCP endpoint', () => {
  test('a preflight from an allowed origin is 204 and names what clients must send', async () => {
    const response = await front()('/mcp', {
      method: 'OPTIONS',
      headers: {
        origin: 'http://localhost:3000',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'mcp-method, authorization',
      },
    });
    assert.equal(response.status, 204);
    assert.equal(response.headers.get('access-control-allow-origin'), 'http://localhost:3000');
    assert.match(response.headers.get('access-control-allow-methods') ?? '', /POST/);
    const allowed = (response.headers.get('access-control-allow-headers') ?? '').toLowerCase();
    for (const header of ['mcp-method', 'mcp-name', 'mcp-protocol-version', 'authorization', 'content-type'])
      assert.ok(allowed.includes(header), header);
  });

  test('answers, errors included, carry the origin so a browser can read them', async () => {
    const response = await front()('/mcp', { method: 'POST', headers: { origin: 'http://localhost:3000' } });
    assert.equal(response.status, 401);
    assert.equal(response.headers.get('access-control-allow-origin'), 'http://localhost:3000');
  });

  test('a refused origin or host is 403 with a JSON-RPC invalid request and id null', async () => {
    for (const headers of [
      { origin: 'http://localhost@evil.example', 'access-control-request-method': 'POST' },
      { origin: 'null' },
    ]) {
      const response = await front()('/mcp', { method: 'OPTIONS', headers });
      assert.equal(response.status, 403);
      assert.deepEqual(((await response.json()) as { error: { code: number }; id: unknown }).id, null);
    }
    const foreignHost = await front()('/mcp', { method: 'POST', headers: { host: 'evil.example' } });
    assert.equal(foreignHost.status, 403);
    assert.equal(((await foreignHost.json()) as { error: { code: number } }).error.code, -32600);
  });
});
