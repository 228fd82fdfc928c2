import { type BigIntStats, constants } from 'node:fs';
import { lstat, open, realpath } from 'node:fs/promises';
import path from 'node:path';
import { ToolError } from '#protocol/errors';
import type { PatchFileResult } from '#protocol/tools/patch';
import { checkRelativePath, isNotFound, mapFsError, resolveInWorkspace } from '../../paths.ts';
import { locateHunks } from './match.ts';
import type { FileOperation } from './parse.ts';
import { decodeTextFile, encodeTextFile, newTextFile, patchTextFile } from './text.ts';

/**
 * Turning parsed operations into a plan: every path resolved and checked, every
 * file read and every hunk matched, the new bytes computed. Nothing is written.
 */

/** A workspace path ready for I/O: the directory part resolved, the last component as spelled. */
export interface Target {
  /** Normalised workspace-relative path, as reported back. */
  path: string;
  absolute: string;
}

export interface ResolvedOperation {
  operation: FileOperation;
  target: Target;
  /** Destination of `*** Move to`, when it differs from the source. */
  moveTarget: Target | undefined;
}

/** An existing file as it was read, so a change made meanwhile can be noticed. */
export interface Snapshot {
  absolute: string;
  stats: BigIntStats;
  /** Content when small enough to keep; always present for a file the patch rewrites. */
  bytes: Buffer | undefined;
}

export interface FileWrite {
  absolute: string;
  bytes: Buffer;
  /** Permission bits to give the file; undefined for a new file (process umask applies). */
  mode: number | undefined;
}

export interface FilePlan {
  result: PatchFileResult;
  warnings: string[];
  source: Snapshot | undefined;
  write: FileWrite | undefined;
  removesSource: boolean;
}

export interface PlanLimits {
  maxFileBytes: number;
}

/** Resolves every path of the patch; refuses escapes and a file the patch would touch twice. */
export async function resolveOperations(
  root: string,
  operations: FileOperation[],
): Promise<ResolvedOperation[]> {
  const claimed = new Map<string, string>();
  const claim = (target: Target) => {
    const earlier = claimed.get(target.absolute);
    if (earlier !== undefined) {
      throw new ToolError(
        'INVALID_ARGUMENT',
        `the patch touches ${target.path} more than once; merge those sections`,
        {
          details: { path: target.path, also_as: earlier },
        },
      );
    }
    claimed.set(target.absolute, target.path);
  };
  const resolved: ResolvedOperation[] = [];
  for (const operation of operations) {
    const target = await resolveTarget(root, operation.path);
    claim(target);
    let moveTarget: Target | undefined;
    if (operation.kind === 'update' && operation.moveTo !== undefined) {
      const destination = await resolveTarget(root, operation.moveTo);
      if (destination.absolute !== target.absolute) {
        claim(destination);
        moveTarget = destination;
      }
    }
    resolved.push({ operation, target, moveTarget });
  }
  return resolved;
}

async function resolveTarget(root: string, input: string): Promise<Target> {
  const relative = checkRelativePath(input);
  if (relative === '.') {
    throw new ToolError('IS_DIRECTORY', 'the workspace root is a directory, not a file', {
      details: { path: input },
    });
  }
  // The whole path first: a symlink anywhere in it that leaves the workspace is refused here.
  await resolveInWorkspace(root, relative);
  const parent = await resolveInWorkspace(root, path.posix.dirname(relative));
  return { path: relative, absolute: path.join(parent.absolute, path.posix.basename(relative)) };
}

