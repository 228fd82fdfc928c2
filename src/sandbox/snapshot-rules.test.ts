import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  DEFAULT_SNAPSHOT_LIMITS,
  newSnapshotId,
  parseCopyResult,
  reapReason,
  type SnapshotFacts,
  SnapshotId,
  snapshotQuotaRefusal,
} from './snapshot-rules.ts';

const NOW = Date.parse('2026-01-01T00:00:00Z');

function snapshot(fields: Partial<SnapshotFacts> = {}): SnapshotFacts {
  return {
    snapshotId: newSnapshotId(),
    sandboxId: 'sb-a',
    bytes: 1000,
    isComplete: true,
    expiresAt: new Date(NOW + 60_000),
    isEphemeral: false,
    ...fields,
  };
}

describe('snapshot ids', () => {
  it('makes ids its own schema accepts, and refuses anything that could name another volume', () => {
    assert.ok(SnapshotId.safeParse(newSnapshotId()).success);
    for (const bad of ['snap-../x', 'sb-123456789012', 'snap-ABCDEF123456', 'snap-0123456789ab/x'])
      assert.equal(SnapshotId.safeParse(bad).success, false, bad);
  });
});

describe('snapshot quotas', () => {
  const limits = { ...DEFAULT_SNAPSHOT_LIMITS, maxSnapshots: 3, maxPerSandbox: 2, maxBytes: 5000 };

  it('allows a snapshot under every limit', () => {
    assert.equal(snapshotQuotaRefusal([snapshot()], 'sb-a', limits), undefined);
  });

  it('refuses past the count of one sandbox, not counting what forks made for themselves', () => {
    const two = [snapshot(), snapshot()];
    assert.equal(snapshotQuotaRefusal(two, 'sb-a', limits)?.details?.limit, 'maxPerSandbox');
    assert.equal(snapshotQuotaRefusal(two, 'sb-b', limits), undefined);
    assert.equal(
      snapshotQuotaRefusal([snapshot(), snapshot({ isEphemeral: true })], 'sb-a', limits),
      undefined,
    );
  });

  it('refuses past the control plane count and past the bytes', () => {
    const three = [
      snapshot({ sandboxId: 'sb-x' }),
      snapshot({ sandboxId: 'sb-y' }),
      snapshot({ sandboxId: 'sb-z' }),
    ];
    assert.equal(snapshotQuotaRefusal(three, 'sb-a', limits)?.details?.limit, 'maxSnapshots');
    const full = [snapshot({ bytes: 5000, sandboxId: 'sb-x' })];
    const refusal = snapshotQuotaRefusal(full, 'sb-a', limits);
    assert.equal(refusal?.code, 'QUOTA_EXCEEDED');
    assert.equal(refusal?.details?.limit, 'maxBytes');
  });
});

describe('snapshot reaping', () => {
  it('removes an expired snapshot, and defers it while forks use it or work runs on it', () => {
    const expired = snapshot({ expiresAt: new Date(NOW - 1) });
    assert.equal(reapReason(expired, 0, false, NOW), 'ttl');
    assert.equal(reapReason(expired, 2, false, NOW), undefined);
    assert.equal(reapReason(expired, 0, true, NOW), undefined);
    assert.equal(reapReason(snapshot(), 0, false, NOW), undefined);
  });

  it("removes a fork's own snapshot once no fork uses it, and a copy that never finished", () => {
    assert.equal(reapReason(snapshot({ isEphemeral: true }), 1, false, NOW), undefined);
    assert.equal(reapReason(snapshot({ isEphemeral: true }), 0, false, NOW), 'unused');
    assert.equal(reapReason(snapshot({ isComplete: false }), 0, false, NOW), 'incomplete');
    assert.equal(reapReason(snapshot({ isComplete: false }), 0, true, NOW), undefined);
  });
});

describe('the copy result', () => {
  it('reads the last result line and nothing else', () => {
    assert.deepEqual(parseCopyResult('cp: warning\nresult 20001 314572800\n'), {
      files: 20001,
      bytes: 314572800,
    });
    assert.equal(parseCopyResult('result x 1'), undefined);
    assert.equal(parseCopyResult(''), undefined);
  });
});
