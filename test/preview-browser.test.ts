import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@modelcontextprotocol/client';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { ControlPlane, ROOT, structured } from './support/control-plane.ts';

/**
 * Previews in a real browser (Debian's chromium, driven by playwright-core):
 * servers in a real sandbox load through their preview URLs, a WebSocket echo
 * round-trips, an SSE stream arrives as it is sent, and a page on a preview
 * origin can read neither the API nor another preview.
 */

const CHROMIUM = '/usr/bin/chromium';
const PYTHON_PORT = 8000;
const NODE_PORT = 3000;
let plane: ControlPlane;
let browser: Browser;
let sandbox: { id: string; token: string };
let client: Client;

async function exec(cmd: string, yieldMs = 200): Promise<Record<string, unknown>> {
  return structured(
    await client.callTool({ name: 'exec_command', arguments: { cmd, yield_time_ms: yieldMs } }),
  );
}

async function openPreview(port: number, context?: BrowserContext): Promise<Page> {
  const response = await plane.fetch(`/v1/sandboxes/${sandbox.id}/previews`, {
    method: 'POST',
    body: JSON.stringify({ port }),
  });
  const made = (await response.json()) as { openUrl: string; url: string };
  assert.equal(response.status, 201);
  const page = await (context ?? (await browser.newContext())).newPage();
  const loaded = await page.goto(made.openUrl);
  assert.equal(loaded?.status(), 200);
  assert.equal(page.url(), made.url, 'the capability is gone from the address bar');
  return page;
}

before(async () => {
  plane = await ControlPlane.create();
  await plane.start();
  const response = await plane.fetch('/v1/sandboxes', { method: 'POST', body: '{}' });
  sandbox = (await response.json()) as { id: string; token: string };
  client = await plane.client(`/s/${sandbox.id}/mcp`, sandbox.token);
  const script = await readFile(path.join(ROOT, 'test/fixtures/preview-server.mjs'), 'utf8');
  await client.callTool({ name: 'write_file', arguments: { path: 'preview-server.mjs', content: script } });
  await client.callTool({
    name: 'write_file',
    arguments: { path: 'site/index.html', content: '<h1 id="who">served by python</h1>', create_dirs: true },
  });
  await exec(`cd site && python3 -m http.server ${PYTHON_PORT} --bind 127.0.0.1`);
  await exec(`node preview-server.mjs ${NODE_PORT}`);
  const ready = await exec(
    `for i in $(seq 50); do curl -sf http://127.0.0.1:${PYTHON_PORT}/ >/dev/null && curl -sf http://127.0.0.1:${NODE_PORT}/ >/dev/null && exit 0; sleep 0.1; done; exit 1`,
    15_000,
  );
  assert.equal(ready.exit_code, 0);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: process.getuid?.() === 0 ? ['--no-sandbox'] : [],
  });
});

after(async () => {
  await browser?.close();
  await client?.close().catch(() => undefined);
  await plane?.destroy();
});

describe('previews in a browser', () => {
  it('loads a page from python3 -m http.server in the sandbox', async () => {
    const page = await openPreview(PYTHON_PORT);
    assert.equal(await page.textContent('#who'), 'served by python');
    assert.match(new URL(page.url()).hostname, new RegExp(`^${PYTHON_PORT}-${sandbox.id}\\.localhost$`));
    await page.context().close();
  });

  it('round-trips WebSocket messages with a Node server in the sandbox', async () => {
    const page = await openPreview(NODE_PORT);
    const replies = await page.evaluate(
      () =>
        new Promise<string[]>((resolve, reject) => {
          const { host } = (globalThis as unknown as { location: { host: string } }).location;
          const socket = new WebSocket(`ws://${host}/ws`);
          const received: string[] = [];
          socket.onerror = () => reject(new Error('websocket error'));
          socket.onopen = () => socket.send('one');
          socket.onmessage = (event) => {
            received.push(String(event.data));
            if (received.length === 1) socket.send('two');
            else {
              socket.close();
              resolve(received);
            }
          };
        }),
    );
    assert.deepEqual(replies, ['echo: one', 'echo: two']);
    await page.context().close();
  });

  it('delivers SSE events as the server sends them, not at the end', async () => {
    const page = await openPreview(NODE_PORT);
    const events = await page.evaluate(
      () =>
        new Promise<{ data: string; at: number }[]>((resolve, reject) => {
          const source = new EventSource('/sse');
          const seen: { data: string; at: number }[] = [];
          source.onmessage = (event) => {
            seen.push({ data: event.data, at: performance.now() });
            if (seen.length === 3) {
              source.close();
              resolve(seen);
            }
          };
          source.onerror = () => {
            if (seen.length < 3) reject(new Error(`stream failed after ${seen.length} events`));
          };
        }),
    );
    assert.deepEqual(
      events.map((event) => event.data.split(' at ')[0]),
      ['event 1', 'event 2', 'event 3'],
    );
    const spread = (events[2]?.at ?? 0) - (events[0]?.at ?? 0);
    assert.ok(spread >= 600, `sent 400 ms apart, arrived within ${spread.toFixed(0)} ms`);
    await page.context().close();
  });

  it('keeps a preview page from reading the API or another preview (other origins)', async () => {
    const page = await openPreview(PYTHON_PORT);
    const apiUrl = `${plane.baseUrl.replace('127.0.0.1', 'localhost')}/v1/sandboxes`;
    const otherPreview = page.url().replace(`${PYTHON_PORT}-`, `${NODE_PORT}-`);
    const outcomes = await page.evaluate(
      async ({ urls, token }) => {
        const results: string[] = [];
        for (const url of urls) {
          try {
            const response = await fetch(url, {
              credentials: 'include',
              headers: { authorization: `Bearer ${token}` },
            });
            results.push(`read ${response.status}: ${(await response.text()).slice(0, 40)}`);
          } catch (error) {
            results.push(`blocked: ${(error as Error).name}`);
          }
        }
        return results;
      },
      { urls: [apiUrl, `${plane.baseUrl}/healthz`, otherPreview], token: sandbox.token },
    );
    assert.deepEqual(outcomes, ['blocked: TypeError', 'blocked: TypeError', 'blocked: TypeError']);
    // This browser holds a session for the other preview too; its WebSocket still refuses this page
    // (the cookie is not sent cross-site, and the listener refuses a foreign Origin: adversarial/preview).
    const other = await openPreview(NODE_PORT, page.context());
    assert.equal(await other.title(), 'node in a sandbox');
    const socketOutcome = await page.evaluate(
      (url) =>
        new Promise<string>((resolve) => {
          const socket = new WebSocket(url);
          socket.onopen = () => resolve('opened');
          socket.onerror = () => resolve('refused');
        }),
      otherPreview.replace('http://', 'ws://'),
    );
    assert.equal(socketOutcome, 'refused');
    await page.context().close();
  });
});
