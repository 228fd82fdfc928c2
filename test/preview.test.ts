import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@modelcontextprotocol/client';
import { ControlPlane, ROOT, structured } from './support/control-plane.ts';
import { type HttpReply, httpRequest } from './support/http.ts';

/**
 * Previews through a real `sandboxd serve`, real sandboxes and real servers in
 * them (python3 -m http.server, a Node server): the capability → cookie flow,
 * what the server in the sandbox is told, large bodies both ways, the pages the
 * listener answers with itself, and what the operator sees. The browser's view
 * (origins, WebSocket, SSE) is test/preview-browser.test.ts.
 */

let plane: ControlPlane;
const sandboxes: { id: string; token: string; client: Client }[] = [];
const PYTHON_PORT = 8000;
const NODE_PORT = 3000;

/** One request to the preview listener with the Host header a browser would send for `url`. */
function request(
  url: string,
  options: { method?: string; cookie?: string; body?: Buffer; headers?: Record<string, string> } = {},
): Promise<HttpReply> {
  const target = new URL(url);
  const listener = new URL(plane.previewUrl);
  return httpRequest(
    {
      host: listener.hostname,
      port: listener.port,
      method: options.method ?? 'GET',
      path: `${target.pathname}${target.search}`,
      headers: {
        host: target.host,
        ...(options.cookie === undefined ? {} : { cookie: options.cookie }),
        ...options.headers,
      },
      agent: false,
    },
    options.body,
  );
}

async function exec(client: Client, cmd: string, yieldMs = 1500): Promise<Record<string, unknown>> {
  return structured(
    await client.callTool({ name: 'exec_command', arguments: { cmd, yield_time_ms: yieldMs } }),
  );
}

/** Starts the test servers in a sandbox and waits until both answer inside it. */
async function startServers(client: Client): Promise<void> {
  const script = await readFile(path.join(ROOT, 'test/fixtures/preview-server.mjs'), 'utf8');
  await client.callTool({ name: 'write_file', arguments: { path: 'preview-server.mjs', content: script } });
  await client.callTool({
    name: 'write_file',
    arguments: {
      path: 'site/index.html',
      content: '<!doctype html><title>python</title><h1>served by python</h1>',
      create_dirs: true,
    },
  });
  await exec(client, `cd site && python3 -m http.server ${PYTHON_PORT} --bind 127.0.0.1`, 200);
  await exec(client, `node preview-server.mjs ${NODE_PORT}`, 200);
  const ready = await exec(
    client,
    `for i in $(seq 50); do curl -sf http://127.0.0.1:${PYTHON_PORT}/ >/dev/null && curl -sf http://127.0.0.1:${NODE_PORT}/ >/dev/null && echo up && exit 0; sleep 0.1; done; exit 1`,
    15_000,
  );
  assert.equal(ready.exit_code, 0, JSON.stringify(ready));
}

async function grant(id: string, body: Record<string, unknown>) {
  const response = await plane.fetch(`/v1/sandboxes/${id}/previews`, {
    method: 'POST',
    body: JSON.stringify(body),
  });
  const json = (await response.json()) as Record<string, unknown>;
  assert.equal(response.status, 201, JSON.stringify(json));
  return json as { id: string; url: string; openUrl: string; listening: boolean; expiresAt: string };
}

/** Opens a grant's URL as a browser would: the capability becomes a cookie, then the page. */
async function open(openUrl: string): Promise<{ cookie: string; page: HttpReply }> {
  const first = await request(openUrl);
  assert.equal(first.status, 303, first.body.toString());
  const setCookie = String(first.headers['set-cookie']);
  assert.match(setCookie, /HttpOnly/);
  assert.match(setCookie, /SameSite=Lax/);
  assert.doesNotMatch(setCookie, /Domain=/i, 'a host-only cookie: no other preview gets it');
  assert.equal(first.headers.location, new URL(openUrl).pathname);
  const cookie = setCookie.split(';')[0] as string;
  const page = await request(new URL(first.headers.location as string, openUrl).href, { cookie });
  return { cookie, page };
}

