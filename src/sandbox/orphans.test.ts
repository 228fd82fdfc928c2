import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  LABEL_CONTROL_SOCKET,
  LABEL_ID,
  LABEL_LIFETIME,
  LABEL_OWNS_VOLUME,
  LABEL_SOCKET_DIR,
  LABEL_STATE_DIR,
  LABEL_WORKSPACE,
} from '../runtime/labels.ts';
import { classify, type DirProbe, readSandboxLabels, type Sighting, volumeFates } from './orphans.ts';
import type { OwnerProbe } from './owner-socket.ts';

const STATE = '/var/lib/sandboxd';
const SERVE_SOCKET = `${STATE}/control-plane.sock`;
const STDIO_SOCKET = `${STATE}/owners/stdio-4242-0a1b2c3d.sock`;

const present: DirProbe = { state: 'present' };
const gone: DirProbe = { state: 'gone' };
const alive: OwnerProbe = {
  state: 'alive',
  info: { kind: 'serve', pid: 12, startedAt: '2025-01-01T00:00:00Z' },
};
const ownerGone: OwnerProbe = { state: 'gone' };
const unknown: OwnerProbe = { state: 'unknown', reason: 'EACCES' };

/** Labels as the manager writes them today. */
function labels(lifetime: 'process' | 'persistent', socket: string): Record<string, string> {
  return {
    [LABEL_ID]: 'sb-1',
    [LABEL_STATE_DIR]: STATE,
    [LABEL_SOCKET_DIR]: `${STATE}/sockets/sb-1`,
    [LABEL_CONTROL_SOCKET]: socket,
    [LABEL_LIFETIME]: lifetime,
  };
}

/** Labels of a container made before state dirs, owner sockets and lifetimes were labelled. */
const olderLabels = { [LABEL_ID]: 'sb-old', [LABEL_SOCKET_DIR]: `${STATE}/sockets/sb-old` };

function verdict(given: Record<string, string>, seen: Sighting) {
  return classify(readSandboxLabels(given), seen);
}

describe('which sandboxes prune removes', () => {
  it('removes any sandbox whose state directory no longer exists', () => {
    for (const lifetime of ['process', 'persistent'] as const) {
      const result = verdict(labels(lifetime, SERVE_SOCKET), { stateDir: gone, owner: ownerGone });
      assert.equal(result.isOrphan, true, lifetime);
      assert.equal(result.code, 'state-dir-gone');
      assert.match(result.reason, /\/var\/lib\/sandboxd no longer exists/);
    }
  });

  it('removes a process-lifetime sandbox whose owner is gone, naming the owner from its socket', () => {
    const result = verdict(labels('process', STDIO_SOCKET), { stateDir: present, owner: ownerGone });
    assert.deepEqual(result, {
      isOrphan: true,
      code: 'owner-gone',
      reason: 'it goes with stdio (pid 4242), which is gone',
    });
  });

  it('keeps a persistent sandbox whose serve is merely stopped: the next serve reconciles it', () => {
    const result = verdict(labels('persistent', SERVE_SOCKET), { stateDir: present, owner: ownerGone });
    assert.equal(result.isOrphan, false);
    assert.equal(result.code, 'persistent');
    assert.match(result.reason, /next serve on \/var\/lib\/sandboxd reconciles it/);
  });

  it('keeps a sandbox whose owner is running, whatever its lifetime', () => {
    for (const lifetime of ['process', 'persistent'] as const) {
      const result = verdict(labels(lifetime, SERVE_SOCKET), { stateDir: present, owner: alive });
      assert.deepEqual(result, { isOrphan: false, code: 'owner-alive', reason: 'serve (pid 12) is running' });
    }
  });

  it('never removes what it cannot see: an owner or a state directory that probes unknown', () => {
    const owner = verdict(labels('process', STDIO_SOCKET), { stateDir: present, owner: unknown });
    assert.equal(owner.isOrphan, false);
    assert.equal(owner.code, 'cannot-tell');
    assert.match(owner.reason, /EACCES.*never pruned/);
    const ownerWithDirGone = verdict(labels('process', STDIO_SOCKET), { stateDir: gone, owner: unknown });
    assert.equal(ownerWithDirGone.isOrphan, false);
    const dir = verdict(labels('process', STDIO_SOCKET), {
      stateDir: { state: 'unknown', reason: 'EACCES' },
      owner: ownerGone,
    });
    assert.equal(dir.isOrphan, false);
    assert.equal(dir.code, 'cannot-tell');
  });

  it('judges a container of an older sandboxd by the state directory of its socket dir alone', () => {
    const parsed = readSandboxLabels(olderLabels);
    assert.equal(parsed.stateDir, STATE);
    assert.equal(parsed.lifetime, undefined);
    const kept = classify(parsed, { stateDir: present, owner: undefined });
    assert.equal(kept.isOrphan, false);
    assert.equal(kept.code, 'state-dir-present');
    const removed = classify(parsed, { stateDir: gone, owner: undefined });
    assert.equal(removed.isOrphan, true);
    assert.equal(removed.code, 'state-dir-gone');
  });

  it('keeps a process-lifetime sandbox with no owner socket while its state directory exists', () => {
    const given = labels('process', STDIO_SOCKET);
    delete given[LABEL_CONTROL_SOCKET];
    assert.equal(verdict(given, { stateDir: present, owner: undefined }).code, 'state-dir-present');
    assert.equal(verdict(given, { stateDir: gone, owner: undefined }).isOrphan, true);
  });

  it('keeps a container no label places in a state directory', () => {
    const result = verdict({ [LABEL_ID]: 'sb-x' }, { stateDir: undefined, owner: undefined });
    assert.deepEqual([result.isOrphan, result.code], [false, 'unplaced']);
  });
});

describe('which volumes go with the removed sandboxes', () => {
  const owned = { sandboxId: 'sb-1', volume: 'sandboxd-ws-sb-1', ownsVolume: true };
  const named = { sandboxId: 'ws-team', volume: 'sandboxd-ws-team', ownsVolume: false };

  it("removes a sandbox's own volume, and a named workspace's only when asked", () => {
    assert.deepEqual(
      volumeFates([owned, named], [], false).map((fate) => [fate.volume, fate.isRemoved, fate.code]),
      [
        ['sandboxd-ws-sb-1', true, 'owned'],
        ['sandboxd-ws-team', false, 'named'],
      ],
    );
    assert.equal(volumeFates([named], [], true)[0]?.isRemoved, true);
  });

  it('keeps a volume that a container which stays still uses', () => {
    const otherPlane = { sandboxId: 'ws-team', volume: 'sandboxd-ws-team', ownsVolume: false };
    const [fate] = volumeFates([named], [otherPlane], true);
    assert.deepEqual([fate?.isRemoved, fate?.code, fate?.reason], [false, 'in-use', 'still used by ws-team']);
  });

  it('lists a volume shared by two removed sandboxes once', () => {
    assert.equal(volumeFates([named, { ...named, sandboxId: 'sb-2' }], [], true).length, 1);
  });

  it('leaves host folders and volumes that are not sandboxd workspaces alone', () => {
    const folder = readSandboxLabels({ [LABEL_WORKSPACE]: '/home/me/repo', [LABEL_OWNS_VOLUME]: 'false' });
    const foreign = readSandboxLabels({ [LABEL_WORKSPACE]: 'postgres-data', [LABEL_OWNS_VOLUME]: 'true' });
    assert.equal(folder.volume, undefined);
    assert.equal(foreign.volume, undefined);
    assert.deepEqual(volumeFates([folder, foreign], [], true), []);
  });
});
