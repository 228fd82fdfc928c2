import { realpath, stat } from 'node:fs/promises';
import { UsageError } from './usage.ts';

/** A host folder given with --workspace, resolved, and the uid:gid the workload runs as over it. */
export async function hostWorkspace(
  directory: string,
): Promise<{ path: string; user: { uid: number; gid: number } }> {
  const resolved = await realpath(directory).catch(() => {
    throw new UsageError(`--workspace ${directory}: no such directory`);
  });
  const info = await stat(resolved);
  if (!info.isDirectory()) throw new UsageError(`--workspace ${directory} is not a directory`);
  // The workload runs as the folder's owner so it can write there, unless that owner is root.
  const user = info.uid === 0 ? { uid: 1000, gid: 1000 } : { uid: info.uid, gid: info.gid };
  return { path: resolved, user };
}
