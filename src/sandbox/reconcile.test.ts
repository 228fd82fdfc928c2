import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ReadFileTool, WriteFileTool } from '../protocol/tools/files.ts';
import { reconcile } from './reconcile.ts';
import { memorySandboxes } from './test-sandboxes.ts';

describe('reconcile over the in-memory driver', () => {
  it('adopts running and stopped sandboxes after a restart; the agent redials and serves again', async (t) => {
    const sandboxes = await memorySandboxes(t);
    const { manager, policy } = sandboxes;
    const running = await manager.create({ policy, labels: { team: 'a' }, owner: 'operator' });
    await running.call(WriteFileTool, { path: 'kept.txt', content: 'still here' });
    const stopped = await manager.create({ policy });
    await manager.stop(stopped.id, 'test');

    const next = await sandboxes.restart();
    const adopted = await reconcile(next, { loadPolicyNamed: async () => policy });
    assert.deepEqual(adopted.map((sandbox) => sandbox.id).sort(), [running.id, stopped.id].sort());
    assert.equal(next.get(stopped.id).state, 'stopped');
    const again = await next.acquire(running.id);
    assert.equal(again.state, 'ready');
    assert.deepEqual(again.labels, { team: 'a' });
    assert.equal(again.owner, 'operator');
    const read = await again.call(ReadFileTool, { path: 'kept.txt' });
    assert.equal(read.result.content, 'still here');
  });

  it('removes a container that no longer matches the configuration', async (t) => {
    const sandboxes = await memorySandboxes(t);
    const { manager, driver, policy } = sandboxes;
    const sandbox = await manager.create({ policy });
    const next = await sandboxes.restart();
    const adopted = await reconcile(next, {
      loadPolicyNamed: async () => policy,
      mismatch: async () => 'another folder',
    });
    assert.deepEqual(adopted, []);
    assert.equal(await driver.inspect(sandbox.containerId as string), undefined);
    assert.deepEqual(driver.volumeNames(), [], 'its own volume went with it');
  });
});
