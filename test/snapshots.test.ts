import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { structured } from './support/control-plane.ts';
import {
  connect,
  fork,
  manifest,
  post,
  type SnapshotJson,
  sh,
  snapshot,
  snapshotSuite,
  type TaskSandbox,
} from './support/snapshots.ts';

const ENV = { SANDBOXD_SWEEP_MS: '500', SANDBOXD_MAX_SNAPSHOTS_PER_SANDBOX: '3' };
const suite = snapshotSuite(ENV);

async function listed(): Promise<SnapshotJson[]> {
  return ((await (await suite.plane.fetch('/v1/snapshots')).json()) as { snapshots: SnapshotJson[] })
    .snapshots;
}

const TREE = [
  'mkdir -p src/deep/er empty/inner docs',
  'printf "hello\\n" > src/a.txt && chmod 0640 src/a.txt',
  'head -c 200000 /dev/urandom > src/deep/er/blob.bin',
  'printf "#!/bin/sh\\necho run\\n" > run.sh && chmod 0755 run.sh',
  'printf "ro" > docs/readonly && chmod 0444 docs/readonly',
  'ln -s src/a.txt link-in && ln -s /etc/hostname link-out && ln -s missing dangling',
  'chmod 0700 empty/inner',
].join(' && ');

describe('snapshot and restore', () => {
  it('gives back every byte, mode, link and empty directory, and stops running commands first', async () => {
    const sandbox = await suite.task();
    await sh(sandbox, TREE);
    const before = await manifest(sandbox);
    const taken = await snapshot(suite.plane, sandbox.id, { label: 'clean' });
    assert.match(taken.snapshotId, /^snap-[0-9a-f]{12}$/);
    assert.ok(taken.files >= 11, `files ${taken.files}`);
    assert.ok(taken.bytes >= 200_000, `bytes ${taken.bytes}`);
    assert.ok(Date.parse(taken.createdAt) <= Date.now());

    await sh(
      sandbox,
      'echo changed >> src/a.txt && rm -r src/deep && chmod 0600 run.sh && rmdir empty/inner && ' +
        'rm link-in && ln -s run.sh link-in && echo new > new.txt && mkdir more',
    );
    assert.notEqual(await manifest(sandbox), before);
    const running = structured(
      await sandbox.client.callTool({
        name: 'exec_command',
        arguments: { cmd: 'sleep 600', yield_time_ms: 100 },
      }),
    );
    assert.equal(running.status, 'running');

    const response = await post(suite.plane, `/v1/sandboxes/${sandbox.id}/restore`, {
      snapshotId: taken.snapshotId,
    });
    assert.equal(response.status, 200, await response.clone().text());
    const restored = (await response.json()) as { stoppedCommands: number; state: string; files: number };
    assert.equal(restored.stoppedCommands, 1);
    assert.equal(restored.state, 'ready');
    assert.equal(restored.files, taken.files);
    assert.equal(await manifest(sandbox), before);
  });

  it('lists, gets and deletes a snapshot, and answers 404 for one that does not exist', async () => {
    const sandbox = await suite.task();
    const taken = await snapshot(suite.plane, sandbox.id);
    const one = (await (await suite.plane.fetch(`/v1/snapshots/${taken.snapshotId}`)).json()) as SnapshotJson;
    assert.equal(one.sandboxId, sandbox.id);
    const mine = (await (await suite.plane.fetch(`/v1/sandboxes/${sandbox.id}/snapshots`)).json()) as {
      snapshots: SnapshotJson[];
    };
    assert.deepEqual(
      mine.snapshots.map((found) => found.snapshotId),
      [taken.snapshotId],
    );
    assert.equal(
      (await suite.plane.fetch(`/v1/snapshots/${taken.snapshotId}`, { method: 'DELETE' })).status,
      204,
    );
    assert.equal((await suite.plane.fetch(`/v1/snapshots/${taken.snapshotId}`)).status, 404);
    assert.equal((await suite.plane.fetch('/v1/snapshots/snap-000000000000')).status, 404);
    assert.equal((await suite.plane.fetch('/v1/snapshots/..%2f..%2fetc')).status, 404);
  });
});

