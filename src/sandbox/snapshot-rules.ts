import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { ToolError } from '../protocol/errors.ts';

/** What snapshots may cost one control plane; SANDBOXD_SNAPSHOT_* override them (cli/serve.ts). */
export interface SnapshotLimits {
  /** Snapshots kept at once, over every sandbox. */
  maxSnapshots: number;
  /** Bytes on disk of every snapshot together (forks' own writes are their sandboxes'). */
  maxBytes: number;
  /** Snapshots (and checkpoints) taken from one sandbox and kept at once. */
  maxPerSandbox: number;
  /** Sandboxes one fork request may make. */
  maxForks: number;
  /** Lifetime of a snapshot made without ttlSeconds. */
  defaultTtlSeconds: number;
}

export const DEFAULT_SNAPSHOT_LIMITS: SnapshotLimits = {
  maxSnapshots: 100,
  maxBytes: 50 * 1024 ** 3,
  maxPerSandbox: 10,
  maxForks: 20,
  defaultTtlSeconds: 7 * 24 * 3600,
};

/** The longest TTL a snapshot may ask for, as a sandbox's. */
export const MAX_SNAPSHOT_TTL_SECONDS = 30 * 24 * 3600;

export const SnapshotId = z.string().regex(/^snap-[0-9a-f]{12}$/, 'a snapshot id is snap- and 12 hex digits');

export function newSnapshotId(): string {
  return `snap-${randomBytes(6).toString('hex')}`;
}

/** A snapshot as the engine's labels and the state directory's record describe it. */
export interface SnapshotFacts {
  snapshotId: string;
  sandboxId: string;
  bytes: number;
  /** Undefined while the copy runs, or when it never finished (a crash): such a snapshot is not usable. */
  isComplete: boolean;
  expiresAt: Date;
  /** Made by a fork for its own use: goes once no fork uses it. */
  isEphemeral: boolean;
}

/** Why a new snapshot of `sandboxId` may not be taken now, or undefined. */
export function snapshotQuotaRefusal(
  existing: readonly SnapshotFacts[],
  sandboxId: string,
  limits: SnapshotLimits,
): ToolError | undefined {
  if (existing.length >= limits.maxSnapshots) {
    return new ToolError(
      'QUOTA_EXCEEDED',
      `the control plane already keeps ${existing.length} snapshots (limit ${limits.maxSnapshots}); delete one`,
      { retryable: false, details: { limit: 'maxSnapshots', value: limits.maxSnapshots } },
    );
  }
  const mine = existing.filter((snapshot) => snapshot.sandboxId === sandboxId && !snapshot.isEphemeral);
  if (mine.length >= limits.maxPerSandbox) {
    return new ToolError(
      'QUOTA_EXCEEDED',
      `sandbox ${sandboxId} already has ${mine.length} snapshots (limit ${limits.maxPerSandbox}); delete one`,
      { retryable: false, details: { limit: 'maxPerSandbox', value: limits.maxPerSandbox } },
    );
  }
  if (bytesLeft(existing, limits) <= 0) {
    return new ToolError('QUOTA_EXCEEDED', `snapshots already use ${limits.maxBytes} bytes; delete one`, {
      retryable: false,
      details: { limit: 'maxBytes', value: limits.maxBytes },
    });
  }
  return undefined;
}

/** Bytes a new snapshot may still take. */
export function bytesLeft(existing: readonly SnapshotFacts[], limits: SnapshotLimits): number {
  return limits.maxBytes - existing.reduce((sum, snapshot) => sum + snapshot.bytes, 0);
}

export type SnapshotReapReason = 'ttl' | 'unused' | 'incomplete';

/**
 * Whether the sweep removes a snapshot now. One that forks still use stays
 * whatever its TTL says (their files lie on it): its removal is deferred until
 * the last fork is gone. `isBusy`: a copy, restore or fork runs on it now.
 */
export function reapReason(
  snapshot: SnapshotFacts,
  usedByForks: number,
  isBusy: boolean,
  nowMs: number,
): SnapshotReapReason | undefined {
  if (isBusy || usedByForks > 0) return undefined;
  if (!snapshot.isComplete) return 'incomplete';
  if (snapshot.expiresAt.getTime() <= nowMs) return 'ttl';
  if (snapshot.isEphemeral) return 'unused';
  return undefined;
}

/** The helper script's last line: `result FILES BYTES`. */
export function parseCopyResult(output: string): { files: number; bytes: number } | undefined {
  const match = /^result (\d+) (\d+)$/m.exec(output);
  if (match === null) return undefined;
  return { files: Number(match[1]), bytes: Number(match[2]) };
}
