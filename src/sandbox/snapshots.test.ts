import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { HelperSpec } from '../runtime/driver.ts';
import { LABEL_HELPER } from '../runtime/labels.ts';
import type { SandboxManager } from './manager.ts';
import { type ForkCreateOptions, Snapshots } from './snapshots.ts';
import { memorySandboxes } from './test-sandboxes.ts';

/** A gate a test opens: `wait()` resolves once `open()` is called. */
function gate() {
  let open = () => {};
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { wait: () => opened, open };
}

/** Memory sandboxes with snapshots; `helper` runs before each helper container "copies". */
async function setUp(t: Parameters<typeof memorySandboxes>[0], helper?: (spec: HelperSpec) => Promise<void>) {
  const sandboxes = await memorySandboxes(t, {}, { snapshots: helper === undefined ? {} : { helper } });
  const snapshots = new Snapshots({ manager: sandboxes.manager });
  const source = await sandboxes.manager.create({ policy: sandboxes.policy });
  const forkOptions = (): ForkCreateOptions => ({ policy: sandboxes.policy });
  const find = async (snapshotId: string) =>
    (await snapshots.list()).find((snapshot) => snapshot.snapshotId === snapshotId);
  return { ...sandboxes, snapshots, source, forkOptions, find };
}

describe('snapshots against sweeps and deletes running at the same time', () => {
  it('a sweep whose list predates a fork does not remove the snapshot under the fork', async (t) => {
    const { driver, manager, snapshots, source, forkOptions, find } = await setUp(t);
    const taken = await snapshots.create(source.id, { isEphemeral: true });
    // The sweep's list comes back only after the fork below: it shows no fork on the snapshot.
    const listed = gate();
    const listing = driver.listVolumeLabels.bind(driver);
    let isHeld = true;
    driver.listVolumeLabels = async (labels) => {
      const volumes = await listing(labels);
      if (isHeld) {
        isHeld = false;
        await listed.wait();
      }
      return volumes;
    };
    const sweep = snapshots.sweep();
    const [fork] = await snapshots.fork(taken.snapshotId, 1, forkOptions);
    listed.open();
    await sweep;
    assert.deepEqual((await find(taken.snapshotId))?.forks, [fork?.id], 'the snapshot is kept with its fork');
    await assertReapedWithForks(manager, snapshots, [fork?.id as string], taken.snapshotId);
  });

  it("keeps a fork request's own snapshot through sweeps at every step of the fork", async (t) => {
    let sweeps = 0;
    let isSweeping = false;
    const context: { snapshots?: Snapshots } = {};
    const { manager, snapshots, source, forkOptions, find } = await setUp(t, async () => {
      if (isSweeping || context.snapshots === undefined) return;
      isSweeping = true;
      await context.snapshots.sweep();
      sweeps += 1;
      isSweeping = false;
    });
    context.snapshots = snapshots;
    const { snapshotId, sandboxes } = await snapshots.forkSandbox(source.id, 2, forkOptions);
    assert.ok(sweeps >= 2, `a sweep ran during the copy and during the layers (${sweeps})`);
    assert.equal(sandboxes.length, 2);
    assert.deepEqual((await find(snapshotId))?.forks.sort(), sandboxes.map((sandbox) => sandbox.id).sort());
    await assertReapedWithForks(
      manager,
      snapshots,
      sandboxes.map((sandbox) => sandbox.id),
      snapshotId,
    );
  });

  it('refuses to delete a snapshot a restore waits to read', async (t) => {
    const copying = gate();
    const copyStarted = gate();
    let copies = 0;
    const { snapshots, source, find } = await setUp(t, async (spec) => {
      if (spec.labels[LABEL_HELPER] !== 'snapshot' || ++copies !== 2) return;
      copyStarted.open();
      await copying.wait();
    });
    const kept = await snapshots.create(source.id);
    // A second copy of the same sandbox holds its lock: the restore waits behind it.
    const second = snapshots.create(source.id, { label: 'second' });
    await copyStarted.wait();
    const restore = snapshots.restore(source.id, kept.snapshotId);
    await assert.rejects(snapshots.remove(kept.snapshotId), { code: 'SNAPSHOT_IN_USE' });
    copying.open();
    await second;
    const restored = await restore;
    assert.equal(restored.snapshotId, kept.snapshotId);
    assert.ok(await find(kept.snapshotId), 'the snapshot is still there');
    await snapshots.remove(kept.snapshotId);
    assert.equal(await find(kept.snapshotId), undefined);
  });

  it('starts no fork or restore on a snapshot a delete is removing', async (t) => {
    const { driver, snapshots, source, forkOptions, find } = await setUp(t);
    const taken = await snapshots.create(source.id);
    const removing = gate();
    const removalStarted = gate();
    const removeVolume = driver.removeVolume.bind(driver);
    driver.removeVolume = async (name) => {
      removalStarted.open();
      await removing.wait();
      return removeVolume(name);
    };
    const remove = snapshots.remove(taken.snapshotId);
    // The delete has claimed it and its volume's removal waits: a fork or restore now is refused.
    await removalStarted.wait();
    await assert.rejects(snapshots.fork(taken.snapshotId, 1, forkOptions), { code: 'SNAPSHOT_IN_USE' });
    await assert.rejects(snapshots.restore(source.id, taken.snapshotId), { code: 'SNAPSHOT_IN_USE' });
    removing.open();
    await remove;
    assert.equal(await find(taken.snapshotId), undefined);
  });
});

/** Deletes the forks: at the next sweep their ephemeral snapshot goes with them. */
async function assertReapedWithForks(
  manager: SandboxManager,
  snapshots: Snapshots,
  forkIds: string[],
  snapshotId: string,
): Promise<void> {
  for (const id of forkIds) await manager.destroy(id);
  await snapshots.sweep();
  assert.equal(
    (await snapshots.list()).some((snapshot) => snapshot.snapshotId === snapshotId),
    false,
    'the ephemeral snapshot is reaped once its forks are gone',
  );
}