describe('forks', () => {
  it('makes five sandboxes with their own tokens; none sees another fork’s writes, nor the source theirs', async () => {
    const source = await suite.task();
    await sh(source, 'echo base > shared.txt && mkdir d && echo keep > d/keep');
    const uid = (await sh(source, 'id -u')).trim();
    const { snapshotId, sandboxes } = await fork(suite.plane, source.id, 5);
    for (const one of sandboxes) suite.track(one);
    assert.equal(new Set(sandboxes.map((one) => one.token)).size, 5);
    await Promise.all(
      sandboxes.map((one) =>
        sh(one, `echo ${one.id} > shared.txt && echo ${one.id} > own-${one.id} && rm d/keep`),
      ),
    );
    for (const one of sandboxes) {
      assert.equal((await sh(one, 'cat shared.txt')).trim(), one.id);
      assert.equal((await sh(one, 'ls -1 | grep -c "^own-" || true')).trim(), '1', 'only its own file');
      assert.equal((await sh(one, 'id -u')).trim(), uid, "a fork runs as its snapshot's uid");
      // Another fork's token does not reach it.
      const other = sandboxes.find((candidate) => candidate.id !== one.id) as TaskSandbox;
      const refused = await suite.plane.fetch(`/s/${one.id}/mcp`, {
        method: 'POST',
        body: '{}',
        headers: suite.plane.headers(other.token),
      });
      assert.equal(refused.status, 401);
    }
    assert.equal((await sh(source, 'cat shared.txt d/keep')).trim(), 'base\nkeep');
    assert.equal((await sh(source, 'ls -1 | grep -c "^own-" || true')).trim(), '0');
    // The snapshot under them is unchanged: a new sandbox from it sees the original files.
    const fresh = await suite.task({ fromSnapshot: snapshotId });
    assert.equal((await sh(fresh, 'cat shared.txt d/keep; ls')).trim(), 'base\nkeep\nd\nshared.txt');
  });

  it('refuses to delete a snapshot forks still use, and lets it go once they are gone', async () => {
    const source = await suite.task();
    await sh(source, 'echo x > x');
    const taken = await snapshot(suite.plane, source.id);
    const forked = [
      await suite.task({ fromSnapshot: taken.snapshotId }),
      await suite.task({ fromSnapshot: taken.snapshotId }),
    ];
    const refused = await suite.plane.fetch(`/v1/snapshots/${taken.snapshotId}`, { method: 'DELETE' });
    assert.equal(refused.status, 409);
    const error = ((await refused.json()) as { error: { code: string } }).error;
    assert.equal(error.code, 'SNAPSHOT_IN_USE');
    assert.deepEqual(
      (
        (await (await suite.plane.fetch(`/v1/snapshots/${taken.snapshotId}`)).json()) as SnapshotJson
      ).forks.sort(),
      forked.map((one) => one.id).sort(),
    );
    // Forks keep working on it meanwhile.
    assert.equal((await sh(forked[0] as TaskSandbox, 'cat x')).trim(), 'x');
    for (const one of forked)
      assert.equal((await suite.plane.fetch(`/v1/sandboxes/${one.id}`, { method: 'DELETE' })).status, 204);
    assert.equal(
      (await suite.plane.fetch(`/v1/snapshots/${taken.snapshotId}`, { method: 'DELETE' })).status,
      204,
    );
  });

  it("removes a fork request's own snapshot once its forks are deleted", async () => {
    const source = await suite.task();
    const { snapshotId, sandboxes } = await fork(suite.plane, source.id, 1);
    for (const one of sandboxes) suite.track(one);
    assert.ok((await listed()).some((one) => one.snapshotId === snapshotId));
    assert.equal(
      (await suite.plane.fetch(`/v1/sandboxes/${sandboxes[0]?.id}`, { method: 'DELETE' })).status,
      204,
    );
    await waitFor(
      async () => !(await listed()).some((one) => one.snapshotId === snapshotId),
      'the fork snapshot reaped',
    );
  });
});

