import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { access, mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DockerDriver } from '../src/runtime/docker/driver.ts';
import { LABEL_STATE_DIR, managedLabels, workspaceVolumeName } from '../src/runtime/labels.ts';
import { type CliResult, runSandboxd } from './support/cli.ts';
import { CLI, ControlPlane } from './support/control-plane.ts';
import { TestSandboxes } from './support/sandboxes.ts';

/**
 * `sandboxd ls`, `rm` and `prune` against the real engine. Other test runs share
 * this engine, so every prune here is limited with --state-dir to this file's
 * own temporary state directories, and every assertion looks at those only.
 */

const driver = new DockerDriver();

/** The built CLI; its own state directory points into /tmp so nothing reaches /var/lib/sandboxd. */
function sandboxd(args: string[], stateDir: string): Promise<CliResult> {
  return runSandboxd(args, { SANDBOXD_STATE_DIR: stateDir, SANDBOXD_LOG_LEVEL: 'warn' });
}

interface Listed {
  sandboxId: string;
  containerId: string;
  workspace: string;
  stateDir: string;
  stateDirExists: boolean | null;
  lifetime: string | null;
  owner: { state: string; name: string } | null;
  prune: { isOrphan: boolean; code: string; reason: string };
}

/** `sandboxd ls --json`, limited to the given state directories. */
async function listed(stateDirs: string[]): Promise<Listed[]> {
  const result = await sandboxd(
    ['ls', '--json', ...stateDirs.flatMap((dir) => ['--state-dir', dir])],
    stateDirs[0] as string,
  );
  assert.equal(result.code, 0, result.stderr);
  return (JSON.parse(result.stdout) as { sandboxes: Listed[] }).sandboxes;
}

async function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}

async function hasVolume(name: string): Promise<boolean> {
  return (await driver.listVolumes(managedLabels)).includes(name);
}

/** Removes every container labelled with one of these state directories: what a failed test may leave. */
async function removeContainersOf(stateDirs: string[]): Promise<void> {
  for (const container of await driver.list(managedLabels)) {
    const stateDir = container.labels[LABEL_STATE_DIR];
    if (stateDir !== undefined && stateDirs.includes(stateDir)) await driver.remove(container.id);
  }
}

