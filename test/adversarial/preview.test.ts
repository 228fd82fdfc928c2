import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@modelcontextprotocol/client';
import { ControlPlane, ROOT, structured } from '../support/control-plane.ts';
import { httpRequest } from '../support/http.ts';

/**
 * Attacks on the door in, through a real `sandboxd serve`: request smuggling,
 * a slowloris client, a server in the sandbox that never answers or never stops,
 * a rogue process in the sandbox flooding the preview socket. A runs the `tight`
 * policy (8 preview connections, 1 MiB/s); B is an ordinary neighbour whose
 * preview, like the API, must stay responsive throughout.
 */

const NODE_PORT = 3000;
let plane: ControlPlane;
const tenants: Record<'a' | 'b', { id: string; token: string; client: Client; url: string; cookie: string }> =
  {} as never;

function listenerAddress(): { host: string; port: number } {
  const url = new URL(plane.previewUrl);
  return { host: url.hostname, port: Number(url.port) };
}

async function get(
  url: string,
  cookie: string,
  signal?: AbortSignal,
): Promise<{ status: number; body: string }> {
  const target = new URL(url);
  const reply = await httpRequest({
    ...listenerAddress(),
    path: `${target.pathname}${target.search}`,
    headers: { host: target.host, cookie },
    agent: false,
    ...(signal === undefined ? {} : { signal }),
  });
  return { status: reply.status, body: reply.body.toString() };
}

/** Writes raw bytes to the listener and collects what comes back until it closes (or `waitMs`). */
function raw(bytes: string, waitMs = 3000): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(listenerAddress());
    let text = '';
    socket.on('data', (chunk) => (text += chunk.toString('latin1')));
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(text);
    };
    const timer = setTimeout(done, waitMs);
    socket.on('close', done);
    socket.on('error', done);
    socket.write(bytes);
  });
}

async function responsive(): Promise<void> {
  const started = performance.now();
  const [preview, health] = await Promise.all([
    get(tenants.b.url, tenants.b.cookie),
    fetch(`${plane.baseUrl}/healthz`),
  ]);
  assert.equal(preview.status, 200);
  assert.equal(health.status, 200);
  assert.ok(performance.now() - started < 5000, 'the neighbour and the API answered');
}

async function tenant(policy: string) {
  const response = await plane.fetch('/v1/sandboxes', { method: 'POST', body: JSON.stringify({ policy }) });
  const made = (await response.json()) as { id: string; token: string };
  assert.equal(response.status, 201, JSON.stringify(made));
  const client = await plane.client(`/s/${made.id}/mcp`, made.token);
  const script = await readFile(path.join(ROOT, 'test/fixtures/preview-server.mjs'), 'utf8');
  await client.callTool({ name: 'write_file', arguments: { path: 'preview-server.mjs', content: script } });
  await client.callTool({
    name: 'exec_command',
    arguments: { cmd: `node preview-server.mjs ${NODE_PORT}`, yield_time_ms: 200 },
  });
  const ready = structured(
    await client.callTool({
      name: 'exec_command',
      arguments: {
        cmd: `for i in $(seq 50); do curl -sf http://127.0.0.1:${NODE_PORT}/ >/dev/null && exit 0; sleep 0.1; done; exit 1`,
        yield_time_ms: 15_000,
      },
    }),
  );
  assert.equal(ready.exit_code, 0);
  const granted = await plane.fetch(`/v1/sandboxes/${made.id}/previews`, {
    method: 'POST',
    body: JSON.stringify({ port: NODE_PORT }),
  });
  const { openUrl, url } = (await granted.json()) as { openUrl: string; url: string };
  const target = new URL(openUrl);
  const cookie = await new Promise<string>((resolve, reject) => {
    http
      .get(
        {
          ...listenerAddress(),
          path: `${target.pathname}${target.search}`,
          headers: { host: target.host },
          agent: false,
        },
        (reply) => {
          reply.resume();
          resolve(String(reply.headers['set-cookie']).split(';')[0] as string);
        },
      )
      .on('error', reject);
  });
  return { ...made, client, url, cookie };
}

before(async () => {
  plane = await ControlPlane.create();
  await plane.addPolicy('tight', { preview: { connections: 8, bytesPerSecond: '1MiB' } });
  await plane.start();
  tenants.a = await tenant('tight');
  tenants.b = await tenant('default');
});

