import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { workloadUser } from './workspace-dir.ts';

describe('whom the workload runs as over a host folder', () => {
  it('is the owner of a root-owned folder when root runs sandboxd: uid 0, so writes succeed', () => {
    assert.deepEqual(workloadUser({ uid: 0, gid: 0 }, { uid: 0, gid: 0 }), { uid: 0, gid: 0 });
  });

  it("is the folder's owner when root points sandboxd at another user's folder", () => {
    assert.deepEqual(workloadUser({ uid: 1234, gid: 99 }, { uid: 0, gid: 0 }), { uid: 1234, gid: 99 });
  });

  it('is the user themselves over their own folder', () => {
    assert.deepEqual(workloadUser({ uid: 1001, gid: 1001 }, { uid: 1001, gid: 1001 }), {
      uid: 1001,
      gid: 1001,
    });
  });

  it('never lends a regular user the identity of the root or another owner', () => {
    assert.deepEqual(workloadUser({ uid: 0, gid: 0 }, { uid: 1001, gid: 1001 }), { uid: 1001, gid: 1001 });
    assert.deepEqual(workloadUser({ uid: 1234, gid: 99 }, { uid: 1001, gid: 1001 }), {
      uid: 1001,
      gid: 1001,
    });
  });
});
