import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import type { LoadedPolicy } from '../policy/load.ts';
import type { SandboxManager } from './manager.ts';
import { WarmPool } from './pool.ts';
import type { Sandbox } from './sandbox.ts';

/** A member as the pool sees one: ready, agent connected, answering the warm-up command. */
function fakeSandbox(id: string): Sandbox {
  return {
    id,
    isPooled: true,
    state: 'ready',
    link: { isReady: true },
    callTool: async () => ({ summary: '', result: {} }),
  } as unknown as Sandbox;
}

/** A pool of one over a fake manager that counts creations; the state dir goes when the test ends. */
async function poolUnderTest(t: { after: (fn: () => Promise<void>) => void }, refillDelayMs: number) {
  const stateDir = await mkdtemp(path.join(os.tmpdir(), 'sandboxd-pool-'));
  t.after(() => rm(stateDir, { recursive: true, force: true }));
  const createdAt: number[] = [];
  const manager = {
    stateDir,
    create: async () => {
      createdAt.push(performance.now());
      return fakeSandbox(`sb-${createdAt.length}`);
    },
  } as unknown as SandboxManager;
  const pool = new WarmPool({
    manager,
    sizes: { default: 1 },
    loadPolicy: async () => ({}) as LoadedPolicy,
    log: pino({ level: 'silent' }),
    refillDelayMs,
  });
  return { pool, createdAt };
}

test('a take refills the pool only after the refill delay, so the taker’s first calls run alone', async (t) => {
  const { pool, createdAt } = await poolUnderTest(t, 150);
  await pool.warm();
  assert.equal(createdAt.length, 1);
  assert.equal(pool.ready('default'), 1);

  const takenAt = performance.now();
  const taken = await pool.take('default', { tokenSha256: 'a'.repeat(64), labels: {} });
  assert.equal(taken?.id, 'sb-1');
  assert.equal(pool.ready('default'), 0);
  await new Promise((resolve) => setTimeout(resolve, 60));
  assert.equal(createdAt.length, 1, 'no container is being made while the taker starts');

  const deadline = Date.now() + 5000;
  while (pool.ready('default') < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.equal(pool.ready('default'), 1, 'refilled after the delay');
  assert.ok(
    (createdAt[1] as number) - takenAt >= 140,
    `refill began ${(createdAt[1] as number) - takenAt} ms after`,
  );
  await pool.stop();
});

test('stopping the pool cancels a refill that has not started', async (t) => {
  const { pool, createdAt } = await poolUnderTest(t, 50);
  await pool.warm();
  await pool.take('default', { tokenSha256: 'b'.repeat(64), labels: {} });
  await pool.stop();
  await new Promise((resolve) => setTimeout(resolve, 120));
  assert.equal(createdAt.length, 1);
});
