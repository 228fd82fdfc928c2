import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { LABEL_POOL } from '../runtime/labels.ts';
import { WarmPool } from './pool.ts';
import { reconcile } from './reconcile.ts';
import { memorySandboxes } from './test-sandboxes.ts';

describe('the warm pool over the in-memory driver', () => {
  it('fills, hands a member to a task with its assignment, and refills', async (t) => {
    const { manager, driver, policy } = await memorySandboxes(t);
    const pool = new WarmPool({
      manager,
      sizes: { default: 1 },
      loadPolicy: async () => policy,
      log: pino({ level: 'silent' }),
      refillDelayMs: 0,
    });
    t.after(() => pool.stop());
    await pool.warm();
    assert.equal(pool.ready('default'), 1);
    assert.deepEqual(manager.taskSandboxes(), [], 'a member is no task sandbox');
    const [member] = await driver.list({ [LABEL_POOL]: 'default' });
    assert.ok(member, 'the member is labelled with its pool');

    const taken = await pool.take('default', { owner: 'operator', labels: { task: 't1' } });
    assert.ok(taken);
    assert.equal(manager.taskSandbox(taken.id), taken);
    assert.deepEqual(taken.labels, { task: 't1' });
    await pool.refill('default');
    assert.equal(pool.ready('default'), 1);
    assert.equal(manager.list().length, 2);
  });

  it('after a restart, adopts an untaken member into the pool and a taken one as the task it was given to', async (t) => {
    const sandboxes = await memorySandboxes(t);
    const { manager, policy } = sandboxes;
    const options = { sizes: { default: 2 }, loadPolicy: async () => policy, log: pino({ level: 'silent' }) };
    const pool = new WarmPool({ manager, ...options, refillDelayMs: 60_000 });
    await pool.warm();
    const taken = await pool.take('default', { owner: 'operator', labels: { task: 't1' } });
    assert.ok(taken);
    await pool.stop();

    const next = await sandboxes.restart();
    const nextPool = new WarmPool({ manager: next, ...options });
    t.after(() => nextPool.stop());
    await reconcile(next, {
      loadPolicyNamed: async () => policy,
      onPoolMember: (name, sandbox) => nextPool.adopt(name, sandbox),
    });
    assert.deepEqual(
      next.taskSandboxes().map((sandbox) => [sandbox.id, sandbox.labels]),
      [[taken.id, { task: 't1' }]],
    );
    assert.equal(next.list().length, 2);
  });
});
