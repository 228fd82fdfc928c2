import { constants } from 'node:fs';
import { type FileHandle, open, stat } from 'node:fs/promises';
import { ToolError } from '../../../protocol/errors.ts';
import {
  checkOpenedInside,
  checkRelativePath,
  mapFsError,
  type ResolvedPath,
  resolveExisting,
} from '../../paths.ts';

export type FileEncoding = 'utf8' | 'base64';

/** The encodings the file tools speak; anything else is UNSUPPORTED_ENCODING. */
export function parseEncoding(value: string): FileEncoding {
  const name = value.trim().toLowerCase();
  if (name === 'utf8' || name === 'utf-8') return 'utf8';
  if (name === 'base64') return 'base64';
  throw new ToolError('UNSUPPORTED_ENCODING', `unsupported encoding '${value}': use 'utf8' or 'base64'`, {
    details: { encoding: value, supported: ['utf8', 'base64'] },
  });
}

export interface OpenedFile {
  handle: FileHandle;
  resolved: ResolvedPath;
  /** The path as the caller spelled it, normalised: what results and continuations repeat. */
  displayPath: string;
  sizeBytes: number;
}

/**
 * Opens a workspace file for reading after the path checks. O_NOFOLLOW refuses a
 * final component swapped for a symlink after resolution; O_NONBLOCK keeps a FIFO
 * from hanging the agent before fstat can refuse it.
 */
export async function openRegularFile(workspaceRoot: string, input: string): Promise<OpenedFile> {
  const displayPath = checkRelativePath(input);
  const resolved = await resolveExisting(workspaceRoot, input);
  let handle: FileHandle;
  try {
    handle = await open(resolved.absolute, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    throw mapFsError(error, displayPath);
  }
  try {
    await checkOpenedInside(workspaceRoot, handle.fd, displayPath);
    const stats = await handle.stat();
    if (stats.isDirectory()) {
      throw new ToolError('IS_DIRECTORY', `is a directory: ${displayPath} (use list_dir)`, {
        details: { path: displayPath },
      });
    }
    if (!stats.isFile()) {
      throw new ToolError('INVALID_ARGUMENT', `not a regular file: ${displayPath}`, {
        details: { path: displayPath },
      });
    }
    return { handle, resolved, displayPath, sizeBytes: stats.size };
  } catch (error) {
    await handle.close();
    throw mapFsError(error, displayPath);
  }
}

/** Resolves a path that must name an existing directory (after following symlinks inside the workspace). */
export async function resolveDirectory(
  workspaceRoot: string,
  input: string,
): Promise<{ resolved: ResolvedPath; displayPath: string }> {
  const displayPath = checkRelativePath(input);
  const resolved = await resolveExisting(workspaceRoot, input);
  const stats = await stat(resolved.absolute).catch((error: unknown) => {
    throw mapFsError(error, displayPath);
  });
  if (!stats.isDirectory()) {
    throw new ToolError('NOT_A_DIRECTORY', `not a directory: ${displayPath}`, {
      details: { path: displayPath },
    });
  }
  return { resolved, displayPath };
}

/** Reads up to `length` bytes from `position`, fewer only at the end of the file. */
export async function readAt(handle: FileHandle, position: number, length: number): Promise<Buffer> {
  const buffer = Buffer.alloc(length);
  let filled = 0;
  while (filled < length) {
    const { bytesRead } = await handle.read(buffer, filled, length - filled, position + filled);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return buffer.subarray(0, filled);
}
