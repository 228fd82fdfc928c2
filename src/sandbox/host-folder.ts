import type { BigIntStats, Stats } from 'node:fs';
import { lstat, readFile } from 'node:fs/promises';
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
  const info = await lstat(hostPath, { bigint: true }).catch(() => undefined);
  return info?.isDirectory() ? factsOf(info) : undefined;
}

/** Identity (device:inode) and owner (uid:gid) as the lstat of a folder gives them. */
export function factsOf(info: BigIntStats): { identity: string; owner: string } {
  return { identity: `${info.dev}:${info.ino}`, owner: `${info.uid}:${info.gid}` };
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
  return { mode: 'read-only', readOnlyPaths: ['.git', ...(await submoduleGitPaths(hostPath))] };
}

/** Largest .gitmodules read; a real one lists a few paths. */
const MAX_GITMODULES_BYTES = 64 * 1024;

/**
 * The `.git` of each submodule the folder's .gitmodules names (`sub/.git`, a
 * gitfile or a directory). The host's `git status` runs git inside every
 * submodule: a sandbox that could point `sub/.git` at a gitdir of its own, with
 * its own core.fsmonitor, would run code on the host. So these are mounted
 * read-only too. A path that is not plainly inside the folder is ignored; a
 * submodule .git that is a link is refused, as the top one is.
 */
async function submoduleGitPaths(hostPath: string): Promise<string[]> {
  let text: string;
  try {
    const file = path.join(hostPath, '.gitmodules');
    const info = await lstat(file);
    if (!info.isFile() || info.size > MAX_GITMODULES_BYTES) return [];
    text = await readFile(file, 'utf8');
  } catch {
    return [];
  }
  const paths: string[] = [];
  for (const match of text.matchAll(/^\s*path\s*=\s*(.+?)\s*$/gm)) {
    const relative = path.posix.normalize(match[1] as string);
    if (relative.startsWith('..') || path.posix.isAbsolute(relative) || relative === '.') continue;
    const gitPath = path.posix.join(relative, '.git');
    const info = await lstat(path.join(hostPath, gitPath)).catch(() => undefined);
    if (info === undefined) continue;
    if (info.isSymbolicLink()) {
      throw new ToolError(
        'SYMLINK_ESCAPE',
        `${hostPath}/${gitPath} is a symbolic link; sandboxd will not follow it`,
        {
          details: { workspace: hostPath },
        },
      );
    }
    if (info.isDirectory() || info.isFile()) paths.push(gitPath);
  }
  return paths;
}