describe('consistency', () => {
  it('takes a snapshot at one instant while a command writes 10 000 files', async () => {
    const sandbox = await suite.task();
    // A large file in each directory keeps the copy busy long enough for the writer to move on:
    // a copy that does not freeze the sandbox lists the second directory later than the first.
    await sh(sandbox, 'mkdir a b && head -c 100M /dev/urandom > a/big && cp a/big b/big');
    const writer = structured(
      await sandbox.client.callTool({
        name: 'exec_command',
        arguments: {
          cmd: 'for i in $(seq 0 4999); do echo "content $i" > a/f$i; echo "content $i" > b/f$i; [ $((i % 25)) = 24 ] && sleep 0.02; done; echo done',
          yield_time_ms: 500,
        },
      }),
    );
    assert.equal(writer.status, 'running');
    const taken = await snapshot(suite.plane, sandbox.id);
    const copy = await suite.task({ fromSnapshot: taken.snapshotId });
    const numbers = async (dir: string) =>
      (await sh(copy, `ls ${dir} | grep '^f' | sed s/^f// | sort -n`)).trim().split('\n').map(Number);
    const [inA, inB] = [await numbers('a'), await numbers('b')];
    assert.ok(inA.length > 0 && inA.length < 5000, `the copy caught the writer midway (${inA.length})`);
    // One instant: a/ and b/ hold the same prefix of files, b/ at most one behind a/.
    assert.deepEqual(
      inA,
      Array.from({ length: inA.length }, (_, index) => index),
    );
    assert.deepEqual(
      inB,
      Array.from({ length: inB.length }, (_, index) => index),
    );
    assert.ok(
      inA.length - inB.length === 0 || inA.length - inB.length === 1,
      `a/ ${inA.length}, b/ ${inB.length}`,
    );
    // Every file but possibly the last is complete (the freezer stops a task between system calls).
    const wrong = await sh(
      copy,
      `n=${inB.length}; for i in $(seq 0 $((n-2))); do [ "$(cat a/f$i)" = "content $i" ] && [ "$(cat b/f$i)" = "content $i" ] || echo f$i; done`,
    );
    assert.equal(wrong, '');
  });
});

describe('quotas and TTL', () => {
  it('refuses a snapshot past the per-sandbox count and reaps one past its TTL', async () => {
    const sandbox = await suite.task();
    await snapshot(suite.plane, sandbox.id);
    await snapshot(suite.plane, sandbox.id);
    // Taken last and given room: on a loaded machine a 1 s TTL ran out (and was reaped) before the refusal was asked for.
    const short = await snapshot(suite.plane, sandbox.id, { ttlSeconds: 10 });
    const refused = await post(suite.plane, `/v1/sandboxes/${sandbox.id}/snapshots`, {});
    assert.equal(refused.status, 429);
    await waitFor(
      async () => !(await listed()).some((one) => one.snapshotId === short.snapshotId),
      'TTL reap',
      30_000,
    );
    assert.equal((await post(suite.plane, `/v1/sandboxes/${sandbox.id}/snapshots`, {})).status, 201);
  });
});

describe('the checkpoint tools', () => {
  it('let the agent save, list and roll back its own workspace, and nothing of another sandbox', async () => {
    const sandbox = await suite.task();
    const other = await suite.task();
    const foreign = await snapshot(suite.plane, other.id);
    await sh(sandbox, 'echo v1 > f');
    const saved = structured(
      await sandbox.client.callTool({ name: 'checkpoint_create', arguments: { label: 'before' } }),
    );
    assert.match(String(saved.checkpoint_id), /^snap-/);
    await sh(sandbox, 'echo v2 > f && touch junk');
    const list = structured(await sandbox.client.callTool({ name: 'checkpoint_list', arguments: {} }));
    assert.deepEqual(
      (list.checkpoints as { checkpoint_id: string }[]).map((one) => one.checkpoint_id),
      [saved.checkpoint_id],
    );
    const restored = structured(
      await sandbox.client.callTool({
        name: 'checkpoint_restore',
        arguments: { checkpoint_id: saved.checkpoint_id },
      }),
    );
    assert.equal(restored.stopped_commands, 0);
    assert.equal((await sh(sandbox, 'cat f; ls')).trim(), 'v1\nf');
    const stolen = await sandbox.client.callTool({
      name: 'checkpoint_restore',
      arguments: { checkpoint_id: foreign.snapshotId },
    });
    assert.equal(stolen.isError, true);
    assert.equal((structured(stolen).error as { code: string }).code, 'NOT_FOUND');
  });
});

describe('a control-plane restart', () => {
  it('keeps snapshots, forks and the refusal to delete what forks use', async () => {
    const source = await suite.task();
    await sh(source, 'echo kept > kept.txt');
    const taken = await snapshot(suite.plane, source.id);
    const forked = await suite.task({ fromSnapshot: taken.snapshotId });
    await sh(forked, 'echo fork-write > mine.txt');
    await suite.plane.stop();
    await suite.plane.start(ENV);
    const again = (await (
      await suite.plane.fetch(`/v1/snapshots/${taken.snapshotId}`)
    ).json()) as SnapshotJson;
    assert.equal(again.files, taken.files);
    assert.deepEqual(again.forks, [forked.id]);
    const reconnected = await connect(suite.plane, forked);
    suite.track(reconnected);
    assert.equal((await sh(reconnected, 'cat kept.txt mine.txt')).trim(), 'kept\nfork-write');
    assert.equal(
      (await suite.plane.fetch(`/v1/snapshots/${taken.snapshotId}`, { method: 'DELETE' })).status,
      409,
    );
  });
});

async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
