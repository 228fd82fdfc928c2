import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { DockerDriver } from '../src/runtime/docker/driver.ts';
import { ControlPlane, structured } from './support/control-plane.ts';

let plane: ControlPlane | undefined;
after(() => plane?.destroy());

async function poolReady(target: ControlPlane): Promise<number> {
  const text = await (await target.fetch('/metrics')).text();
  return Number(/sandboxd_pool_ready\{policy="default"\} (\d+)/.exec(text)?.[1] ?? -1);
}

async function waitForPool(target: ControlPlane, size: number): Promise<void> {
  const deadline = Date.now() + 60_000;
  while ((await poolReady(target)) < size) {
    assert.ok(Date.now() < deadline, `the pool did not reach ${size}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe('the warm pool', () => {
  it('hands a task a running sandbox, refills, and survives a control-plane restart', async () => {
    const target = await ControlPlane.create();
    plane = target;
    await plane.start({ SANDBOXD_POOL: 'default=2' });
    await waitForPool(plane, 2);
    const driver = new DockerDriver();
    // Only this control plane's pool: other control planes on the engine may keep pools too.
    const poolContainers = async () =>
      (await driver.list({ 'io.sandboxd.pool': 'default' })).filter((container) =>
        container.labels['io.sandboxd.socket-dir']?.startsWith(`${target.stateDir}/`),
      );
    const before = new Set((await poolContainers()).map((container) => container.labels['io.sandboxd.id']));
    assert.equal(before.size, 2);

    const response = await plane.fetch('/v1/sandboxes', {
      method: 'POST',
      body: JSON.stringify({ ttlSeconds: 3600, labels: { task: 'pooled' } }),
    });
    assert.equal(response.status, 201);
    const created = (await response.json()) as {
      id: string;
      token: string;
      mcpUrl: string;
      labels: object;
      createdAt: string;
    };
    assert.ok(before.has(created.id), 'the task got a pool member');
    assert.deepEqual(created.labels, { task: 'pooled' });
    const listed = (await (await plane.fetch('/v1/sandboxes')).json()) as { sandboxes: { id: string }[] };
    assert.deepEqual(
      listed.sandboxes.map((sandbox) => sandbox.id),
      [created.id],
      'pool members are not listed as tasks',
    );
    await waitForPool(plane, 2);

    const path = new URL(created.mcpUrl).pathname;
    let client = await plane.client(path, created.token);
    await client.callTool({ name: 'write_file', arguments: { path: 'task.txt', content: 'mine\n' } });
    await client.close();

    await plane.stop();
    await plane.start({ SANDBOXD_POOL: 'default=2' });
    client = await plane.client(path, created.token);
    try {
      const read = structured(await client.callTool({ name: 'read_file', arguments: { path: 'task.txt' } }));
      assert.equal(read.content, 'mine\n', 'the taken sandbox keeps its token and files across a restart');
    } finally {
      await client.close();
    }
    await waitForPool(plane, 2);
    assert.equal((await poolContainers()).length, 3, 'the restarted control plane re-adopted its pool');
    const one = (await (await plane.fetch(`/v1/sandboxes/${created.id}`)).json()) as {
      labels: object;
      expiresAt: string;
      createdAt: string;
    };
    assert.deepEqual(one.labels, { task: 'pooled' });
    assert.equal(
      one.createdAt,
      created.createdAt,
      'made when it was made, not when the control plane restarted',
    );
    assert.ok(Date.parse(one.expiresAt) > Date.now());
    assert.equal((await plane.fetch(`/v1/sandboxes/${created.id}`, { method: 'DELETE' })).status, 204);
  });
});
