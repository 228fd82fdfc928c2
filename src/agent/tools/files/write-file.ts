import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { link, lstat, mkdir, open, rename, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { z } from 'zod';
import { ToolError } from '#protocol/errors';
import type { WriteFileResult, WriteFileTool } from '#protocol/tools/files';
import {
  checkRelativePath,
  isNotFound,
  mapFsError,
  type ResolvedPath,
  resolveInWorkspace,
} from '../../paths.ts';
import type { ToolHandler } from '../context.ts';
import { parseEncoding } from './file-access.ts';
import { formatBytes } from './text.ts';

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * write_file: replaces a whole file atomically. The bytes go to a temp file in
 * the target directory, are fsynced, then renamed over the target, so a reader
 * sees the old file or the new one, never half of one. A symlink inside the
 * workspace is written through: its target is replaced and the link stays.
 * Like every atomic replace, this gives the path a new inode: other hard links
 * to the old file keep the old content.
 */
export const writeFile: ToolHandler<typeof WriteFileTool> = async (context, input) => {
  const displayPath = checkRelativePath(input.path);
  if (displayPath === '.') throw new ToolError('IS_DIRECTORY', 'the workspace root is a directory');
  const bytes = decodeContent(input.content, parseEncoding(input.encoding));
  if (bytes.length > context.limits.maxFileBytes) {
    throw new ToolError(
      'INVALID_ARGUMENT',
      `content is ${formatBytes(bytes.length)}, over this sandbox's file limit of ${formatBytes(context.limits.maxFileBytes)}`,
      {
        details: { path: displayPath, size_bytes: bytes.length, max_file_bytes: context.limits.maxFileBytes },
      },
    );
  }

  let target = await resolveInWorkspace(context.workspaceRoot, input.path);
  let mode: number | undefined;
  if (target.exists) {
    mode = await existingFileMode(target, displayPath);
    if (!input.overwrite) {
      throw new ToolError('ALREADY_EXISTS', `${displayPath} exists and overwrite is false`, {
        details: { path: displayPath },
      });
    }
  } else {
    target = await ensureParent(context.workspaceRoot, input.path, target, displayPath, input.create_dirs);
  }

  await replaceAtomically(target.absolute, bytes, mode, !target.exists, displayPath);

  const result: z.input<typeof WriteFileResult> = {
    path: displayPath,
    bytes_written: bytes.length,
    created: !target.exists,
  };
  if (target.relative !== displayPath) result.resolved_path = target.relative;
  const verb = result.created ? 'Created' : 'Wrote';
  const through = result.resolved_path === undefined ? '' : ` (through symlink to ${result.resolved_path})`;
  return { summary: `${verb} ${displayPath}${through}: ${formatBytes(bytes.length)}`, result };
};

function decodeContent(content: string, encoding: 'utf8' | 'base64'): Buffer {
  if (encoding === 'utf8') return Buffer.from(content, 'utf8');
  const compact = content.replace(/\s+/g, '');
  if (compact.length % 4 !== 0 || !BASE64.test(compact)) {
    throw new ToolError('INVALID_ARGUMENT', 'content is not valid base64');
  }
  return Buffer.from(compact, 'base64');
}

async function existingFileMode(target: ResolvedPath, displayPath: string): Promise<number> {
  const stats = await lstat(target.absolute).catch((error: unknown) => {
    throw mapFsError(error, displayPath);
  });
  if (stats.isDirectory()) throw new ToolError('IS_DIRECTORY', `is a directory: ${displayPath}`);
  if (!stats.isFile()) throw new ToolError('INVALID_ARGUMENT', `not a regular file: ${displayPath}`);
  return stats.mode & 0o7777;
}

/** Makes sure the directory that will hold a new file exists, and is still inside the workspace. */
async function ensureParent(
  root: string,
  input: string,
  target: ResolvedPath,
  displayPath: string,
  createDirs: boolean,
): Promise<ResolvedPath> {
  const parent = path.dirname(target.absolute);
  try {
    const stats = await stat(parent);
    if (!stats.isDirectory())
      throw new ToolError('NOT_A_DIRECTORY', `parent of ${displayPath} is not a directory`);
    return target;
  } catch (error) {
    if (!isNotFound(error)) throw mapFsError(error, displayPath);
  }
  if (!createDirs) {
    throw new ToolError(
      'NOT_FOUND',
      `parent directory of ${displayPath} does not exist (pass create_dirs: true to create it)`,
      { details: { path: displayPath, parent: path.relative(root, parent) } },
    );
  }
  try {
    await mkdir(parent, { recursive: true, mode: 0o777 });
  } catch (error) {
    throw mapFsError(error, displayPath);
  }
  // A symlink planted while the directories were made would show up here.
  const again = await resolveInWorkspace(root, input);
  if (again.exists) {
    throw new ToolError('ALREADY_EXISTS', `${displayPath} appeared while its directories were created`, {
      retryable: true,
    });
  }
  return again;
}

async function replaceAtomically(
  absolute: string,
  bytes: Buffer,
  mode: number | undefined,
  isNew: boolean,
  displayPath: string,
): Promise<void> {
  const directory = path.dirname(absolute);
  const temp = path.join(
    directory,
    `.${path.basename(absolute)}.${randomBytes(6).toString('hex')}.sandboxd-tmp`,
  );
  let isTempPresent = false;
  try {
    const handle = await open(
      temp,
      constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
      mode ?? 0o666,
    );
    isTempPresent = true;
    try {
      // open() applies the umask; an existing file's mode is restored exactly.
      if (mode !== undefined) await handle.chmod(mode);
      await handle.writeFile(bytes);
      await handle.sync();
    } finally {
      await handle.close();
    }
    if (isNew) {
      // link() fails with EEXIST instead of replacing a file created meanwhile.
      await link(temp, absolute);
      await unlink(temp);
    } else {
      await rename(temp, absolute);
    }
    isTempPresent = false;
    await syncDirectory(directory);
  } catch (error) {
    throw mapFsError(error, displayPath);
  } finally {
    if (isTempPresent) await unlink(temp).catch(() => undefined);
  }
}

/** Makes the rename itself durable. Some filesystems cannot fsync a directory; the data is already synced. */
async function syncDirectory(directory: string): Promise<void> {
  const handle = await open(directory, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await handle.sync().catch((error: unknown) => {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'EINVAL' && code !== 'ENOTSUP') throw error;
    });
  } finally {
    await handle.close();
  }
}
