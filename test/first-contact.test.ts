/**
 * What a new user does in the first minutes, on the real engine and image: point
 * `serve` at one folder, then another; run two servers at once; delete and
 * re-clone the folder under a running sandbox; point sandboxd at a root-owned or
 * private folder.
 */
import assert from 'node:assert/strict';
import { chmod, chown, mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import type { Client } from '@modelcontextprotocol/client';
import { DockerDriver } from '../src/runtime/docker/driver.ts';
import { ControlPlane, structured } from './support/control-plane.ts';

const planes: ControlPlane[] = [];
const folders: string[] = [];
after(async () => {
  for (const plane of planes) await plane.destroy();
  for (const folder of folders) await rm(folder, { recursive: true, force: true });
});

const isRoot = process.getuid?.() === 0;

/** A fresh folder with a marker file naming it, as a test harness copies a fixture. */
async function folder(marker: string, mode = 0o755): Promise<string> {
  const directory = await mkdtemp(path.join(os.tmpdir(), 'sandboxd-fc-'));
  folders.push(directory);
  await writeFile(path.join(directory, 'marker.txt'), `${marker}\n`);
  await chmod(directory, mode);
  return directory;
}

async function plane(): Promise<ControlPlane> {
  const created = await ControlPlane.create();
  planes.push(created);
  return created;
}

/** A second control plane over the same state directory (the default settings' case). */
async function sharing(first: ControlPlane): Promise<ControlPlane> {
  const second = new ControlPlane();
  Object.assign(second, { token: first.token, stateDir: first.stateDir, policyDir: first.policyDir });
  return second;
}

async function exec(client: Client, cmd: string): Promise<Record<string, unknown>> {
  return structured(await client.callTool({ name: 'exec_command', arguments: { cmd } }));
}

async function markerSeenBy(served: ControlPlane): Promise<string> {
  const client = await served.client();
  try {
    const result = structured(
      await client.callTool({ name: 'read_file', arguments: { path: 'marker.txt' } }),
    );
    assert.equal(result.ok, true, JSON.stringify(result));
    return String(result.content).trim();
  } finally {
    await client.close();
  }
}

async function containersOf(stateDir: string) {
  return (await new DockerDriver().list({ 'io.sandboxd.managed': 'true' })).filter(
    (container) => container.labels['io.sandboxd.state-dir'] === stateDir,
  );
}

describe('a restarted control plane over another folder', () => {
  it('serves the new folder after a clean stop, and leaves nothing running behind it', async () => {
    const a = await folder('folder A');
    const b = await folder('folder B');
    const first = await plane();
    await first.start({}, ['--workspace', a]);
    assert.equal(await markerSeenBy(first), 'folder A');
    await first.stop();
    assert.deepEqual(await containersOf(first.stateDir), [], 'the host-folder sandbox went with its server');
    await first.start({}, ['--workspace', b]);
    assert.equal(await markerSeenBy(first), 'folder B');
  });

  it('replaces a sandbox left by a crash when it works on another folder, even one deleted since', async () => {
    const a = await folder('folder A');
    const b = await folder('folder B');
    const first = await plane();
    await first.start({}, ['--workspace', a]);
    assert.equal(await markerSeenBy(first), 'folder A');
    first.process?.kill('SIGKILL');
    await new Promise((resolve) => first.process?.once('exit', resolve));
    first.process = undefined;
    assert.equal((await containersOf(first.stateDir)).length, 1, 'a crash leaves the sandbox running');
    await rm(a, { recursive: true, force: true });
    await first.start({}, ['--workspace', b]);
    assert.equal(await markerSeenBy(first), 'folder B');
    const [container] = await containersOf(first.stateDir);
    assert.equal(container?.labels['io.sandboxd.workspace'], b);
  });

  it('adopts a sandbox left by a crash when it still matches, keeping its running command', async () => {
    const a = await folder('folder A');
    const first = await plane();
    await first.start({}, ['--workspace', a]);
    let client = await first.client();
    const started = await exec(client, 'sleep 60');
    await client.close();
    first.process?.kill('SIGKILL');
    await new Promise((resolve) => first.process?.once('exit', resolve));
    first.process = undefined;
    await first.start({}, ['--workspace', a]);
    client = await first.client();
    try {
      const poll = structured(
        await client.callTool({
          name: 'write_stdin',
          arguments: { command_id: started.command_id, chars: '', yield_time_ms: 0 },
        }),
      );
      assert.equal(poll.status, 'running', 'the command outlived the crash: the sandbox was adopted');
    } finally {
      await client.close();
    }
  });

  it('replaces a workspace sandbox whose policy is no longer the configured one', async () => {
    const first = await plane();
    await first.start();
    const client = await first.client();
    await client.callTool({
      name: 'write_file',
      arguments: { path: 'marker.txt', content: 'volume data\n' },
    });
    await client.close();
    const [before] = await containersOf(first.stateDir);
    await first.stop();
    await writeFile(
      path.join(first.policyDir, 'other.yaml'),
      'name: other\ndescription: another policy\nseccomp:\n  profile: sandboxd.json\n',
    );
    await first.start({}, ['--policy', 'other']);
    assert.equal(await markerSeenBy(first), 'volume data', 'the volume and its files are kept');
    const [now] = await containersOf(first.stateDir);
    assert.notEqual(now?.id, before?.id, 'a new container');
    assert.equal(now?.labels['io.sandboxd.policy'], 'other');
  });
});

describe('two control planes on one machine', () => {
  it('refuses a second server on the same state directory, saying what to do, and disturbs nothing', async () => {
    const a = await folder('folder A');
    const first = await plane();
    await first.start({}, ['--workspace', a]);
    assert.equal(await markerSeenBy(first), 'folder A');
    const second = await sharing(first);
    await assert.rejects(second.start({}, ['--workspace', await folder('folder B')]), (error: Error) => {
      assert.match(error.message, /exited with 2/);
      assert.match(error.message, /already uses the state directory/);
      assert.match(error.message, /--state-dir DIR/);
      assert.match(error.message, new RegExp(`pid ${first.process?.pid}`));
      return true;
    });
    assert.equal(await markerSeenBy(first), 'folder A', 'the first server still serves its own folder');
  });

  it('runs 100 server cycles, two at a time on their own state directories, with every answer from its own folder', async () => {
    const cycles = Number(process.env.SANDBOXD_TEST_CYCLES ?? 100);
    const lanes = [await plane(), await plane()];
    let wrongFolder = 0;
    const lane = async (served: ControlPlane, laneIndex: number) => {
      for (let cycle = laneIndex; cycle < cycles; cycle += lanes.length) {
        const marker = `cycle ${cycle}`;
        const directory = await folder(marker);
        await served.start({}, ['--workspace', directory]);
        if ((await markerSeenBy(served)) !== marker) wrongFolder++;
        if (cycle % 10 === 0) {
          // A harness starting a second server with the same settings gets a clear refusal.
          const intruder = await sharing(served);
          await assert.rejects(
            intruder.start({}, ['--workspace', directory]),
            /already uses the state directory/,
          );
        }
        await served.stop();
        await rm(directory, { recursive: true, force: true });
        served.baseUrl = '';
      }
    };
    await Promise.all(lanes.map((served, index) => lane(served, index)));
    assert.equal(wrongFolder, 0);
    for (const served of lanes)
      assert.deepEqual(await containersOf(served.stateDir), [], 'nothing left running');
  });
});

describe('a folder deleted and re-created under a running sandbox', () => {
  it('gets a new sandbox over the new folder on the next call, with a note, and a clear error while it is gone', async () => {
    const a = await folder('first clone');
    const first = await plane();
    await first.start({}, ['--workspace', a]);
    const client = await first.client();
    try {
      assert.equal((await exec(client, 'cat marker.txt')).stdout, 'first clone\n');
      await rm(a, { recursive: true, force: true });
      const gone = structured(await client.callTool({ name: 'list_dir', arguments: { path: '.' } }));
      assert.equal(gone.ok, false);
      assert.equal((gone.error as { code: string }).code, 'SANDBOX_UNAVAILABLE');
      assert.match((gone.error as { message: string }).message, /does not exist any more/);
      await mkdir(a);
      await writeFile(path.join(a, 'marker.txt'), 'second clone\n');
      const result = await client.callTool({ name: 'exec_command', arguments: { cmd: 'cat marker.txt' } });
      assert.equal(structured(result).stdout, 'second clone\n');
      const texts = (result.content as { type: string; text: string }[])
        .map((block) => block.text)
        .join('\n');
      assert.match(texts, /deleted and created again/);
      const next = await client.callTool({ name: 'exec_command', arguments: { cmd: 'pwd' } });
      const nextTexts = (next.content as { text: string }[]).map((block) => block.text).join('\n');
      assert.doesNotMatch(nextTexts, /deleted and created again/, 'the note is given once');
    } finally {
      await client.close();
    }
  });
});

describe('folders owned by root, by someone else, and private ones', () => {
  const skip = isRoot ? false : 'needs root: creates folders owned by root and by another uid';

  it('writes into a private root-owned folder as its owner, with no capability and no setuid bit', {
    skip,
  }, async () => {
    const directory = await folder('root private', 0o700);
    const first = await plane();
    await first.start({}, ['--workspace', directory]);
    const client = await first.client();
    try {
      const listed = structured(await client.callTool({ name: 'list_dir', arguments: { path: '.' } }));
      assert.equal(listed.ok, true, JSON.stringify(listed));
      const written = structured(
        await client.callTool({ name: 'write_file', arguments: { path: 'new.txt', content: 'x\n' } }),
      );
      assert.equal(written.ok, true, JSON.stringify(written));
      const created = await stat(path.join(directory, 'new.txt'));
      assert.deepEqual([created.uid, created.gid], [0, 0], "new files get the folder owner's uid/gid");
      const caps = await exec(
        client,
        "grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb)' /proc/self/status | awk '{print $2}' | sort -u",
      );
      assert.equal(caps.stdout, '0000000000000000\n', 'every capability set is empty');
      const setuid = await exec(client, 'cp /bin/true ./sneaky && chmod u+s ./sneaky; echo "rc=$?"');
      assert.match(String(setuid.stdout), /rc=1/);
      assert.equal(
        ((await stat(path.join(directory, 'sneaky'))).mode & 0o6000) === 0,
        true,
        'no setuid file on the host',
      );
      const chowned = await exec(client, 'chown 1000 new.txt; echo "rc=$?"');
      assert.match(String(chowned.stdout), /rc=1/, 'no CAP_CHOWN');
    } finally {
      await client.close();
    }
  });

  it("works as the owner of another user's private folder when root points sandboxd at it", {
    skip,
  }, async () => {
    const directory = await folder('someone else', 0o700);
    await chown(directory, 4242, 4343);
    const first = await plane();
    await first.start({}, ['--workspace', directory]);
    const client = await first.client();
    try {
      const ids = await exec(client, 'id -u; id -g; echo hi > made.txt && echo written');
      assert.equal(ids.stdout, '4242\n4343\nwritten\n');
      const made = await stat(path.join(directory, 'made.txt'));
      assert.deepEqual([made.uid, made.gid], [4242, 4343]);
    } finally {
      await client.close();
    }
  });
});
