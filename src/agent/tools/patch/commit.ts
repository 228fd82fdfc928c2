import { randomBytes } from 'node:crypto';
import { type BigIntStats, constants } from 'node:fs';
import { link, lstat, mkdir, open, rename, rmdir, unlink } from 'node:fs/promises';
import path from 'node:path';
import { ToolError } from '#protocol/errors';
import { isNotFound, mapFsError } from '../../paths.ts';
import type { FilePlan, Snapshot } from './plan.ts';

/**
 * Writing a planned patch, all or nothing. First every new content goes to a temp
 * file beside its target (written, chmod-ed, fsynced); then file by file the
 * original is checked against what was read and the temp renamed over it. Each
 * step records how to undo itself; on any failure the undos run in reverse.
 * Removed files are renamed to a backup and only unlinked once all steps succeed.
 * The check right before each rename leaves a window of a few syscalls in which a
 * writer outside this agent could still slip in; writers inside it hold the lock.
 */

/** Test hook: runs before each file's check-and-rename, after every temp file is written. */
export type BeforeCommitStep = (step: { index: number; path: string }) => void | Promise<void>;

interface Undo {
  /** Workspace path the undo restores, reported if it fails. */
  path: string;
  run: () => Promise<void>;
}

interface Leftover {
  absolute: string;
  display: string;
}

const READ_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;
const CREATE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
/** link(2) errors of filesystems without hard links, where a checked rename has to do. */
const LINK_UNSUPPORTED = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EMLINK']);

/** Writes every plan or none; returns warnings about leftovers it could not clean up. */
export async function commitPlans(
  plans: readonly FilePlan[],
  beforeStep?: BeforeCommitStep,
): Promise<string[]> {
  const undos: Undo[] = [];
  const leftovers: Leftover[] = [];
  const temps: (string | undefined)[] = [];
  let current = '';
  try {
    for (const plan of plans) {
      current = writtenPath(plan);
      temps.push(plan.write === undefined ? undefined : await prepare(plan, undos, leftovers));
    }
    for (const [index, plan] of plans.entries()) {
      current = plan.result.path;
      await beforeStep?.({ index, path: current });
      await swap(plan, temps[index], undos, leftovers);
    }
  } catch (error) {
    return rollBack(undos, error, current);
  }
  return cleanUp(leftovers);
}

function writtenPath(plan: FilePlan): string {
  return plan.result.move_to ?? plan.result.path;
}

/** A hidden name beside `absolute`, on the same filesystem so that rename is atomic. */
function siblingName(absolute: string, kind: 'tmp' | 'bak'): string {
  const base = path.basename(absolute).slice(0, 64);
  return path.join(path.dirname(absolute), `.${base}.${randomBytes(6).toString('hex')}.patch-${kind}`);
}

function siblingDisplay(display: string, absolute: string): string {
  return path.posix.join(path.posix.dirname(display), path.basename(absolute));
}

async function prepare(plan: FilePlan, undos: Undo[], leftovers: Leftover[]): Promise<string> {
  const write = plan.write as NonNullable<FilePlan['write']>;
  const display = writtenPath(plan);
  const directory = path.dirname(write.absolute);
  const firstCreated = await mkdir(directory, { recursive: true });
  if (firstCreated !== undefined) {
    // Outermost first, so that the reversed undo list removes the deepest first.
    const below = path.relative(firstCreated, directory);
    const created = [firstCreated];
    for (const segment of below === '' ? [] : below.split(path.sep)) {
      created.push(path.join(created.at(-1) as string, segment));
    }
    for (const dir of created) {
      undos.push({ path: path.posix.dirname(display), run: () => removeEmptyDirectory(dir) });
    }
  }
  const temp = siblingName(write.absolute, 'tmp');
  undos.push({ path: siblingDisplay(display, temp), run: () => removeIfPresent(temp) });
  leftovers.push({ absolute: temp, display: siblingDisplay(display, temp) });
  await writeSynced(temp, write.bytes, write.mode);
  return temp;
}

