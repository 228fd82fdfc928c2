import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { HelperSpec } from '../runtime/driver.ts';
import { LABEL_HELPER } from '../runtime/labels.ts';
import type { MemoryDriver } from '../runtime/memory.ts';
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

/**
 * Holds the engine's next volume list: taken now, answered once `release()` is
 * called, so its caller acts on what it saw before. `reached()` resolves when it is held.
 */
function holdNextList(driver: MemoryDriver) {
  const reached = gate();
  const released = gate();
  const listing = driver.listVolumeLabels.bind(driver);
  let isHeld = true;
  driver.listVolumeLabels = async (labels) => {
    const volumes = await listing(labels);
    if (isHeld) {
      isHeld = false;
      reached.open();
      await released.wait();
    }
    return volumes;
  };
  return { reached: reached.wait, release: released.open };
}

/** Holds every volume removal until `release()`; `reached()` resolves when the first is held. */
function holdRemovals(driver: MemoryDriver) {
  const reached = gate();
  const released = gate();
  const removeVolume = driver.removeVolume.bind(driver);
  driver.removeVolume = async (name) => {
    reached.open();
    await released.wait();
    return removeVolume(name);
  };
  return { reached: reached.wait, release: released.open };
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
    const listed = holdNextList(driver);
    const sweep = snapshots.sweep();
    const [fork] = await snapshots.fork(taken.snapshotId, 1, forkOptions);
    listed.release();
    await sweep;
    assert.deepEqual((await find(taken.snapshotId))?.forks, [fork?.id], 'the snapshot is kept with its fork');
    await assertReapedWithForks(manager, snapshots, [fork?.id as string], taken.snapshotId);
  });

  it("keeps a fork request's own snapshot through sweeps at every step of the fork", async (t) => {
    let sweeps = 0;
    let isSweeping = false;
    const context: { snapshots?: Snapshots } = {};
    // A whole sweep before each step the engine takes: inside the copy and the layers, and in
    // between (a list, a volume made), where a snapshot no pin holds would be reaped.
    const sweepFirst = async () => {
      if (isSweeping || context.snapshots === undefined) return;
      isSweeping = true;
      await context.snapshots.sweep();
      sweeps += 1;
      isSweeping = false;
    };
    const { driver, manager, snapshots, source, forkOptions, find } = await setUp(t, sweepFirst);
    context.snapshots = snapshots;
    const listing = driver.listVolumeLabels.bind(driver);
    driver.listVolumeLabels = async (labels) => {
      await sweepFirst();
      return listing(labels);
    };
    const creating = driver.createVolume.bind(driver);
    driver.createVolume = async (name, labels) => {
      await sweepFirst();
      return creating(name, labels);
    };
    const { snapshotId, sandboxes } = await snapshots.forkSandbox(source.id, 2, forkOptions);
    assert.ok(sweeps >= 4, `sweeps ran between the steps (${sweeps})`);
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

  it('lets a fork or restore that comes while a delete removes the snapshot find it gone', async (t) => {
    const { driver, snapshots, source, forkOptions, find } = await setUp(t);
    const taken = await snapshots.create(source.id);
    const removal = holdRemovals(driver);
    const remove = snapshots.remove(taken.snapshotId);
    // The delete has decided and its volume's removal waits: a fork or restore now waits for it.
    await removal.reached();
    const fork = snapshots.fork(taken.snapshotId, 1, forkOptions);
    const restore = snapshots.restore(source.id, taken.snapshotId);
    removal.release();
    await remove;
    await assert.rejects(fork, { code: 'NOT_FOUND' });
    await assert.rejects(restore, { code: 'NOT_FOUND' });
    assert.equal(await find(taken.snapshotId), undefined);
  });

  it('answers 404 to a delete that comes while the sweep removes the snapshot', async (t) => {
    const { driver, snapshots, source, find } = await setUp(t);
    const taken = await snapshots.create(source.id, { isEphemeral: true });
    const removal = holdRemovals(driver);
    const sweep = snapshots.sweep();
    await removal.reached();
    const deletes = [snapshots.remove(taken.snapshotId), snapshots.remove(taken.snapshotId)];
    removal.release();
    await sweep;
    for (const deleted of deletes) await assert.rejects(deleted, { code: 'NOT_FOUND' });
    assert.equal(await find(taken.snapshotId), undefined);
  });

  it('lets a fork through that came while a delete was refused for forks, and after a removal that failed', async (t) => {
    const { driver, manager, snapshots, source, forkOptions, find } = await setUp(t);
    const taken = await snapshots.create(source.id);
    const [first] = await snapshots.fork(taken.snapshotId, 1, forkOptions);
    // The delete's own look at the snapshot waits: the fork below comes while it decides.
    const looking = holdNextList(driver);
    const refused = snapshots.remove(taken.snapshotId);
    await looking.reached();
    const volumes = driver.volumeNames().length;
    const second = snapshots.fork(taken.snapshotId, 1, forkOptions);
    for (let turn = 0; turn < 20; turn++) await new Promise((resolve) => setImmediate(resolve));
    assert.equal(driver.volumeNames().length, volumes, 'the fork makes nothing while the delete decides');
    looking.release();
    await assert.rejects(refused, { code: 'SNAPSHOT_IN_USE' });
    const [made] = await second;
    assert.deepEqual((await find(taken.snapshotId))?.forks.sort(), [first?.id, made?.id].sort());

    for (const fork of [first, made]) await manager.destroy(fork?.id as string);
    const removeVolume = driver.removeVolume.bind(driver);
    driver.removeVolume = async () => {
      throw new Error('the engine refused');
    };
    await assert.rejects(snapshots.remove(taken.snapshotId), /the engine refused/);
    driver.removeVolume = removeVolume;
    const [third] = await snapshots.fork(taken.snapshotId, 1, forkOptions);
    assert.deepEqual((await find(taken.snapshotId))?.forks, [third?.id], 'nothing was left claimed');
    await manager.destroy(third?.id as string);
    await snapshots.remove(taken.snapshotId);
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
