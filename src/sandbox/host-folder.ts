import type { Stats } from 'node:fs';
import { lstat } from 'node:fs/promises';
import path from 'node:path';
import { ToolError } from '../protocol/errors.ts';

/**
 * Which directory a host folder path names right now, as device:inode. A folder
 * deleted and re-created at the same path (`rm -rf repo && git clone … repo`) has
 * a new identity, while a running container still holds the old, deleted one.
 * Undefined when nothing is there.
 */
export async function folderIdentity(hostPath: string): Promise<string | undefined> {
  return (await folderFacts(hostPath))?.identity;
}

/** A host folder's identity and owner; undefined when it is missing, or is not a directory (a link). */
export async function folderFacts(
  hostPath: string,
): Promise<{ identity: string; owner: string } | undefined> {
  try {
    const info = await lstat(hostPath, { bigint: true });
    return info.isDirectory()
      ? { identity: `${info.dev}:${info.ino}`, owner: `${info.uid}:${info.gid}` }
      : undefined;
  } catch {
    return undefined;
  }
}

/** The error for a host folder that is no longer there. */
export function folderGone(hostPath: string): ToolError {
  return new ToolError(
    'SANDBOX_UNAVAILABLE',
    `the workspace folder ${hostPath} does not exist any more; create it again (or start sandboxd over another folder)`,
    { retryable: true, details: { workspace: hostPath } },
  );
}

/**
 * How a host folder's `.git` is mounted. The host's own git (an IDE, a shell
 * prompt, the user's next commit) reads `.git/config` and runs `.git/hooks`: a
 * sandbox that could write them — `core.fsmonitor`, `core.hooksPath`,
 * `core.sshCommand`, a filter driver, a pre-commit hook, a submodule gitdir
 * staged in the index — would run code on the host as the folder's owner. So
 * `.git` is mounted read-only over the folder unless the person opts in to a
 * writable one.
 */
export type GitMode = 'read-only' | 'writable' | 'absent';

export async function gitProtection(
  hostPath: string,
  isGitWritable: boolean,
): Promise<{ mode: GitMode; readOnlyPaths: string[] }> {
  if (isGitWritable) return { mode: 'writable', readOnlyPaths: [] };
  let info: Stats;
  try {
    info = await lstat(path.join(hostPath, '.git'));
  } catch {
    return { mode: 'absent', readOnlyPaths: [] };
  }
  // The engine follows a link when it mounts: a .git pointing elsewhere would bring
  // that host path into the sandbox.
  if (info.isSymbolicLink()) {
    throw new ToolError(
      'SYMLINK_ESCAPE',
      `${hostPath}/.git is a symbolic link; sandboxd mounts .git read-only and does not follow links for it. ` +
        'Replace it with the repository itself, or allow the sandbox to write .git (--git-write)',
      { details: { workspace: hostPath } },
    );
  }
  if (!info.isDirectory() && !info.isFile()) {
    throw new ToolError('INVALID_ARGUMENT', `${hostPath}/.git is neither a directory nor a file`, {
      details: { workspace: hostPath },
    });
  }
  return { mode: 'read-only', readOnlyPaths: ['.git'] };
}
