import { realpath, stat } from 'node:fs/promises';
import { UsageError } from './usage.ts';

export interface HostWorkspace {
  path: string;
  /** Whom the workload runs as over the folder. */
  user: { uid: number; gid: number };
}

/**
 * Whom the workload runs as over a host folder. As the folder's owner when the
 * person running sandboxd may act as that owner (they are the owner, or root):
 * writes then succeed, and new files belong to the owner, whether the folder is
 * root's own (a CI or dev container), private (0700) or someone else's that root
 * points at. That includes uid 0 for a root-owned folder: root without a single
 * capability, no-new-privileges and a seccomp filter that refuses setuid and
 * setgid mode bits (SECURITY.md, "Host folders"). Anyone else runs as themselves
 * and gets exactly the access their own account has: sandboxd never lends the
 * workload an identity its user does not have.
 */
export function workloadUser(
  folder: { uid: number; gid: number },
  invoker: { uid: number; gid: number },
): { uid: number; gid: number } {
  if (invoker.uid === 0 || invoker.uid === folder.uid) return { uid: folder.uid, gid: folder.gid };
  return invoker;
}

/** A host folder given with --workspace, resolved, and the uid:gid the workload runs as over it. */
export async function hostWorkspace(directory: string): Promise<HostWorkspace> {
  const resolved = await realpath(directory).catch(() => {
    throw new UsageError(`--workspace ${directory}: no such directory`);
  });
  const info = await stat(resolved);
  if (!info.isDirectory()) throw new UsageError(`--workspace ${directory} is not a directory`);
  const invoker = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
  return { path: resolved, user: workloadUser({ uid: info.uid, gid: info.gid }, invoker) };
}
