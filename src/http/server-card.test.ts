import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Hono } from 'hono';
import { discoveryRoutes, SERVER_CARD_SCHEMA, serverCard } from './server-card.ts';

interface Remote {
  type: string;
  url: string;
  headers?: { name: string; isRequired: boolean; isSecret: boolean }[];
  supportedProtocolVersions: string[];
}

test('the card names the server, its endpoints and every protocol version it speaks', () => {
  const card = serverCard({ origin: 'http://127.0.0.1:8080', isAuthRequired: true }) as {
    $schema: string;
    name: string;
    description: string;
    remotes: Remote[];
  };
  assert.equal(card.$schema, SERVER_CARD_SCHEMA);
  assert.match(card.name, /^[a-zA-Z0-9.-]+\/[a-zA-Z0-9._-]+$/);
  assert.ok(card.description.length <= 100);
  assert.deepEqual(
    card.remotes.map((remote) => remote.url),
    ['http://127.0.0.1:8080/mcp', 'http://127.0.0.1:8080/w/{workspace}/mcp'],
  );
  for (const remote of card.remotes) {
    assert.equal(remote.type, 'streamable-http');
    assert.deepEqual(remote.supportedProtocolVersions, ['2026-07-28', '2025-11-25', '2025-06-18']);
    assert.deepEqual(
      remote.headers?.map(({ name, isRequired, isSecret }) => ({ name, isRequired, isSecret })),
      [{ name: 'Authorization', isRequired: true, isSecret: true }],
    );
  }
  const open = serverCard({ origin: 'http://127.0.0.1:8080', isAuthRequired: false }) as {
    remotes: Remote[];
  };
  assert.equal(open.remotes[0]?.headers, undefined, 'no token to ask for');
});

test('both locations serve it to any origin, cacheable and revalidated by ETag', async () => {
  const app = new Hono().route('/', discoveryRoutes({ isAuthRequired: true }));
  for (const [path, type] of [
    ['/mcp/server-card', 'application/mcp-server-card+json'],
    ['/.well-known/mcp.json', 'application/json'],
  ] as const) {
    const response = await app.request(`http://localhost:8080${path}`, {
      headers: { origin: 'https://anywhere.example' },
    });
    assert.equal(response.status, 200, path);
    assert.equal(response.headers.get('content-type'), type);
    assert.equal(response.headers.get('access-control-allow-origin'), '*');
    assert.match(response.headers.get('cache-control') ?? '', /max-age=/);
    const card = (await response.json()) as { remotes: { url: string }[] };
    assert.equal(card.remotes[0]?.url, 'http://localhost:8080/mcp');
    const etag = response.headers.get('etag') ?? '';
    const again = await app.request(`http://localhost:8080${path}`, { headers: { 'if-none-match': etag } });
    assert.equal(again.status, 304);
  }
});
