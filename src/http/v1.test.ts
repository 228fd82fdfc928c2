import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { memorySandboxes } from '../sandbox/test-sandboxes.ts';
import { sha256Hex } from '../sandbox/tokens.ts';
import { Workspaces } from '../sandbox/workspaces.ts';
import { createHttpApp } from './app.ts';
import { Metrics } from './metrics.ts';

const OPERATOR = 'operator-token-for-the-test';

async function appOverMemory(t: { after: (fn: () => Promise<void>) => void }) {
  const sandboxes = await memorySandboxes(t);
  const { manager, driver, policy } = sandboxes;
  const app = createHttpApp({
    manager,
    workspaces: new Workspaces({
      manager,
      policy: async () => policy,
      policyName: 'default',
      allowCreate: true,
    }),
    metrics: new Metrics(manager),
    driver,
    log: pino({ level: 'silent' }),
    loadPolicy: async () => policy,
    workerImage: policy.policy.image,
    operatorSha256: sha256Hex(OPERATOR),
    isAuthDisabled: false,
    allowedHosts: ['localhost'],
    allowedOrigins: [],
    maxBodyBytes: 1024 * 1024,
  });
  const request = (path: string, init: RequestInit = {}, token = OPERATOR) =>
    app.request(`http://localhost${path}`, {
      ...init,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...init.headers },
    });
  return { ...sandboxes, request };
}

describe('/v1 over the in-memory driver', () => {
  it('creates, lists, describes and deletes a sandbox with its own token', async (t) => {
    const { request, manager } = await appOverMemory(t);
    const created = await request('/v1/sandboxes', {
      method: 'POST',
      body: JSON.stringify({ labels: { task: 't1' }, ttlSeconds: 60 }),
    });
    assert.equal(created.status, 201);
    const body = (await created.json()) as { id: string; token: string; state: string; mcpUrl: string };
    assert.equal(body.state, 'ready');
    assert.equal(body.mcpUrl, `http://localhost/s/${body.id}/mcp`);
    const listed = (await (await request('/v1/sandboxes')).json()) as { sandboxes: { id: string }[] };
    assert.deepEqual(
      listed.sandboxes.map((sandbox) => sandbox.id),
      [body.id],
    );
    // A sandbox's own token reaches its MCP endpoint only, never /v1.
    assert.equal((await request(`/v1/sandboxes/${body.id}`, {}, body.token)).status, 401);
    assert.equal((await request(`/v1/sandboxes/${body.id}`, { method: 'DELETE' })).status, 204);
    assert.equal(manager.find(body.id), undefined);
    assert.equal((await request(`/v1/sandboxes/${body.id}`)).status, 404);
  });

  it('answers every failure with the one error shape and the status of its code', async (t) => {
    const { request, manager, policy } = await appOverMemory(t);
    const bad = await request('/v1/sandboxes', { method: 'POST', body: JSON.stringify({ ttlSeconds: 0 }) });
    assert.equal(bad.status, 400);
    const error = ((await bad.json()) as { error: { code: string; message: string; retryable: boolean } })
      .error;
    assert.equal(error.code, 'INVALID_ARGUMENT');
    assert.match(error.message, /^body: ttlSeconds: /);
    assert.equal(error.retryable, false);
    const anonymous = await request('/v1/sandboxes', {}, 'wrong');
    assert.equal(anonymous.status, 401);
    assert.equal(anonymous.headers.get('www-authenticate'), 'Bearer realm="sandboxd"');
    assert.equal((await request('/v1/nowhere')).status, 404);
    const member = await manager.create({ policy, isPooled: true });
    assert.equal((await request(`/v1/sandboxes/${member.id}`)).status, 404, 'a pool member is invisible');
    assert.equal((await request(`/v1/sandboxes/${member.id}`, { method: 'DELETE' })).status, 404);
    const wrongType = await request(`/v1/sandboxes/${member.id}/archive`, {
      method: 'PUT',
      headers: { 'content-type': 'text/plain' },
      body: 'x',
    });
    assert.equal(wrongType.status, 415);
  });
});