/** Reads and matches one operation. Runs with the file's lock held. */
export async function planOperation(
  root: string,
  resolved: ResolvedOperation,
  limits: PlanLimits,
): Promise<FilePlan> {
  const { operation, target, moveTarget } = resolved;
  if (operation.kind === 'add') {
    await refuseExisting(target);
    const bytes = checkSize(encodeTextFile(newTextFile(operation.lines)), target, limits);
    return {
      result: {
        path: target.path,
        action: 'add',
        hunks: 0,
        lines_added: operation.lines.length,
        lines_removed: 0,
      },
      warnings: [],
      source: undefined,
      write: { absolute: target.absolute, bytes, mode: undefined },
      removesSource: false,
    };
  }
  if (operation.kind === 'delete') {
    const source = await readSource(root, target, limits, false);
    return {
      result: {
        path: target.path,
        action: 'delete',
        hunks: 0,
        lines_added: 0,
        lines_removed: countLines(source),
      },
      warnings: [],
      source,
      write: undefined,
      removesSource: true,
    };
  }
  const source = await readSource(root, target, limits, true);
  const original = source.bytes as Buffer;
  const text = decodeTextFile(original, target.path);
  const placements = locateHunks(
    text.lines.map((line) => line.text),
    operation.hunks,
    target.path,
  );
  const bytes = checkSize(encodeTextFile(patchTextFile(text, placements)), moveTarget ?? target, limits);
  if (moveTarget !== undefined) await refuseExisting(moveTarget);
  const changed = operation.hunks.flatMap((hunk) => hunk.lines);
  const result: PatchFileResult = {
    path: target.path,
    action: moveTarget === undefined ? 'update' : 'move',
    hunks: operation.hunks.length,
    lines_added: changed.filter((line) => line.kind === 'add').length,
    lines_removed: changed.filter((line) => line.kind === 'remove').length,
  };
  if (moveTarget !== undefined) result.move_to = moveTarget.path;
  const isUnchanged = moveTarget === undefined && bytes.equals(original);
  return {
    result,
    warnings: placements
      .filter((placement) => placement.isWhitespaceTolerant)
      .map(
        (placement) =>
          `${target.path}: hunk ${placement.hunkIndex + 1} matched only when trailing whitespace is ignored`,
      ),
    source,
    write: isUnchanged
      ? undefined
      : { absolute: (moveTarget ?? target).absolute, bytes, mode: Number(source.stats.mode & 0o7777n) },
    removesSource: moveTarget !== undefined,
  };
}

async function inspect(target: Target): Promise<BigIntStats | undefined> {
  try {
    return await lstat(target.absolute, { bigint: true });
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw mapFsError(error, target.path);
  }
}

async function refuseExisting(target: Target): Promise<void> {
  if ((await inspect(target)) !== undefined) {
    throw new ToolError(
      'ALREADY_EXISTS',
      `${target.path} already exists; use '*** Update File' to change it`,
      {
        details: { path: target.path },
      },
    );
  }
}

/**
 * Reads a file the patch changes or removes. The last component must be the file
 * itself: writing through a symlink would replace the link, not its target, so a
 * link is refused and the model is told where it points.
 */
async function readSource(
  root: string,
  target: Target,
  limits: PlanLimits,
  isRewritten: boolean,
): Promise<Snapshot> {
  const stats = await inspect(target);
  if (stats === undefined) {
    throw new ToolError('NOT_FOUND', `${target.path} does not exist`, { details: { path: target.path } });
  }
  if (stats.isSymbolicLink()) {
    const points = path.relative(root, await realpath(target.absolute).catch(() => target.absolute));
    throw new ToolError('PATCH_FAILED', `${target.path} is a symlink to ${points}; patch ${points} instead`, {
      details: { path: target.path, symlink_target: points },
    });
  }
  if (stats.isDirectory()) {
    throw new ToolError('IS_DIRECTORY', `${target.path} is a directory`, { details: { path: target.path } });
  }
  if (!stats.isFile()) {
    throw new ToolError('PATCH_FAILED', `${target.path} is not a regular file`, {
      details: { path: target.path },
    });
  }
  if (stats.size > BigInt(limits.maxFileBytes)) {
    if (isRewritten) throw tooLarge(target, 'is', Number(stats.size), limits);
    return { absolute: target.absolute, stats, bytes: undefined };
  }
  try {
    const handle = await open(target.absolute, constants.O_RDONLY | constants.O_NOFOLLOW);
    try {
      const opened = await handle.stat({ bigint: true });
      return { absolute: target.absolute, stats: opened, bytes: await handle.readFile() };
    } finally {
      await handle.close();
    }
  } catch (error) {
    throw mapFsError(error, target.path);
  }
}

function checkSize(bytes: Buffer, target: Target, limits: PlanLimits): Buffer {
  if (bytes.length > limits.maxFileBytes) throw tooLarge(target, 'would be', bytes.length, limits);
  return bytes;
}

function tooLarge(target: Target, verb: string, sizeBytes: number, limits: PlanLimits): ToolError {
  return new ToolError(
    'PATCH_FAILED',
    `${target.path} ${verb} ${sizeBytes} bytes, over the ${limits.maxFileBytes}-byte file limit`,
    { details: { path: target.path, size_bytes: sizeBytes, max_file_bytes: limits.maxFileBytes } },
  );
}

/** Lines of a deleted file, for the totals; 0 when it is binary or too large to have been read. */
function countLines(source: Snapshot): number {
  const bytes = source.bytes;
  if (bytes === undefined || bytes.length === 0 || bytes.includes(0)) return 0;
  let count = 0;
  for (const byte of bytes) if (byte === 0x0a) count++;
  return bytes.at(-1) === 0x0a ? count : count + 1;
}
