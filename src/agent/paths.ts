import { lstatSync, readlinkSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { ToolError } from '#protocol/errors';

/** A path inside the workspace, resolved through every symlink that exists. */
export interface ResolvedPath {
  /** Absolute real path inside the container. */
  absolute: string;
  /** The same path relative to the workspace root, '.' for the root itself. */
  relative: string;
  /** Whether something exists at the path. */
  exists: boolean;
}

export const MAX_PATH_BYTES = 4096;

/**
 * Checks the spelling of a workspace-relative path without touching the disk:
 * no NUL, not absolute, no `..` that climbs above the root, bounded length.
 * Returns the normalised relative path.
 */
export function checkRelativePath(input: string): string {
  if (input.includes('\0')) {
    throw new ToolError('INVALID_ARGUMENT', 'path contains a NUL byte', { details: { path: input } });
  }
  if (Buffer.byteLength(input) > MAX_PATH_BYTES) {
    throw new ToolError('INVALID_ARGUMENT', `path is longer than ${MAX_PATH_BYTES} bytes`);
  }
  if (path.posix.isAbsolute(input) || input.startsWith('~')) {
    throw new ToolError('ABSOLUTE_PATH_DENIED', `absolute paths are not accepted: ${input}`, {
      details: { path: input },
    });
  }
  const normal = path.posix.normalize(input === '' ? '.' : input);
  if (normal === '..' || normal.startsWith('../')) {
    throw new ToolError('PATH_OUTSIDE_WORKSPACE', `path leaves the workspace: ${input}`, {
      details: { path: input },
    });
  }
  return normal.replace(/\/+$/, '') || '.';
}

function isInside(root: string, candidate: string): boolean {
  return candidate === root || candidate.startsWith(root.endsWith('/') ? root : `${root}/`);
}

/**
 * Resolves a workspace-relative path to a real path inside `root` (itself a real
 * path). Follows every symlink of the part that exists; a link whose target lies
 * outside the workspace is SYMLINK_ESCAPE. The part that does not exist yet is
 * appended as spelled, so a write can create it. The lookups are synchronous:
 * through the promise API each was a round trip to libuv's thread pool, costing
 * more than the lookup itself.
 */
export async function resolveInWorkspace(root: string, input: string): Promise<ResolvedPath> {
  const relative = checkRelativePath(input);
  const segments = relative === '.' ? [] : relative.split('/');
  let current = root;
  for (let index = 0; index < segments.length; index++) {
    const next = path.join(current, segments[index] as string);
    let isLink: boolean;
    try {
      isLink = lstatSync(next).isSymbolicLink();
    } catch (error) {
      if (isNotFound(error)) {
        const absolute = path.join(next, ...segments.slice(index + 1));
        return { absolute, relative: path.relative(root, absolute) || '.', exists: false };
      }
      throw mapFsError(error, input);
    }
    if (isLink) {
      let target: string;
      try {
        target = realpathSync.native(next);
      } catch (error) {
        if (isNotFound(error)) {
          throw new ToolError('SYMLINK_ESCAPE', `symlink does not resolve inside the workspace: ${input}`, {
            details: { path: input },
          });
        }
        throw mapFsError(error, input);
      }
      if (!isInside(root, target)) {
        throw new ToolError('SYMLINK_ESCAPE', `symlink leaves the workspace: ${input}`, {
          details: { path: input },
        });
      }
      current = target;
    } else {
      current = next;
    }
  }
  return { absolute: current, relative: path.relative(root, current) || '.', exists: true };
}

/**
 * Where an open file descriptor really landed must be inside `root`. Resolving
 * a path and opening it are two steps: a directory swapped for a symlink in
 * between is followed by open(), and O_NOFOLLOW only guards the last component.
 * The kernel's own record of the open file (/proc/self/fd) closes that gap.
 */
export async function checkOpenedInside(root: string, fd: number, displayPath: string): Promise<void> {
  let actual: string;
  try {
    actual = readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return; // No /proc (not Linux): the path checks alone apply.
  }
  if (!isInside(root, actual)) {
    throw new ToolError(
      'SYMLINK_ESCAPE',
      `path was redirected out of the workspace while it was opened: ${displayPath}`,
      {
        details: { path: displayPath },
      },
    );
  }
}

/** Like resolveInWorkspace, but the path must exist. */
export async function resolveExisting(root: string, input: string): Promise<ResolvedPath> {
  const resolved = await resolveInWorkspace(root, input);
  if (!resolved.exists) {
    throw new ToolError('NOT_FOUND', `no such file or directory: ${input}`, { details: { path: input } });
  }
  return resolved;
}

export function isNotFound(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}

/** Maps a Node fs error to the contract's codes. */
export function mapFsError(error: unknown, displayPath: string): ToolError {
  if (error instanceof ToolError) return error;
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const details = { path: displayPath, errno: code };
  switch (code) {
    case 'ENOENT':
      return new ToolError('NOT_FOUND', `no such file or directory: ${displayPath}`, { details });
    case 'EISDIR':
      return new ToolError('IS_DIRECTORY', `is a directory: ${displayPath}`, { details });
    case 'ENOTDIR':
      return new ToolError('NOT_A_DIRECTORY', `not a directory: ${displayPath}`, { details });
    case 'EACCES':
    case 'EPERM':
    case 'EROFS':
      return new ToolError('PERMISSION_REQUIRED', `permission denied: ${displayPath}`, {
        category: 'permission',
        details,
      });
    case 'EEXIST':
      return new ToolError('ALREADY_EXISTS', `already exists: ${displayPath}`, { details });
    case 'ELOOP':
      return new ToolError('SYMLINK_ESCAPE', `too many levels of symlinks: ${displayPath}`, { details });
    case 'ENOSPC':
    case 'EDQUOT':
      return new ToolError('OUTPUT_TOO_LARGE', `no space left in the workspace writing ${displayPath}`, {
        details,
      });
    case 'ENAMETOOLONG':
      return new ToolError('INVALID_ARGUMENT', `name too long: ${displayPath}`, { details });
    default:
      return new ToolError('INTERNAL_ERROR', `${code ?? 'error'} on ${displayPath}`, {
        details,
        cause: error,
      });
  }
}
