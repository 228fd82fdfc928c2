/**
 * sandboxd as a regular user in the docker group runs it: `run` over the user's
 * own folder, over a root-owned readable one and over a private root-owned one.
 * The workload gets exactly the user's own access, never more. Needs root to
 * create the user (CI runs as root); the user is made once and kept.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { accessSync, constants } from 'node:fs';
import { chmod, chown, cp, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Client } from '@modelcontextprotocol/client';
import { ROOT, structured } from './support/control-plane.ts';
import { HostUser, hostUserSkipReason } from './support/host-user.ts';
import { openPreviewLink, previewGet } from './support/http.ts';

const cleanups: string[] = [];
let user: HostUser | undefined;
const skip = hostUserSkipReason();

async function folderOwnedBy(owner: { uid: number; gid: number }, mode: number): Promise<string> {
  const directory = await mkdtemp(path.join(os.tmpdir(), 'sandboxd-ru-'));
  cleanups.push(directory);
  await writeFile(path.join(directory, 'marker.txt'), 'readable\n');
  await chown(path.join(directory, 'marker.txt'), owner.uid, owner.gid);
  await chown(directory, owner.uid, owner.gid);
  await chmod(directory, mode);
  return directory;
}

before(async () => {
  if (skip === false) user = await HostUser.create();
});

after(async () => {
  await user?.dispose();
  for (const directory of cleanups) await rm(directory, { recursive: true, force: true });
});

describe('a regular user in the docker group', () => {
  it('runs a command over their own private folder; new files are theirs', { skip }, async () => {
    const me = user as HostUser;
    const directory = await folderOwnedBy(me, 0o700);
    const result = await (user as HostUser).sandboxd([
      'run',
      '--in-place',
      '--workspace',
      directory,
      '--',
      'sh',
      '-c',
      'id -u; echo made > made.txt',
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, `${me.uid}\n`);
    const made = await stat(path.join(directory, 'made.txt'));
    assert.deepEqual([made.uid, made.gid], [me.uid, me.gid]);
  });

  it("reads a root-owned folder it may read, and cannot write there: no more than the user's own access", {
    skip,
  }, async () => {
    const me = user as HostUser;
    const directory = await folderOwnedBy({ uid: 0, gid: 0 }, 0o755);
    const result = await (user as HostUser).sandboxd([
      'run',
      '--in-place',
      '--workspace',
      directory,
      '--',
      'sh',
      '-c',
      'id -u; cat marker.txt; touch written.txt',
    ]);
    assert.notEqual(result.code, 0);
    assert.equal(result.stdout, `${me.uid}\nreadable\n`);
    assert.match(result.stderr, /Permission denied/);
    assert.throws(() => accessSync(path.join(directory, 'written.txt'), constants.F_OK));
  });

  it('is refused a private root-owned folder, as the user is on the host', { skip }, async () => {
    const directory = await folderOwnedBy({ uid: 0, gid: 0 }, 0o700);
    const result = await (user as HostUser).sandboxd([
      'run',
      '--in-place',
      '--workspace',
      directory,
      '--',
      'ls',
    ]);
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /could not start: .*EACCES|[Pp]ermission denied/);
  });

  it('downloads through egress, the relay copied out of the image into its own state directory', {
    skip,
  }, async () => {
    const me = user as HostUser;
    const body = randomBytes(24 * 2 ** 20);
    const server = http.createServer((_request, response) => response.end(body));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const port = (server.address() as net.AddressInfo).port;
      // A policy beside a copy of the seccomp profiles, allowing this host's loopback server by name.
      const policies = await mkdtemp(path.join(os.tmpdir(), 'sandboxd-ru-policy-'));
      cleanups.push(policies);
      await cp(path.join(ROOT, 'policies/seccomp'), path.join(policies, 'seccomp'), { recursive: true });
      const policy = path.join(policies, 'egress.yaml');
      await writeFile(
        policy,
        `name: egress\nnetwork:\n  egress:\n    hosts: [localhost]\n    ports: [${port}]\n    cidrs: [127.0.0.1/32]\n`,
      );
      await chmod(policies, 0o755);
      const directory = await folderOwnedBy(me, 0o700);
      // NO_PROXY names localhost (for the sandbox's own servers): this download goes by the proxy anyway.
      const result = await me.sandboxd([
        'run',
        '--in-place',
        '--policy',
        policy,
        '--workspace',
        directory,
        '--',
        'sh',
        '-c',
        `curl -sS --noproxy '' --proxy "$HTTP_PROXY" --proxytunnel http://localhost:${port}/ | sha256sum`,
      ]);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout.split(' ')[0], createHash('sha256').update(body).digest('hex'));
      const relays = path.join(me.home, '.local/state/sandboxd/relay');
      const [copy] = await readdir(relays);
      assert.ok(copy !== undefined, 'the relay was copied for this user');
      const info = await stat(path.join(relays, copy));
      assert.deepEqual([info.uid, info.mode & 0o777], [me.uid, 0o755]);
      assert.equal((await stat(relays)).mode & 0o777, 0o700);
    } finally {
      server.close();
    }
  });

  it('opens a server in its sandbox in a browser through stdio and a preview_url link', {
    skip,
  }, async () => {
    const me = user as HostUser;
    const directory = await folderOwnedBy(me, 0o700);
    const client = new Client({ name: 'sandboxd-test', version: '1.0.0' });
    await client.connect(me.stdioTransport(['stdio', '--workspace', directory]));
    try {
      const exec = async (cmd: string, yieldMs: number) =>
        structured(
          await client.callTool({ name: 'exec_command', arguments: { cmd, yield_time_ms: yieldMs } }),
        );
      await exec('echo "<h1>$(id -u)</h1>" > page.html && python3 -m http.server 8000 --bind 127.0.0.1', 200);
      const ready = await exec(
        'for i in $(seq 50); do curl -sf http://127.0.0.1:8000/ >/dev/null && exit 0; sleep 0.1; done; exit 1',
        15_000,
      );
      assert.equal(ready.exit_code, 0, JSON.stringify(ready));
      const url = new URL(
        String(structured(await client.callTool({ name: 'preview_url', arguments: { port: 8000 } })).url),
      );
      const page = await previewGet(new URL('/page.html', url), await openPreviewLink(url));
      assert.equal(page.status, 200);
      assert.equal(
        page.body.toString(),
        `<h1>${me.uid}</h1>\n`,
        "served from the user's own folder, as the user",
      );
    } finally {
      await client.close();
    }
  });

  it('keeps its state directory private (0700) in its own home', { skip }, async () => {
    const me = user as HostUser;
    const stateDir = path.join(me.home, '.local/state/sandboxd');
    const info = await stat(stateDir);
    assert.equal(info.uid, me.uid);
    assert.equal(info.mode & 0o777, 0o700);
    assert.equal((await stat(path.join(stateDir, 'sockets'))).mode & 0o777, 0o700);
  });
});
