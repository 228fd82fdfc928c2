import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { RuntimeDriver } from '../runtime/driver.ts';
import { LABEL_SOCKET_DIR, layerVolumeName, workspaceVolumeName } from '../runtime/labels.ts';
import { removeAssignment } from './metadata.ts';
import { type VolumeFate, volumeFates } from './orphans.ts';
import { socketDirFor } from './state-dir.ts';
import type { SurveyedSandbox } from './survey.ts';

/** What removing one sandbox container did. */
export interface ContainerRemoval {
  sandbox: SurveyedSandbox;
  isRemoved: boolean;
  /** What else was removed with it (its socket directory). */
  alsoRemoved: string[];
  /** Why something was left alone, or what failed. */
  notes: string[];
}

export interface VolumeRemoval extends VolumeFate {
  /** Set when the volume was to be removed and the engine refused. */
  error?: string;
}

export interface RemovalReport {
  containers: ContainerRemoval[];
  volumes: VolumeRemoval[];
  /** Whether everything that was to be removed is gone. */
  isComplete: boolean;
}

const SANDBOX_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const WORKSPACE_PREFIX = workspaceVolumeName('');
/** Only a /v1 sandbox (sb-…) can be a fork. */
const FORK_VOLUME_PREFIX = workspaceVolumeName('sb-');

/**
 * The socket directory to remove with a container, or why not. Labels are
 * anyone's to write who can reach the engine, so a path is removed only where
 * sandboxd puts socket directories: <state dir>/sockets/<sandbox id>.
 */
function socketDirToRemove(sandbox: SurveyedSandbox): { dir: string } | { note: string } | undefined {
  const { stateDir, sandboxId } = sandbox.labels;
  const labelled = sandbox.container.labels[LABEL_SOCKET_DIR];
  if (labelled === undefined || stateDir === undefined || sandboxId === undefined) return undefined;
  if (
    !path.isAbsolute(stateDir) ||
    !SANDBOX_ID.test(sandboxId) ||
    labelled !== socketDirFor(stateDir, sandboxId)
  ) {
    return { note: `socket dir ${labelled} is not where sandboxd makes them: left alone` };
  }
  return sandbox.sighting.stateDir?.state === 'present' ? { dir: labelled } : undefined;
}

async function removeContainer(driver: RuntimeDriver, sandbox: SurveyedSandbox): Promise<ContainerRemoval> {
  const removal: ContainerRemoval = { sandbox, isRemoved: false, alsoRemoved: [], notes: [] };
  try {
    await driver.remove(sandbox.container.id);
    removal.isRemoved = true;
  } catch (error) {
    removal.notes.push(`the container could not be removed: ${(error as Error).message}`);
    return removal;
  }
  const socketDir = socketDirToRemove(sandbox);
  if (socketDir === undefined) return removal;
  if ('note' in socketDir) {
    removal.notes.push(socketDir.note);
    return removal;
  }
  try {
    await rm(socketDir.dir, { recursive: true, force: true });
    removal.alsoRemoved.push(`socket dir ${socketDir.dir}`);
    await removeAssignment(path.dirname(path.dirname(socketDir.dir)), sandbox.labels.sandboxId as string);
  } catch (error) {
    // Another user's state directory (0700): the container is gone, its leftovers are theirs to see.
    const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    removal.notes.push(`socket dir ${socketDir.dir} not reachable (${code}): left alone`);
  }
  return removal;
}

/**
 * Removes the given sandboxes' containers (with their socket directories), then
 * the volumes that go with them (orphans.ts: volumeFates). `everyone` is every
 * sandbox on the engine, so that a volume another container still uses stays.
 */
export async function removeSandboxes(
  driver: RuntimeDriver,
  chosen: SurveyedSandbox[],
  everyone: SurveyedSandbox[],
  options: { includeNamedVolumes: boolean },
): Promise<RemovalReport> {
  const containers = await Promise.all(chosen.map((sandbox) => removeContainer(driver, sandbox)));
  const gone = new Set(containers.filter((removal) => removal.isRemoved).map((removal) => removal.sandbox));
  const staying = everyone.filter((sandbox) => !gone.has(sandbox)).map((sandbox) => sandbox.labels);
  const fates = volumeFates(
    [...gone].map((sandbox) => sandbox.labels),
    staying,
    options.includeNamedVolumes,
  );
  const volumes: VolumeRemoval[] = [];
  for (const fate of fates) {
    if (!fate.isRemoved) {
      volumes.push(fate);
      continue;
    }
    try {
      await driver.removeVolume(fate.volume);
      // A fork's overlay volume has its writes in a layer volume (sandbox/snapshots.ts); no other has one.
      const forkId = fate.volume.startsWith(FORK_VOLUME_PREFIX)
        ? fate.volume.slice(WORKSPACE_PREFIX.length)
        : undefined;
      if (forkId !== undefined) await driver.removeVolume(layerVolumeName(forkId));
      volumes.push(fate);
    } catch (error) {
      volumes.push({ ...fate, isRemoved: false, error: (error as Error).message });
    }
  }
  const isComplete =
    containers.every((removal) => removal.isRemoved) && volumes.every((volume) => volume.error === undefined);
  return { containers, volumes, isComplete };
}
