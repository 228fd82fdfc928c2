import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Reaper, type ReapReason } from './reaper.ts';
import { memorySandboxes } from './test-sandboxes.ts';

describe('the reaper over the in-memory driver', () => {
  it('marks a quiet sandbox idle, then stops it past its policy idle time; a call starts it again', async (t) => {
    const { manager, driver, policy } = await memorySandboxes(t);
    const sandbox = await manager.create({ policy });
    let now = Date.now();
    const reaper = new Reaper(manager, { idleMarkMs: 1000, now: () => now });
    const reaped: ReapReason[] = [];
    manager.on('reaped', (_sandbox, reason) => reaped.push(reason));
    now += 1500;
    await reaper.sweep();
    assert.equal(sandbox.state, 'idle');
    now += policy.policy.timeouts.idle;
    await reaper.sweep();
    assert.equal(sandbox.state, 'stopped');
    assert.deepEqual(reaped, ['idle']);
    assert.equal((await driver.inspect(sandbox.containerId as string))?.state, 'exited');
    await manager.acquire(sandbox.id);
    assert.equal(sandbox.state, 'ready');
  });

  it('removes a sandbox past its TTL, and one the engine lost', async (t) => {
    const { manager, driver, policy } = await memorySandboxes(t);
    const expiring = await manager.create({ policy, ttlMs: 60_000 });
    const lost = await manager.create({ policy });
    const kept = await manager.create({ policy });
    let now = Date.now();
    const reaper = new Reaper(manager, { now: () => now });
    await driver.vanish(lost.containerId as string);
    now += 61_000;
    await reaper.sweep();
    assert.equal(expiring.state, 'removed');
    assert.equal(lost.state, 'removed');
    assert.deepEqual(
      manager.list().map((sandbox) => sandbox.id),
      [kept.id],
    );
  });

  it('sees a container the engine stopped as a stopped sandbox', async (t) => {
    const { manager, driver, policy } = await memorySandboxes(t);
    const sandbox = await manager.create({ policy });
    await driver.exit(sandbox.containerId as string, 137);
    await new Reaper(manager).sweep();
    assert.equal(sandbox.state, 'stopped');
  });
});