before(async () => {
  plane = await ControlPlane.create();
  await plane.start({ SANDBOXD_LOG_LEVEL: 'info' });
  assert.match(plane.previewUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
  for (let index = 0; index < 2; index++) {
    const response = await plane.fetch('/v1/sandboxes', { method: 'POST', body: '{}' });
    const made = (await response.json()) as { id: string; token: string };
    assert.equal(response.status, 201);
    sandboxes.push({ ...made, client: await plane.client(`/s/${made.id}/mcp`, made.token) });
  }
  await Promise.all(sandboxes.map((sandbox) => startServers(sandbox.client)));
});

after(async () => {
  for (const sandbox of sandboxes) await sandbox.client.close().catch(() => undefined);
  await plane?.destroy();
});

describe('preview URLs', () => {
  it('serves python3 -m http.server in a sandbox once its one-time link became a cookie', async () => {
    const [a] = sandboxes as [(typeof sandboxes)[0]];
    const made = await grant(a.id, { port: PYTHON_PORT, ttlSeconds: 600 });
    assert.equal(made.listening, true);
    assert.equal(made.url, `http://${PYTHON_PORT}-${a.id}.localhost:${new URL(plane.previewUrl).port}/`);
    const { cookie, page } = await open(made.openUrl);
    assert.equal(page.status, 200);
    assert.match(page.body.toString(), /served by python/);
    const again = await request(made.openUrl);
    assert.equal(again.status, 401, 'a link opens once');
    assert.equal((await request(made.url)).status, 401, 'no cookie, no page');
    assert.equal((await request(made.url, { cookie })).status, 200, 'the cookie keeps working');
  });

  it('tells the server in the sandbox its own Host and who asked, never the session cookie', async () => {
    const [a] = sandboxes as [(typeof sandboxes)[0]];
    const made = await grant(a.id, { port: NODE_PORT });
    const { cookie } = await open(made.openUrl);
    const reply = await request(`${made.url}headers`, {
      cookie: `theme=dark; ${cookie}`,
      headers: { 'x-forwarded-for': '203.0.113.9', 'x-forwarded-host': 'forged.example' },
    });
    assert.equal(reply.status, 200);
    const seen = JSON.parse(reply.body.toString()) as Record<string, string>;
    assert.equal(seen.host, `localhost:${NODE_PORT}`);
    assert.equal(seen['x-forwarded-host'], new URL(made.url).host);
    assert.equal(seen['x-forwarded-for'], '127.0.0.1', 'the client, not what it claimed');
    assert.equal(seen['x-forwarded-proto'], 'http');
    assert.equal(seen.cookie, 'theme=dark');
  });

  it('carries 24 MiB up and back, byte for byte', async () => {
    const [a] = sandboxes as [(typeof sandboxes)[0]];
    const made = await grant(a.id, { port: NODE_PORT });
    const { cookie } = await open(made.openUrl);
    const body = Buffer.alloc(24 * 2 ** 20);
    for (let index = 0; index < body.length; index += 4096) body.writeUInt32LE(index, index);
    const reply = await request(`${made.url}echo`, { method: 'POST', cookie, body });
    assert.equal(reply.status, 200);
    const digest = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
    assert.equal(reply.body.length, body.length);
    assert.equal(digest(reply.body), digest(body));
    const big = await request(`${made.url}big?mib=50`, { cookie });
    assert.equal(big.body.length, 50 * 2 ** 20);
    assert.ok(
      big.body.every((byte) => byte === 97),
      'the body as the server sent it',
    );
  });

  it('answers a port nothing listens on with a page that names the port and how to start a server', async () => {
    const [a] = sandboxes as [(typeof sandboxes)[0]];
    const made = await grant(a.id, { port: 5173, public: true });
    assert.equal(made.listening, false);
    const reply = await request(made.url);
    assert.equal(reply.status, 502);
    const page = reply.body.toString();
    assert.match(page, /port 5173/);
    assert.match(page, new RegExp(a.id));
    assert.match(page, /python3 -m http\.server 5173/);
  });

  it('serves a public preview without a cookie, and stops serving it once revoked', async () => {
    const [a] = sandboxes as [(typeof sandboxes)[0]];
    const made = await grant(a.id, { port: PYTHON_PORT, public: true });
    assert.equal(made.openUrl, made.url);
    assert.equal((await request(made.url)).status, 200);
    const revoked = await plane.fetch(`/v1/sandboxes/${a.id}/previews/${made.id}`, { method: 'DELETE' });
    assert.equal(revoked.status, 204);
    assert.equal((await request(made.url)).status, 401);
  });

  it("does not let sandbox A's capability or cookie open sandbox B", async () => {
    const [a, b] = sandboxes as [(typeof sandboxes)[0], (typeof sandboxes)[0]];
    const forA = await grant(a.id, { port: PYTHON_PORT });
    const forB = await grant(b.id, { port: PYTHON_PORT });
    const capability = new URL(forA.openUrl).search;
    assert.equal((await request(`${forB.url}${capability}`)).status, 401, "A's capability on B's host");
    const { cookie } = await open(forA.openUrl);
    assert.equal((await request(forB.url, { cookie })).status, 401, "A's cookie on B's host");
    assert.equal(
      (await request(`http://${NODE_PORT}-${a.id}.localhost/`, { cookie })).status,
      401,
      'another port of A',
    );
    const { cookie: cookieB } = await open(forB.openUrl);
    assert.equal(
      (await request(forB.url, { cookie: `${cookie}; ${cookieB}` })).status,
      200,
      'a tossed cookie beside the right one',
    );
  });

  it('answers 404 for a host that names no preview', async () => {
    for (const host of [
      'localhost',
      'sb-000000000000.localhost',
      `80-sb-000000000000.localhost`,
      `99999-${sandboxes[0]?.id}.localhost`,
      'example.com',
    ]) {
      assert.equal((await request(`http://${host}/`)).status, 404, host);
    }
  });

  it('grants over MCP (preview_url) and lists the open previews on the sandbox, with the metrics', async () => {
    const [, b] = sandboxes as [(typeof sandboxes)[0], (typeof sandboxes)[0]];
    const result = await b.client.callTool({
      name: 'preview_url',
      arguments: { port: NODE_PORT, ttl_seconds: 120 },
    });
    assert.notEqual(result.isError, true, JSON.stringify(result));
    const made = structured(result) as { url: string; preview_id: string; listening: boolean };
    assert.equal(made.listening, true);
    const { page } = await open(made.url);
    assert.match(page.body.toString(), /node server/);
    const described = (await (await plane.fetch(`/v1/sandboxes/${b.id}`)).json()) as {
      previews: { id: string; port: number; grantedBy: string; openedAt: string | null }[];
    };
    const listed = described.previews.find((preview) => preview.id === made.preview_id);
    assert.equal(listed?.port, NODE_PORT);
    assert.equal(listed?.grantedBy, 'mcp');
    assert.notEqual(listed?.openedAt, null);
    assert.doesNotMatch(
      JSON.stringify(described.previews),
      /sandboxd_capability/,
      'no capability in a listing',
    );
    const metrics = await (await plane.fetch('/metrics')).text();
    assert.match(metrics, /sandboxd_preview_requests_total\{kind="http",outcome="ok"\} [1-9]/);
    assert.match(metrics, /sandboxd_preview_grants_total\{action="opened"\} [1-9]/);
    assert.match(plane.stderr, /"msg":"preview opened"/);
    assert.doesNotMatch(
      plane.stderr,
      /sandboxd_capability=|sandboxd_preview=/,
      'no capability or session in a log line',
    );
  });

  it('refuses preview grants to a sandbox token on /v1 and bad bodies with 400', async () => {
    const [a] = sandboxes as [(typeof sandboxes)[0]];
    const asSandbox = await plane.fetch(`/v1/sandboxes/${a.id}/previews`, {
      method: 'POST',
      body: JSON.stringify({ port: 8000 }),
      headers: plane.headers(a.token),
    });
    assert.equal(asSandbox.status, 401, 'a sandbox token is no operator token on /v1');
    const bad = await plane.fetch(`/v1/sandboxes/${a.id}/previews`, {
      method: 'POST',
      body: JSON.stringify({ port: 0 }),
    });
    assert.equal(bad.status, 400);
  });

  // Last: the other tests' MCP sessions end with the restart.
  it('keeps its grants through a control-plane restart: the cookie still opens the page, an unused link once', async () => {
    const [a] = sandboxes as [(typeof sandboxes)[0]];
    const opened = await grant(a.id, { port: PYTHON_PORT, ttlSeconds: 600 });
    const { cookie } = await open(opened.openUrl);
    const unused = await grant(a.id, { port: PYTHON_PORT, ttlSeconds: 600 });
    const revoked = await grant(a.id, { port: PYTHON_PORT, ttlSeconds: 600 });
    const revoke = await plane.fetch(`/v1/sandboxes/${a.id}/previews/${revoked.id}`, { method: 'DELETE' });
    assert.equal(revoke.status, 204);
    const listener = plane.previewUrl;

    await plane.stop();
    await plane.start({ SANDBOXD_LOG_LEVEL: 'info' });
    assert.equal(plane.previewUrl, listener);
    const page = await request(opened.url, { cookie });
    assert.equal(page.status, 200, 'the browser session outlives the restart');
    assert.match(page.body.toString(), /served by python/);
    assert.match((await open(unused.openUrl)).page.body.toString(), /served by python/);
    assert.equal((await request(unused.openUrl)).status, 401, 'and still opens once');
    assert.equal((await request(revoked.openUrl)).status, 401, 'a revoked grant stays revoked');
    const listed = (await (await plane.fetch(`/v1/sandboxes/${a.id}`)).json()) as {
      previews: { id: string }[];
    };
    const ids = listed.previews.map((preview) => preview.id);
    assert.ok(ids.includes(opened.id) && ids.includes(unused.id) && !ids.includes(revoked.id), ids.join(' '));
  });
});