describe('a sandboxd run killed with SIGKILL', () => {
  let scratch = '';
  let stateDir = '';

  before(async () => {
    scratch = await mkdtemp(path.join(os.tmpdir(), 'sandboxd-orphans-run-'));
    stateDir = path.join(scratch, 'state');
  });

  after(async () => {
    await removeContainersOf([stateDir]);
    await rm(scratch, { recursive: true, force: true });
  });

  it('leaves a sandbox that ls calls an orphan, a dry run lists and prune removes', async () => {
    const workspace = path.join(scratch, 'workspace');
    await mkdir(workspace);
    const run = spawn(
      process.execPath,
      [CLI, 'run', '--in-place', '--workspace', workspace, '--', 'sleep', '300'],
      {
        env: { ...process.env, SANDBOXD_STATE_DIR: stateDir, SANDBOXD_LOG_LEVEL: 'info' },
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    const exited = new Promise((resolve) => run.once('exit', resolve));
    let log = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the sandbox never became ready:\n${log}`)), 60_000);
      run.stderr.setEncoding('utf8').on('data', (text: string) => {
        log += text;
        if (log.includes('"to":"ready"')) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    run.kill('SIGKILL');
    await exited;

    const [orphan, ...others] = await listed([stateDir]);
    assert.equal(others.length, 0);
    assert.ok(orphan !== undefined, 'the killed run left its container');
    assert.equal(orphan.workspace, workspace);
    assert.equal(orphan.lifetime, 'process');
    assert.equal(orphan.owner?.state, 'gone');
    assert.match(orphan.owner?.name ?? '', /^run \(pid \d+\)$/);
    assert.deepEqual([orphan.prune.isOrphan, orphan.prune.code], [true, 'owner-gone']);

    const dryRun = await sandboxd(['prune', '--dry-run', '--state-dir', stateDir], stateDir);
    assert.equal(dryRun.code, 0, dryRun.stderr);
    assert.match(dryRun.stdout, new RegExp(`would remove ${orphan.sandboxId} .*which is gone`));
    assert.notEqual(await driver.inspect(orphan.containerId), undefined, 'a dry run removes nothing');

    const pruned = await sandboxd(['prune', '--state-dir', stateDir], stateDir);
    assert.equal(pruned.code, 0, pruned.stderr);
    assert.match(pruned.stdout, new RegExp(`removed ${orphan.sandboxId} `));
    assert.equal(await driver.inspect(orphan.containerId), undefined, 'the container is gone');
    assert.equal(await exists(path.join(stateDir, 'sockets', orphan.sandboxId)), false, 'its socket dir too');
    assert.deepEqual(await listed([stateDir]), []);
  });
});

describe('the sandboxes of a stopped serve', () => {
  /** Two control planes, each with a named workspace; the first also has a /v1 sandbox with its own volume. */
  const planes: ControlPlane[] = [];
  const names = [0, 1].map(() => `orphans-${randomBytes(4).toString('hex')}`);
  let ownedVolume = '';

  async function createSandbox(plane: ControlPlane, body: Record<string, unknown>): Promise<string> {
    const response = await plane.fetch('/v1/sandboxes', { method: 'POST', body: JSON.stringify(body) });
    assert.equal(response.status, 201, await response.clone().text());
    return ((await response.json()) as { id: string }).id;
  }

  before(async () => {
    planes.push(await ControlPlane.create(), await ControlPlane.create());
    await Promise.all(planes.map((plane) => plane.start()));
    const [first, second] = planes as [ControlPlane, ControlPlane];
    await createSandbox(first, { workspace: names[0] });
    ownedVolume = workspaceVolumeName(await createSandbox(first, {}));
    await createSandbox(second, { workspace: names[1] });
    await Promise.all(planes.map((plane) => plane.stop()));
  });

  after(async () => {
    await Promise.all(planes.map((plane) => plane.destroy()));
    for (const name of names) await driver.removeVolume(workspaceVolumeName(name));
  });

  it('are kept while the state directory exists: the next serve reconciles them', async () => {
    const stateDirs = planes.map((plane) => plane.stateDir);
    const sandboxes = await listed(stateDirs);
    assert.equal(sandboxes.length, 3);
    for (const sandbox of sandboxes) {
      assert.deepEqual([sandbox.lifetime, sandbox.owner?.state], ['persistent', 'gone']);
      assert.deepEqual([sandbox.prune.isOrphan, sandbox.prune.code], [false, 'persistent']);
    }
    const pruned = await sandboxd(
      ['prune', ...stateDirs.flatMap((dir) => ['--state-dir', dir])],
      stateDirs[0] as string,
    );
    assert.equal(pruned.code, 0, pruned.stderr);
    assert.match(pruned.stdout, /nothing to prune \(3 sandboxes kept/);
    assert.equal((await listed(stateDirs)).length, 3);
  });

  it('are pruned once the state directory is gone, keeping the named workspace volume', async () => {
    const plane = planes[0] as ControlPlane;
    await rm(plane.stateDir, { recursive: true, force: true });
    const sandboxes = await listed([plane.stateDir]);
    assert.equal(sandboxes.length, 2);
    for (const sandbox of sandboxes) {
      assert.equal(sandbox.stateDirExists, false);
      assert.deepEqual([sandbox.prune.isOrphan, sandbox.prune.code], [true, 'state-dir-gone']);
    }
    const dryRun = await sandboxd(['prune', '--dry-run', '--state-dir', plane.stateDir], plane.stateDir);
    assert.match(dryRun.stdout, new RegExp(`would remove volume ${ownedVolume} `));
    assert.match(
      dryRun.stdout,
      new RegExp(`kept volume ${workspaceVolumeName(names[0] as string)}: .*--volumes`),
    );
    assert.equal((await listed([plane.stateDir])).length, 2, 'a dry run removes nothing');

    const pruned = await sandboxd(['prune', '--state-dir', plane.stateDir], plane.stateDir);
    assert.equal(pruned.code, 0, pruned.stderr);
    assert.deepEqual(await listed([plane.stateDir]), []);
    assert.equal(await hasVolume(ownedVolume), false, "a /v1 sandbox's own volume goes with it");
    assert.equal(await hasVolume(workspaceVolumeName(names[0] as string)), true, 'the named workspace stays');
  });

  it('take their named workspace volume along with --volumes', async () => {
    const plane = planes[1] as ControlPlane;
    await rm(plane.stateDir, { recursive: true, force: true });
    const pruned = await sandboxd(['prune', '--volumes', '--state-dir', plane.stateDir], plane.stateDir);
    assert.equal(pruned.code, 0, pruned.stderr);
    assert.match(pruned.stdout, new RegExp(`removed volume ${workspaceVolumeName(names[1] as string)} `));
    assert.deepEqual(await listed([plane.stateDir]), []);
    assert.equal(await hasVolume(workspaceVolumeName(names[1] as string)), false);
  });
});

describe('sandboxd rm', () => {
  const sandboxes = new TestSandboxes();

  before(() => sandboxes.setup());
  after(() => sandboxes.teardown());

  it('removes sandboxes named by id or container id prefix, with their socket dirs and own volumes', async () => {
    const byId = await sandboxes.create();
    const byPrefix = await sandboxes.create();
    const prefix = (byPrefix.containerId as string).slice(0, 12);
    const result = await sandboxd(['rm', byId.id, prefix], sandboxes.stateDir);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, new RegExp(`removed ${byId.id} \\(container .*socket dir`));
    assert.match(result.stdout, new RegExp(`removed volume ${workspaceVolumeName(byId.id)} `));
    assert.match(result.stdout, new RegExp(`removed ${byPrefix.id} `));
    assert.deepEqual(await listed([sandboxes.stateDir]), []);
    for (const sandbox of [byId, byPrefix]) {
      assert.equal(await hasVolume(workspaceVolumeName(sandbox.id)), false);
      assert.equal(await exists(path.join(sandboxes.stateDir, 'sockets', sandbox.id)), false);
    }
  });

  it('exits 1 naming an id that matches no sandbox', async () => {
    const result = await sandboxd(['rm', 'sb-nosuchsandbox'], sandboxes.stateDir);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /no sandbox sb-nosuchsandbox/);
  });
});