after(async () => {
  for (const one of Object.values(tenants)) await one.client.close().catch(() => undefined);
  await plane?.destroy();
});

describe('preview attacks', () => {
  it('refuses a request that carries both Content-Length and Transfer-Encoding (smuggling)', async () => {
    const host = new URL(tenants.a.url).host;
    const smuggled =
      `POST /echo HTTP/1.1\r\nHost: ${host}\r\nCookie: ${tenants.a.cookie}\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n` +
      `0\r\n\r\nGET /headers HTTP/1.1\r\nHost: ${host}\r\nCookie: ${tenants.a.cookie}\r\n\r\n`;
    const reply = await raw(smuggled);
    assert.match(reply, /^HTTP\/1\.1 400/);
    assert.equal(reply.match(/HTTP\/1\.1 /g)?.length, 1, 'one answer, and the smuggled request never served');
    const doubled = await raw(
      `POST /echo HTTP/1.1\r\nHost: ${host}\r\nCookie: ${tenants.a.cookie}\r\nContent-Length: 1\r\nContent-Length: 30\r\n\r\nx`,
    );
    assert.match(doubled, /^HTTP\/1\.1 400/);
  });

  it('answers 502 for a status line Node cannot send on, and keeps serving', async () => {
    const reply = await get(`${tenants.a.url}status099`, tenants.a.cookie);
    assert.equal(reply.status, 502);
    await responsive();
  });

  it('refuses a WebSocket from another origin and a cross-site request with the session (same site, other preview)', async () => {
    const host = new URL(tenants.a.url).host;
    const handshake = (origin: string, pathname = '/ws') =>
      raw(
        `GET ${pathname} HTTP/1.1\r\nHost: ${host}\r\nCookie: ${tenants.a.cookie}\r\nOrigin: ${origin}\r\n` +
          'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
        1500,
      );
    assert.match(await handshake(`http://${new URL(tenants.b.url).host}`), /^HTTP\/1\.1 403/);
    assert.match(await handshake(`http://${host}`), /^HTTP\/1\.1 101/);
    const declined = await handshake(`http://${host}`, '/no-upgrade');
    assert.match(declined, /^HTTP\/1\.1 502/, 'no raw bytes unless the server switched protocols');
    assert.equal(declined.match(/HTTP\/1\.1 /g)?.length, 1);
    const crossSite = await raw(
      `POST /echo HTTP/1.1\r\nHost: ${host}\r\nCookie: ${tenants.a.cookie}\r\nSec-Fetch-Site: same-site\r\n` +
        'Sec-Fetch-Mode: no-cors\r\nContent-Length: 2\r\n\r\nhi',
    );
    assert.match(crossSite, /^HTTP\/1\.1 403/);
    const navigation = await raw(
      `GET / HTTP/1.1\r\nHost: ${host}\r\nCookie: ${tenants.a.cookie}\r\nSec-Fetch-Site: cross-site\r\n` +
        'Sec-Fetch-Mode: navigate\r\nConnection: close\r\n\r\n',
    );
    assert.match(navigation, /^HTTP\/1\.1 200/, 'a link from elsewhere still opens the preview');
  });

  it('redirects a redeemed capability to a path on its own origin, never to //another', async () => {
    const granted = await plane.fetch(`/v1/sandboxes/${tenants.b.id}/previews`, {
      method: 'POST',
      body: JSON.stringify({ port: NODE_PORT }),
    });
    const { openUrl } = (await granted.json()) as { openUrl: string };
    const target = new URL(openUrl);
    const reply = await raw(
      `GET /.//evil.example${target.search} HTTP/1.1\r\nHost: ${target.host}\r\nConnection: close\r\n\r\n`,
    );
    assert.match(reply, /^HTTP\/1\.1 303/);
    assert.match(reply, /\r\nLocation: \/evil\.example\r\n/i);
  });

  it('closes an open WebSocket when its preview is revoked', async () => {
    const granted = await plane.fetch(`/v1/sandboxes/${tenants.b.id}/previews`, {
      method: 'POST',
      body: JSON.stringify({ port: NODE_PORT, public: true }),
    });
    const { url, id } = (await granted.json()) as { url: string; id: string };
    const host = new URL(url).host;
    const socket = net.connect(listenerAddress());
    let text = '';
    socket.on('data', (chunk) => (text += chunk.toString('latin1')));
    const closed = new Promise((resolve) => socket.once('close', resolve));
    socket.write(
      `GET /ws HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    );
    for (let attempt = 0; attempt < 50 && !text.includes('101'); attempt++)
      await new Promise((r) => setTimeout(r, 50));
    assert.match(text, /^HTTP\/1\.1 101/);
    assert.equal(socket.destroyed, false);
    const revoked = await plane.fetch(`/v1/sandboxes/${tenants.b.id}/previews/${id}`, { method: 'DELETE' });
    assert.equal(revoked.status, 204);
    await Promise.race([
      closed,
      new Promise((_r, reject) => setTimeout(() => reject(new Error('still open')), 3000)),
    ]);
  });

  it("does not serve B's preview to A's cookie under B's Host header", async () => {
    assert.equal((await get(tenants.b.url, tenants.a.cookie)).status, 401);
    assert.equal((await get(tenants.b.url, tenants.b.cookie)).status, 200);
  });

  it('closes slowloris sockets at the header deadline while everyone else is served', async () => {
    const host = new URL(tenants.a.url).host;
    const slow: net.Socket[] = [];
    let closed = 0;
    for (let index = 0; index < 100; index++) {
      const socket = net.connect(listenerAddress());
      socket.on('error', () => undefined);
      socket.on('close', () => closed++);
      socket.write(`GET / HTTP/1.1\r\nHost: ${host}\r\nX-Slow: `);
      slow.push(socket);
    }
    const drip = setInterval(() => {
      for (const socket of slow) if (!socket.destroyed) socket.write('a');
    }, 1000);
    try {
      await responsive();
      // The deadline is 10 s from each request's first byte, checked every second; a loaded machine may lag.
      for (let waited = 0; waited < 30_000 && closed < 100; waited += 500) {
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
      assert.equal(closed, 100, 'every slow socket was closed by the listener');
      await responsive();
    } finally {
      clearInterval(drip);
      for (const socket of slow) socket.destroy();
    }
  });

  it('holds a server that never answers to the connection limit, answers 503 past it, and frees it', async () => {
    const abort = new AbortController();
    const hung = Array.from({ length: 8 }, () =>
      get(`${tenants.a.url}hang`, tenants.a.cookie, abort.signal).catch(() => undefined),
    );
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const over = await get(tenants.a.url, tenants.a.cookie);
    assert.equal(over.status, 503);
    assert.match(over.body, /as many preview connections open as its policy allows/);
    await responsive();
    abort.abort();
    await Promise.all(hung);
    let after = { status: 0, body: '' };
    for (let attempt = 0; attempt < 20 && after.status !== 200; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      after = await get(tenants.a.url, tenants.a.cookie);
    }
    assert.equal(after.status, 200, 'the connections came back once the browser gave up');
  });

  it('holds an endless body to the bytes-per-second limit', async () => {
    const target = new URL(`${tenants.a.url}endless`);
    let bytes = 0;
    const request = http.get({
      ...listenerAddress(),
      path: target.pathname,
      headers: { host: target.host, cookie: tenants.a.cookie },
      agent: false,
    });
    request.on('response', (response) => response.on('data', (chunk: Buffer) => (bytes += chunk.length)));
    request.on('error', () => undefined);
    await new Promise((resolve) => setTimeout(resolve, 3000));
    request.destroy();
    assert.ok(bytes > 512 * 1024, `the body flows (${bytes} bytes)`);
    // One second of burst plus three of 1 MiB/s, and what the socket buffers held.
    assert.ok(bytes < 6 * 2 ** 20, `at most ~1 MiB/s: ${bytes} bytes in 3 s`);
    await responsive();
  });

  it('ignores a rogue process in the sandbox that floods the preview socket with forged tunnels', async () => {
    const flood = structured(
      await tenants.a.client.callTool({
        name: 'exec_command',
        arguments: {
          cmd: `python3 - <<'EOF'
import socket, json, os
sent = 0
for i in range(300):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect('/run/sandboxd/preview.sock')
        s.sendall((json.dumps({'tunnel': os.urandom(16).hex()}) + '\\n').encode())
        sent += 1
    except OSError:
        pass
    s.close()
print('sent', sent)
EOF`,
          yield_time_ms: 30_000,
        },
      }),
    );
    assert.equal(flood.exit_code, 0, JSON.stringify(flood));
    assert.equal((await get(`${tenants.a.url}headers`, tenants.a.cookie)).status, 200);
    await responsive();
  });
});
