/**
 * sandboxd as a regular user in the docker group runs it: `run` over the user's
 * own folder, over a root-owned readable one and over a private root-owned one.
 * The workload gets exactly the user's own access, never more. Needs root to
 * create the user (CI runs as root); the user is made once and kept.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { chmod, chown, copyFile, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { HostUser, hostUserSkipReason } from './support/host-user.ts';

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

  it('keeps its state directory private (0700) in its own home', { skip }, async () => {
    const me = user as HostUser;
    const stateDir = path.join(me.home, '.local/state/sandboxd');
    const info = await stat(stateDir);
    assert.equal(info.uid, me.uid);
    assert.equal(info.mode & 0o777, 0o700);
    assert.equal((await stat(path.join(stateDir, 'sockets'))).mode & 0o777, 0o700);
  });
});
