import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DockerDriver } from '../../src/runtime/docker/driver.ts';
import { structured } from '../support/control-plane.ts';
import { skipUnderGvisor } from '../support/runtime.ts';
import { post, type SnapshotJson, sh, snapshot, snapshotSuite } from '../support/snapshots.ts';

/**
 * A hostile workspace against snapshots, restore and forks: links that point out
 * of it, hard links, holes, a 10 GiB sparse file, FIFOs, unreadable files and
 * names that look like devices or options. Nothing may escape into the host,
 * nothing may blow up its disk, and the copy must stay the workspace's.
 */

const MAX_SNAPSHOT_BYTES = 64 * 1024 ** 2;
const suite = snapshotSuite({ SANDBOXD_MAX_SNAPSHOT_BYTES: String(MAX_SNAPSHOT_BYTES) });

const HOSTILE = [
  'mkdir -p dev links locked/inner',
  'echo data > data && ln data hard1 && ln data links/hard2',
  'truncate -s 10G big',
  'head -c 4096 /dev/urandom > holes && truncate -s 64M holes && printf tail >> holes',
  'touch dev/null dev/sda dev/kmsg -- -rf "--checkpoint-action=exec=sh" \'$(reboot)\' "$(printf \'new\\nline\')"',
  'ln -s /etc/shadow links/shadow && ln -s ../../../../../../../var/lib/docker links/up',
  'ln -s /proc/self/root links/root && ln -s /run/sandboxd/control.sock links/socket',
  'mkfifo fifo',
  'echo secret > locked/inner/file && chmod 000 locked/inner/file locked/inner',
].join(' && ');

/** Every entry with type, mode, size, link count and target (names with newlines included). */
const LISTING = `cd /workspace && find . -mindepth 1 -printf '%y %m %s %n %l %p\\0' | LC_ALL=C sort -z | tr '\\0' '\\n'`;

describe('a hostile workspace', () => {
  it(
    'is copied as it is: links stay links, holes stay holes, nothing of the host comes in',
    skipUnderGvisor(
      'under runsc the entries the sandbox lists and those the (runc) snapshot helper copies were counted differently; snapshots are not yet checked under gVisor',
    ),
    async () => {
      const source = await suite.task();
      await sh(source, HOSTILE);
      const listing = await sh(source, LISTING);
      const entries = listing.split('\n').filter((line) => /^[a-z] /.test(line)).length;
      const taken = await snapshot(suite.plane, source.id);
      assert.ok(
        taken.bytes < 8 * 1024 ** 2,
        `a 10 GiB sparse file takes ${taken.bytes} bytes in the snapshot`,
      );
      // The copy also holds locked/inner/file, which the sandbox cannot list until it opens the directory.
      assert.equal(
        taken.files,
        entries + 1,
        `as many entries as the workspace: nothing followed out of it\n${listing}`,
      );

      const forkOf = await suite.task({ fromSnapshot: taken.snapshotId });
      assert.equal(await sh(forkOf, LISTING), listing);
      assert.equal(
        (await sh(forkOf, 'stat -c %i data hard1 links/hard2 | sort -u | wc -l')).trim(),
        '1',
        'hard links are one file',
      );
      assert.equal(
        (await sh(forkOf, 'readlink links/shadow links/up')).trim(),
        '/etc/shadow\n../../../../../../../var/lib/docker',
      );
      assert.ok(Number((await sh(forkOf, 'du -B1 big | cut -f1')).trim()) < 1024 ** 2);
      // Writing into the sparse file copies it up into the fork's layer, holes and all.
      await sh(forkOf, 'printf x >> big');
      const used = Number((await sh(forkOf, 'du -B1 big | cut -f1')).trim());
      assert.ok(used < 1024 ** 2, `the fork's copy of big uses ${used} bytes`);
      assert.equal((await sh(forkOf, 'stat -c %s big')).trim(), String(10 * 1024 ** 3 + 1));
      // The unreadable directory came along, and is the sandbox's to open again.
      assert.equal(
        (
          await sh(forkOf, 'chmod 700 locked/inner && chmod 600 locked/inner/file && cat locked/inner/file')
        ).trim(),
        'secret',
      );

      // Restore into the source after it wrecked itself: the same listing, still sparse.
      await sh(source, 'chmod -R u+rwx locked && rm -rf ./* && echo wrecked > wrecked');
      const restored = await post(suite.plane, `/v1/sandboxes/${source.id}/restore`, {
        snapshotId: taken.snapshotId,
      });
      assert.equal(restored.status, 200, await restored.clone().text());
      assert.equal(await sh(source, LISTING), listing);
      assert.ok(Number((await sh(source, 'du -B1 big | cut -f1')).trim()) < 1024 ** 2);
    },
  );

  it('refuses a workspace larger than the snapshot bytes left, and leaves no volume behind', async () => {
    const source = await suite.task();
    await sh(source, `head -c ${MAX_SNAPSHOT_BYTES + 1024 ** 2} /dev/urandom > bulk`);
    const before = (
      (await (await suite.plane.fetch('/v1/snapshots')).json()) as { snapshots: SnapshotJson[] }
    ).snapshots;
    const refused = await post(suite.plane, `/v1/sandboxes/${source.id}/snapshots`, {});
    assert.equal(refused.status, 429);
    assert.equal(((await refused.json()) as { error: { code: string } }).error.code, 'QUOTA_EXCEEDED');
    const driver = new DockerDriver();
    const left = await driver.listVolumeLabels({ 'io.sandboxd.state-dir': suite.plane.stateDir });
    const snapshotVolumes = left.filter((labels) => labels['io.sandboxd.snapshot'] !== undefined);
    assert.equal(snapshotVolumes.length, before.length);
  });

  it('never runs a workspace path or name in the helper, and takes only snapshot ids', async () => {
    const source = await suite.task();
    for (const snapshotId of ['../x', 'snap-0123456789ab/../..', '$(id)', 'sandboxd-ws-default']) {
      const response = await post(suite.plane, `/v1/sandboxes/${source.id}/restore`, { snapshotId });
      assert.equal(response.status, 400, snapshotId);
    }
    const result = await source.client.callTool({
      name: 'checkpoint_restore',
      arguments: { checkpoint_id: '../../sandboxd-ws-default' },
    });
    assert.equal((structured(result).error as { code: string }).code, 'INVALID_ARGUMENT');
  });
});