async function writeSynced(file: string, bytes: Buffer, mode: number | undefined): Promise<void> {
  const handle = await open(file, CREATE_FLAGS, 0o666);
  try {
    await handle.writeFile(bytes);
    // After the write: writing clears set-user-ID bits the chmod must restore.
    if (mode !== undefined) await handle.chmod(mode);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function swap(
  plan: FilePlan,
  temp: string | undefined,
  undos: Undo[],
  leftovers: Leftover[],
): Promise<void> {
  const { source, write } = plan;
  const display = plan.result.path;
  if (source !== undefined) await verifyUnchanged(source, display);
  if (write !== undefined && temp !== undefined) {
    if (source !== undefined && !plan.removesSource) {
      await rename(temp, write.absolute);
      const original = source.bytes as Buffer;
      const mode = Number(source.stats.mode & 0o7777n);
      undos.push({ path: display, run: () => restore(source.absolute, original, mode) });
    } else {
      await createExclusive(temp, write.absolute, writtenPath(plan));
      undos.push({ path: writtenPath(plan), run: () => removeIfPresent(write.absolute) });
    }
  }
  if (plan.removesSource && source !== undefined) {
    const backup = siblingName(source.absolute, 'bak');
    await rename(source.absolute, backup);
    undos.push({ path: display, run: () => rename(backup, source.absolute) });
    leftovers.push({ absolute: backup, display: siblingDisplay(display, backup) });
  }
}

/** Refuses to go on if the file is no longer the version the hunks were matched against. */
async function verifyUnchanged(source: Snapshot, display: string): Promise<void> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(source.absolute, READ_FLAGS);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ELOOP') throw conflict(display, 'was removed or replaced');
    throw error;
  }
  try {
    if (!isSameVersion(await handle.stat({ bigint: true }), source.stats)) throw conflict(display, 'changed');
    if (source.bytes !== undefined && !(await handle.readFile()).equals(source.bytes)) {
      throw conflict(display, 'changed');
    }
  } finally {
    await handle.close();
  }
}

function isSameVersion(now: BigIntStats, then: BigIntStats): boolean {
  return (
    now.dev === then.dev &&
    now.ino === then.ino &&
    now.mode === then.mode &&
    now.size === then.size &&
    now.mtimeNs === then.mtimeNs &&
    now.ctimeNs === then.ctimeNs
  );
}

function conflict(display: string, what: string): ToolError {
  return new ToolError(
    'PATCH_CONFLICT',
    `${display} ${what} while the patch was being applied; nothing was changed, re-read the file and retry`,
    { details: { path: display } },
  );
}

/** Creates `target` from `temp` without ever replacing a file someone else created meanwhile. */
async function createExclusive(temp: string, target: string, display: string): Promise<void> {
  try {
    await link(temp, target);
    return;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? '';
    if (code === 'EEXIST') throw conflict(display, 'was created');
    if (!LINK_UNSUPPORTED.has(code)) throw error;
  }
  const existing = await lstat(target).catch((error: unknown) => {
    if (isNotFound(error)) return undefined;
    throw error;
  });
  if (existing !== undefined) throw conflict(display, 'was created');
  await rename(temp, target);
}

async function restore(absolute: string, bytes: Buffer, mode: number): Promise<void> {
  const temp = siblingName(absolute, 'tmp');
  try {
    await writeSynced(temp, bytes, mode);
    await rename(temp, absolute);
  } catch (error) {
    // The restore failure is what gets reported; a stray temp file is secondary.
    await removeIfPresent(temp).catch(() => undefined);
    throw error;
  }
}

async function removeIfPresent(file: string): Promise<void> {
  try {
    await unlink(file);
  } catch (error) {
    if (!isNotFound(error)) throw error;
  }
}

/** Removes a directory the patch created, unless something else has put files in it since. */
async function removeEmptyDirectory(directory: string): Promise<void> {
  try {
    await rmdir(directory);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'ENOTEMPTY' && code !== 'EEXIST') throw error;
  }
}

async function rollBack(undos: Undo[], error: unknown, failedPath: string): Promise<never> {
  const unrestored = new Set<string>();
  for (const undo of undos.reverse()) {
    try {
      await undo.run();
    } catch {
      unrestored.add(undo.path);
    }
  }
  const cause = asToolError(error, failedPath);
  if (unrestored.size > 0) {
    const files = [...unrestored];
    throw new ToolError(
      'PATCH_ROLLBACK_FAILED',
      `the patch failed at ${failedPath} (${cause.message}) and restoring ${files.join(', ')} failed too; check them before retrying`,
      { details: { path: failedPath, files, cause: cause.toWire() }, cause: error },
    );
  }
  if (cause.code === 'PATCH_CONFLICT') throw cause;
  throw new ToolError(
    'PATCH_FAILED',
    `could not write ${failedPath}: ${cause.message}; every file was restored`,
    {
      details: { path: failedPath, cause: cause.toWire() },
      cause: error,
    },
  );
}

function asToolError(error: unknown, display: string): ToolError {
  const isErrno = typeof (error as NodeJS.ErrnoException | undefined)?.code === 'string';
  return isErrno ? mapFsError(error, display) : ToolError.from(error);
}

async function cleanUp(leftovers: readonly Leftover[]): Promise<string[]> {
  const warnings: string[] = [];
  for (const leftover of leftovers) {
    try {
      await removeIfPresent(leftover.absolute);
    } catch (error) {
      // The patch is applied; a hidden leftover is reported rather than turning success into failure.
      warnings.push(`could not remove ${leftover.display}: ${asToolError(error, leftover.display).message}`);
    }
  }
  return warnings;
}
