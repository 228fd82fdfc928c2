import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@modelcontextprotocol/client';
import { type Browser, chromium, type Page } from 'playwright-core';
import { Scratch } from './support/cli.ts';
import { ControlPlane, structured } from './support/control-plane.ts';

/**
 * The dashboard in a real browser: Debian's chromium (scripts/host-programs.txt)
 * driven by playwright-core against a real `sandboxd serve`.
 */
const CHROMIUM = '/usr/bin/chromium';

let plane: ControlPlane;
let browser: Browser;
let page: Page;
let shots: string;
const scratch = new Scratch();
const consoleErrors: string[] = [];
let sandbox: { id: string; token: string };
let mcp: Client | undefined;

before(async () => {
  // SANDBOXD_TEST_SHOTS=DIR keeps the screenshots for a person to look at.
  shots = process.env.SANDBOXD_TEST_SHOTS ?? (await scratch.directory('sandboxd-dashboard-'));
  plane = await ControlPlane.create();
  await plane.start();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    // Chromium's own sandbox needs user namespaces it cannot have as root in a container.
    args: process.getuid?.() === 0 ? ['--no-sandbox'] : [],
  });
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on('console', (message) => {
    if (message.type() === 'error') consoleErrors.push(message.text());
  });
  page.on('pageerror', (error) => consoleErrors.push(error.message));
  page.on('dialog', (dialog) => void dialog.accept());
});

after(async () => {
  await mcp?.close().catch(() => undefined);
  await browser?.close();
  await plane?.destroy();
  await scratch.clear();
});

async function until(condition: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const shot = (name: string) => page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true });

describe('the dashboard in a browser', () => {
  it('sends a visitor without a session to sign in, and a wrong token is refused', async () => {
    await page.goto(`${plane.baseUrl}/ui`);
    assert.match(page.url(), /\/ui\/login$/);
    await shot('login');
    await page.fill('input[name=token]', 'not-the-operator-token');
    await page.click('button[type=submit]');
    assert.match(await page.textContent('.error').then(String), /not the operator token/);
  });

  it('signs in with the operator token and keeps only an HttpOnly SameSite=Strict cookie', async () => {
    await page.fill('input[name=token]', plane.token);
    await Promise.all([page.waitForURL(/\/ui$/), page.click('button[type=submit]')]);
    const cookies = await page.context().cookies();
    assert.equal(cookies.length, 1);
    assert.equal(cookies[0]?.httpOnly, true);
    assert.equal(cookies[0]?.sameSite, 'Strict');
    assert.ok(!cookies.some((cookie) => cookie.value.includes(plane.token)));
  });

  it('shows a sandbox created over /v1 without a reload', async () => {
    const response = await plane.fetch('/v1/sandboxes', { method: 'POST', body: '{"ttlSeconds":3600}' });
    sandbox = (await response.json()) as { id: string; token: string };
    assert.equal(response.status, 201);
    const row = page.locator(`tr[data-id="${sandbox.id}"]`);
    await row.waitFor({ timeout: 10_000 });
    assert.match(String(await row.textContent()), /ready/);
    await shot('sandboxes');
  });

  it('streams the output of a command started over MCP into the page as it runs', async () => {
    mcp = await plane.client(`/s/${sandbox.id}/mcp`, sandbox.token);
    const started = structured(
      await mcp.callTool({
        name: 'exec_command',
        arguments: { cmd: 'for i in $(seq 1 25); do echo line-$i; sleep 0.12; done', yield_time_ms: 0 },
      }),
    );
    assert.equal(started.status, 'running');
    const commandId = String(started.command_id);
    await page.goto(`${plane.baseUrl}/ui/sandboxes/${sandbox.id}?command=${commandId}`);
    const output = page.locator('#output');
    // Polled from here: the page's CSP (rightly) refuses the string evaluation waitForFunction needs.
    await until(async () => String(await output.textContent()).includes('line-2'));
    const early = String(await output.textContent());
    assert.ok(!early.includes('line-25'), `output came in as it was written, not at the end: ${early}`);
    await until(async () => String(await page.textContent('#output-status')).startsWith('ended'));
    const whole = String(await output.textContent());
    assert.equal(whole, Array.from({ length: 25 }, (_, i) => `line-${i + 1}\n`).join(''));
    assert.match(String(await page.textContent('#output-status')), /ended: exited/);
    await page.locator('#call-rows').getByText('exec_command').first().waitFor();
    await shot('sandbox');
  });

  it('refuses a change without the session or with a forged CSRF token', async () => {
    const withoutSession = await fetch(`${plane.baseUrl}/ui/sandboxes/${sandbox.id}/delete`, {
      method: 'POST',
      body: new URLSearchParams({ csrf: 'anything' }),
    });
    assert.equal(withoutSession.status, 401);
    const forged = await page.request.post(`${plane.baseUrl}/ui/sandboxes/${sandbox.id}/delete`, {
      form: { csrf: 'forged-token' },
      maxRedirects: 0,
    });
    assert.equal(forged.status(), 403);
    const noToken = await page.request.post(`${plane.baseUrl}/ui/sandboxes/${sandbox.id}/stop`, {
      maxRedirects: 0,
    });
    assert.equal(noToken.status(), 403);
    assert.equal((await plane.fetch(`/v1/sandboxes/${sandbox.id}`)).status, 200, 'still there');
  });

  it('serves every page under a strict CSP with no inline script', async () => {
    const response = await page.request.get(`${plane.baseUrl}/ui/sandboxes/${sandbox.id}`);
    const csp = String(response.headers()['content-security-policy']);
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.match(csp, /default-src 'none'/);
    assert.doesNotMatch(await response.text(), /<script(?![^>]*\bsrc=)[^>]*>/);
  });

  it('deletes the sandbox from its page', async () => {
    await page.goto(`${plane.baseUrl}/ui/sandboxes/${sandbox.id}`);
    await Promise.all([page.waitForURL(/\/ui$/), page.click('button[value=delete]')]);
    assert.equal(await page.locator(`tr[data-id="${sandbox.id}"]`).count(), 0);
    assert.equal((await plane.fetch(`/v1/sandboxes/${sandbox.id}`)).status, 404);
    const audit = (await (await plane.fetch(`/v1/audit?sandbox=${sandbox.id}&kind=operator`)).json()) as {
      entries: { action: string; principal: string }[];
    };
    assert.ok(audit.entries.some((entry) => entry.action === 'delete' && entry.principal === 'operator'));
  });

  it('signs out, and the old session opens nothing', async () => {
    await Promise.all([page.waitForURL(/\/ui\/login$/), page.click('.signout button')]);
    const after = await page.request.get(`${plane.baseUrl}/ui`, { maxRedirects: 0 });
    assert.equal(after.status(), 303);
    assert.match(String(after.headers().location), /\/ui\/login$/);
  });

  it('logged no console errors on any page', () => {
    assert.deepEqual(consoleErrors, []);
  });
});
