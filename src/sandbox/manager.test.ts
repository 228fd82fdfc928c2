import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ToolError } from '../protocol/errors.ts';
import { ReadFileTool, WriteFileTool } from '../protocol/tools/files.ts';
import { TRANSITIONS } from './lifecycle.ts';
import type { SandboxState } from './sandbox.ts';
import { memorySandboxes } from './test-sandboxes.ts';

const isCode = (code: string) => (error: unknown) => error instanceof ToolError && error.code === code;

describe('the sandbox manager over the in-memory driver', () => {
  it('creates a sandbox whose agent answers tools, and removes it with its own volume', async (t) => {
    const { manager, driver, policy } = await memorySandboxes(t);
    const sandbox = await manager.create({ policy });
    assert.equal(sandbox.state, 'ready');
    await sandbox.call(WriteFileTool, { path: 'a.txt', content: 'hello' });
    const read = await sandbox.call(ReadFileTool, { path: 'a.txt' });
    assert.equal(read.result.content, 'hello');
    assert.deepEqual(driver.volumeNames(), [`sandboxd-ws-${sandbox.id}`]);
    await manager.destroy(sandbox.id);
    assert.equal(sandbox.state, 'removed');
    assert.deepEqual(driver.volumeNames(), []);
    assert.deepEqual(await driver.list({}), []);
  });

  it('refuses a sandbox past the quota of the control plane, and of one owner', async (t) => {
    const { manager, policy } = await memorySandboxes(t, { quotas: { maxSandboxes: 3, maxPerOwner: 2 } });
    await manager.create({ policy, owner: 'a' });
    await manager.create({ policy, owner: 'a' });
    await assert.rejects(manager.create({ policy, owner: 'a' }), isCode('QUOTA_EXCEEDED'));
    await manager.create({ policy, owner: 'b' });
    await assert.rejects(manager.create({ policy, owner: 'c' }), isCode('QUOTA_EXCEEDED'));
    assert.equal(manager.list().length, 3);
  });

  it('fails a create without the image, leaving nothing behind', async (t) => {
    const { manager, driver, policy } = await memorySandboxes(t);
    const missing = { ...policy, policy: { ...policy.policy, image: 'no-such-image' } };
    const states: SandboxState[] = [];
    manager.on('transition', (_sandbox, _from, to) => states.push(to));
    await assert.rejects(manager.create({ policy: missing }), isCode('SANDBOX_UNAVAILABLE'));
    assert.deepEqual(states, ['failed']);
    assert.deepEqual(manager.list(), []);
    assert.deepEqual(await driver.list({}), []);
  });

  it('changes state only along the lifecycle table, each change emitted once', async (t) => {
    const { manager, policy } = await memorySandboxes(t);
    const sandbox = await manager.create({ policy });
    const changes: string[] = [];
    manager.on('transition', (_sandbox, from, to) => changes.push(`${from}>${to}`));
    assert.equal(manager.transition(sandbox, 'idle'), true);
    await manager.acquire(sandbox.id);
    await manager.stop(sandbox.id, 'test');
    await manager.acquire(sandbox.id);
    assert.equal(manager.transition(sandbox, 'creating'), false, 'ready never goes back to creating');
    await manager.destroy(sandbox.id);
    assert.deepEqual(changes, [
      'ready>idle',
      'idle>ready',
      'ready>stopped',
      'stopped>ready',
      'ready>removed',
    ]);
    for (const [from, tos] of Object.entries(TRANSITIONS)) {
      for (const to of tos) assert.notEqual(from, to);
    }
    assert.deepEqual(TRANSITIONS.removed, []);
  });

  it('hides an unassigned pool member from tasks', async (t) => {
    const { manager, policy } = await memorySandboxes(t);
    const member = await manager.create({ policy, isPooled: true });
    const task = await manager.create({ policy });
    assert.throws(() => manager.taskSandbox(member.id), isCode('SANDBOX_NOT_FOUND'));
    assert.equal(manager.taskSandbox(task.id), task);
    assert.deepEqual(manager.taskSandboxes(), [task]);
  });
});
