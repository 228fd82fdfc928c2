import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { type OwnerInfo, OwnerSocket, OwnerSocketBusy, probeOwner } from './owner-socket.ts';

const info = (): OwnerInfo => ({
  kind: 'serve',
  pid: process.pid,
  startedAt: new Date(0).toISOString(),
  url: 'http://127.0.0.1:1',
});

async function socketPath(): Promise<string> {
  return path.join(await mkdtemp(path.join(os.tmpdir(), 'sandboxd-owner-')), 'control-plane.sock');
}

/** A socket file whose process was killed: it stays on disk and nobody listens. */
async function staleSocket(file: string): Promise<void> {
  const child = spawn(process.execPath, [
    '-e',
    `require('net').createServer().listen(${JSON.stringify(file)}, () => process.kill(process.pid, 'SIGKILL'))`,
  ]);
  await new Promise((resolve) => child.once('exit', resolve));
  assert.ok((await stat(file)).isSocket(), 'the killed process left its socket behind');
}

describe('owner socket', () => {
  it('answers a probe with who holds it, and is gone once closed', async () => {
    const file = await socketPath();
    const owner = await OwnerSocket.claim(file, info, true);
    assert.deepEqual(await probeOwner(file), { state: 'alive', info: info() });
    await owner.close();
    assert.deepEqual(await probeOwner(file), { state: 'gone' });
  });

  it('refuses a second exclusive claim while the first holder lives, naming it', async () => {
    const file = await socketPath();
    const first = await OwnerSocket.claim(file, info, true);
    await assert.rejects(OwnerSocket.claim(file, info, true), (error: unknown) => {
      assert.ok(error instanceof OwnerSocketBusy);
      assert.equal(error.info?.pid, process.pid);
      return true;
    });
    assert.ok(await first.isHeld(), 'the refused claim did not disturb the holder');
    await first.close();
  });

  it('takes over the socket of a process that died without cleaning up', async () => {
    const file = await socketPath();
    await staleSocket(file);
    assert.deepEqual(await probeOwner(file), { state: 'gone' });
    const owner = await OwnerSocket.claim(file, info, true);
    assert.equal((await probeOwner(file)).state, 'alive');
    await owner.close();
  });

  it('lets exactly one of many racing claimants win, over a stale socket too', async () => {
    for (const isStale of [false, true]) {
      const file = await socketPath();
      if (isStale) await staleSocket(file);
      const claims = await Promise.allSettled(
        Array.from({ length: 8 }, () => OwnerSocket.claim(file, info, true)),
      );
      const winners = claims.filter((claim) => claim.status === 'fulfilled');
      assert.equal(winners.length, 1, `one winner (stale: ${isStale})`);
      for (const claim of claims) {
        if (claim.status === 'rejected') assert.ok(claim.reason instanceof OwnerSocketBusy);
      }
      const [winner] = winners as PromiseFulfilledResult<OwnerSocket>[];
      assert.ok(await winner?.value.isHeld());
      await winner?.value.close();
    }
  });
});
