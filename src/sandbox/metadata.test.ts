import assert from 'node:assert/strict';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import pino from 'pino';
import type { ContainerInfo, RuntimeDriver } from '../runtime/driver.ts';
import { SandboxManager } from './manager.ts';
import { loadAssignment, saveAssignment } from './metadata.ts';
import { reconcile } from './reconcile.ts';

describe('assignments of taken pool members', () => {
  it('tells a missing file from an assigned one and from one that cannot be read', async () => {
    const stateDir = await mkdtemp(path.join(os.tmpdir(), 'sandboxd-assign-'));
    assert.deepEqual(await loadAssignment(stateDir, 'sb-none'), { state: 'none' });
    await saveAssignment(stateDir, 'sb-ok', { owner: 'op', labels: {} });
    assert.deepEqual(await loadAssignment(stateDir, 'sb-ok'), {
      state: 'assigned',
      assignment: { owner: 'op', labels: {} },
    });
    await writeFile(path.join(stateDir, 'assignments', 'sb-bad.json'), '{"tokenSha256": "not hex"');
    assert.equal((await loadAssignment(stateDir, 'sb-bad')).state, 'unreadable');
    await mkdir(path.join(stateDir, 'assignments', 'sb-dir.json'));
    assert.equal((await loadAssignment(stateDir, 'sb-dir')).state, 'unreadable');
  });

  it('are never returned to the pool when unreadable: reconcile removes the container', async () => {
    const stateDir = await mkdtemp(path.join(os.tmpdir(), 'sandboxd-assign-'));
    await mkdir(path.join(stateDir, 'assignments'), { recursive: true });
    await writeFile(path.join(stateDir, 'assignments', 'sb-taken.json'), 'garbage');
    const removed: string[] = [];
    const container: ContainerInfo = {
      id: 'c-taken',
      name: 'sandboxd-sb-taken',
      state: 'running',
      exitCode: null,
      isOomKilled: false,
      imageId: 'sha256:1',
      createdMs: 0,
      labels: {
        'io.sandboxd.managed': 'true',
        'io.sandboxd.id': 'sb-taken',
        'io.sandboxd.state-dir': stateDir,
        'io.sandboxd.socket-dir': path.join(stateDir, 'sockets', 'sb-taken'),
        'io.sandboxd.pool': 'default',
        'io.sandboxd.workspace': 'sandboxd-ws-sb-taken',
      },
    };
    const driver = {
      list: async () => [container],
      remove: async (id: string) => {
        removed.push(id);
      },
    } as unknown as RuntimeDriver;
    const manager = new SandboxManager({ driver, stateDir, log: pino({ level: 'silent' }) });
    const pooled: string[] = [];
    const adopted = await reconcile(manager, {
      loadPolicyNamed: async () => {
        throw new Error('not needed');
      },
      onPoolMember: (_policy, sandbox) => pooled.push(sandbox.id),
    });
    assert.deepEqual(adopted, []);
    assert.deepEqual(pooled, [], 'not handed to the pool');
    assert.deepEqual(removed, ['c-taken']);
  });
});
