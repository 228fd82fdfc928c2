import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SandboxManager } from './manager.ts';
import type { Sandbox } from './sandbox.ts';
import { memorySandboxes } from './test-sandboxes.ts';

// The in-process agent of memory sandboxes serves no previews: its answer to preview.open
// ("serves no previews") shows that the door reached a connected agent.
const ANSWERED = /serves no previews/;

/** Stops the sandbox and waits until the control plane has seen its agent go. */
async function stopped(manager: SandboxManager, sandbox: Sandbox): Promise<void> {
  await manager.stop(sandbox.id, 'test');
  while (sandbox.link.isReady) await new Promise((resolve) => setImmediate(resolve));
}

describe('a preview door whose agent is not connected', () => {
  it('waits for an agent that is coming: a sandbox being started again', async (t) => {
    const { manager, policy } = await memorySandboxes(t);
    const sandbox = await manager.create({ policy });
    await assert.rejects(sandbox.preview.open(3000), ANSWERED);
    await stopped(manager, sandbox);
    const resumed = manager.acquire(sandbox.id);
    assert.equal(sandbox.link.isReady, false);
    const opens = [sandbox.preview.open(3000), sandbox.preview.open(3001)];
    await resumed;
    for (const open of opens) await assert.rejects(open, ANSWERED, 'it waited, then asked the agent');
  });

  it('answers at once for a stopped sandbox nobody starts', async (t) => {
    const { manager, policy } = await memorySandboxes(t);
    const sandbox = await manager.create({ policy });
    await stopped(manager, sandbox);
    await assert.rejects(sandbox.preview.open(3000), (error: Error) => {
      assert.match(error.message, /agent is not connected/, 'not a wait for an agent that never comes');
      return true;
    });
    assert.equal(sandbox.preview.activeConnections, 0, 'no slot held');
  });

  it('ends the wait when the door closes', async (t) => {
    const { manager, policy } = await memorySandboxes(t);
    const sandbox = await manager.create({ policy });
    await stopped(manager, sandbox);
    const resumed = manager.acquire(sandbox.id);
    const open = sandbox.preview.open(3000);
    await sandbox.preview.close();
    await assert.rejects(open, /going away/);
    await resumed;
  });
});
