import {
  LABEL_CONTROL_SOCKET,
  LABEL_ID,
  LABEL_LIFETIME,
  LABEL_OWNS_VOLUME,
  LABEL_POLICY,
  LABEL_WORKSPACE,
  workspaceVolumeName,
} from '../runtime/labels.ts';
import { type OwnerProbe, ownerOfSocket } from './owner-socket.ts';
import type { Lifetime } from './sandbox.ts';
import { stateDirOf } from './state-dir.ts';

/**
 * Which sandbox containers lost their control plane, and what goes with them.
 * Pure: the caller lists the containers, probes the owners and looks for the
 * state directories; this decides. The rule, and why:
 *
 * - Its state directory no longer exists: an orphan. Nothing can serve it again —
 *   its sockets were in that directory, and a control plane started there anew
 *   would be a stranger to it.
 * - Its lifetime is `process` (stdio, run, serve's sandbox over a host folder) and
 *   its owner socket answers that nobody listens: an orphan. The process that
 *   would have removed it died without doing so (SIGKILL, OOM, power loss).
 * - A `persistent` sandbox whose serve is stopped is not: the next serve on that
 *   state directory reconciles it.
 * - Anything this process cannot see (a state directory or owner socket of
 *   another user: EACCES) is never an orphan: unknown is not gone.
 * - A container without an owner socket or lifetime (made by an older sandboxd)
 *   counts by its state directory alone.
 */

/** Whether a state directory exists, as this process sees it. */
export type DirProbe = { state: 'present' } | { state: 'gone' } | { state: 'unknown'; reason: string };

/** What a sandbox container says about itself through its labels. */
export interface SandboxLabels {
  sandboxId: string | undefined;
  policy: string | undefined;
  /** A volume name or a host folder. */
  workspace: string | undefined;
  /** The workspace volume, when it is one of ours (sandboxd-ws-…). */
  volume: string | undefined;
  ownsVolume: boolean;
  stateDir: string | undefined;
  ownerSocket: string | undefined;
  /** Undefined on containers made before lifetimes were labelled. */
  lifetime: Lifetime | undefined;
}

const VOLUME_PREFIX = workspaceVolumeName('');

export function readSandboxLabels(labels: Record<string, string>): SandboxLabels {
  const workspace = labels[LABEL_WORKSPACE];
  const lifetime = labels[LABEL_LIFETIME];
  return {
    sandboxId: labels[LABEL_ID],
    policy: labels[LABEL_POLICY],
    workspace,
    volume: workspace?.startsWith(VOLUME_PREFIX) ? workspace : undefined,
    ownsVolume: labels[LABEL_OWNS_VOLUME] === 'true',
    stateDir: stateDirOf(labels),
    ownerSocket: labels[LABEL_CONTROL_SOCKET],
    lifetime: lifetime === 'process' || lifetime === 'persistent' ? lifetime : undefined,
  };
}

export type VerdictCode =
  /** Orphans. */
  | 'state-dir-gone'
  | 'owner-gone'
  /** Kept. */
  | 'owner-alive'
  | 'persistent'
  | 'state-dir-present'
  | 'cannot-tell'
  | 'unplaced';

export interface Verdict {
  /** Whether `sandboxd prune` removes it. */
  isOrphan: boolean;
  code: VerdictCode;
  /** One line for a person. */
  reason: string;
}

/** What was found out about a sandbox's state directory and owner (undefined: its labels name none). */
export interface Sighting {
  stateDir: DirProbe | undefined;
  owner: OwnerProbe | undefined;
}

/** Who owns (or owned) a sandbox, for messages: "serve (pid 12)", "stdio (pid 40)". */
export function ownerName(socketPath: string, probe: OwnerProbe | undefined): string {
  const who = probe?.state === 'alive' && probe.info !== undefined ? probe.info : ownerOfSocket(socketPath);
  if (who === undefined) return 'its owner process';
  return who.pid === undefined ? who.kind : `${who.kind} (pid ${who.pid})`;
}

export function classify(sandbox: SandboxLabels, seen: Sighting): Verdict {
  const { stateDir, ownerSocket } = sandbox;
  const keep = (code: VerdictCode, reason: string): Verdict => ({ isOrphan: false, code, reason });
  if (stateDir === undefined || seen.stateDir === undefined) {
    return keep('unplaced', 'no label names its state directory; only `sandboxd rm` removes it');
  }
  if (seen.stateDir.state === 'unknown') {
    return keep(
      'cannot-tell',
      `cannot tell whether ${stateDir} exists (${seen.stateDir.reason}); never pruned`,
    );
  }
  const owner = seen.owner;
  if (ownerSocket !== undefined && owner !== undefined) {
    const who = ownerName(ownerSocket, owner);
    if (owner.state === 'unknown') {
      return keep('cannot-tell', `cannot tell whether ${who} is alive (${owner.reason}); never pruned`);
    }
    if (owner.state === 'alive') return keep('owner-alive', `${who} is running`);
  }
  if (seen.stateDir.state === 'gone') {
    return {
      isOrphan: true,
      code: 'state-dir-gone',
      reason: `its state directory ${stateDir} no longer exists`,
    };
  }
  if (ownerSocket === undefined || owner === undefined || sandbox.lifetime === undefined) {
    return keep(
      'state-dir-present',
      'it names no owner socket or lifetime (an older sandboxd): only its state directory counts, and it exists',
    );
  }
  if (sandbox.lifetime === 'persistent') {
    return keep('persistent', `its serve is stopped; the next serve on ${stateDir} reconciles it`);
  }
  return {
    isOrphan: true,
    code: 'owner-gone',
    reason: `it goes with ${ownerName(ownerSocket, owner)}, which is gone`,
  };
}

/** A sandbox's claim on a workspace volume. */
export interface VolumeUse {
  sandboxId: string | undefined;
  volume: string | undefined;
  ownsVolume: boolean;
}

export interface VolumeFate {
  volume: string;
  isRemoved: boolean;
  /** 'owned': made for the sandbox; 'named': a workspace's (kept unless asked); 'in-use': a container that stays mounts it. */
  code: 'owned' | 'named' | 'in-use';
  reason: string;
}

/**
 * What becomes of the volumes of the sandboxes being removed. A volume made for
 * its sandbox (owns-volume=true) goes with it; a named workspace's volume
 * (sandboxd-ws-<name>) holds someone's work and goes only with
 * `includeNamed`; and no volume goes while a container that stays — of any state
 * directory, since two control planes may serve the same named workspace — uses it.
 */
export function volumeFates(
  removing: VolumeUse[],
  staying: VolumeUse[],
  includeNamed: boolean,
): VolumeFate[] {
  const fates = new Map<string, VolumeFate>();
  for (const { volume, ownsVolume } of removing) {
    if (volume === undefined) continue;
    const user = staying.find((use) => use.volume === volume);
    const isOwned = ownsVolume || fates.get(volume)?.code === 'owned';
    if (user !== undefined) {
      fates.set(volume, {
        volume,
        isRemoved: false,
        code: 'in-use',
        reason: `still used by ${user.sandboxId ?? 'another container'}`,
      });
    } else if (isOwned) {
      fates.set(volume, { volume, isRemoved: true, code: 'owned', reason: 'made for this sandbox' });
    } else {
      fates.set(volume, {
        volume,
        isRemoved: includeNamed,
        code: 'named',
        reason: 'a named workspace volume',
      });
    }
  }
  return [...fates.values()];
}
