import type { Stats } from 'node:fs';
import { chmod, lstat, mkdir, mkdtemp, readdir, readlink, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { ArchiveImported } from '#protocol/agent-api';
import { ToolError } from '#protocol/errors';
import { isNotFound, mapFsError, resolveInWorkspace } from './paths.ts';
import { describeExit, TarProcess } from './tar-process.ts';

/** Name prefix of the staging directories imports extract into (exports leave them out). */
export const STAGING_PREFIX = '.sandboxd-import-';

/**
 * Whether a symlink at `linkPath` (relative to the workspace root) pointing at
 * `target` stays inside the workspace however the kernel resolves it. The rule
 * is lexical and sound: the target is relative and all its `..` come first,
 * no more of them than the link is deep. A `..` after a name is refused,
 * because that name may itself be a symlink (`b -> ..`, then `a -> b/../x`
 * climbs one level more than it spells).
 */
export function symlinkStaysInside(linkPath: string, target: string): boolean {
  if (target === '' || target.includes('\0') || path.posix.isAbsolute(target)) return false;
  const parent = path.posix.dirname(linkPath);
  const depth = parent === '.' ? 0 : parent.split('/').length;
  let ups = 0;
  let hasName = false;
  for (const part of target.split('/')) {
    if (part === '' || part === '.') continue;
    if (part !== '..') {
      hasName = true;
    } else if (hasName || ++ups > depth) {
      return false;
    }
  }
  return true;
}

function securityError(code: 'SYMLINK_ESCAPE' | 'PATH_OUTSIDE_WORKSPACE', message: string, entry: string) {
  return new ToolError(code, message, { details: { entry } });
}

async function lstatOrUndefined(file: string): Promise<Stats | undefined> {
  try {
    return await lstat(file);
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

function kindOf(info: Stats): string {
  if (info.isFIFO()) return 'fifo';
  if (info.isCharacterDevice()) return 'character device';
  if (info.isBlockDevice()) return 'block device';
  if (info.isSocket()) return 'socket';
  return 'special file';
}

/**
 * Walks what tar extracted into the staging directory, without following any
 * link, and refuses what must not reach the workspace: special files, symlinks
 * that could leave it, hard links to files outside the archive, and a file
 * where the workspace has a directory. Directories are made owner-writable so
 * their entries can be moved out (and the staging directory removed).
 */
class StagingInspector {
  readonly counts: ArchiveImported = { files: 0, bytes: 0 };
  readonly #targetRelative: string;
  readonly #linkedInodes = new Map<number, { nlink: number; seen: number; entry: string }>();

  constructor(targetRelative: string) {
    this.#targetRelative = targetRelative;
  }

  async inspect(staging: string, target: string | undefined): Promise<ArchiveImported> {
    await this.#directory(staging, '', target);
    for (const inode of this.#linkedInodes.values()) {
      if (inode.seen < inode.nlink) {
        throw securityError(
          'PATH_OUTSIDE_WORKSPACE',
          `${inode.entry} is a hard link to a file outside the archive`,
          inode.entry,
        );
      }
    }
    return this.counts;
  }

  async #directory(directory: string, entry: string, destination: string | undefined): Promise<void> {
    const info = await lstat(directory);
    if ((info.mode & 0o700) !== 0o700) await chmod(directory, (info.mode & 0o7777) | 0o700);
    for (const name of await readdir(directory)) {
      const child = path.join(directory, name);
      const childEntry = entry === '' ? name : `${entry}/${name}`;
      const childInfo = await lstat(child);
      const existing =
        destination === undefined ? undefined : await lstatOrUndefined(path.join(destination, name));
      if (childInfo.isDirectory()) {
        // Only a real directory is merged into; anything else there is replaced, never followed.
        await this.#directory(
          child,
          childEntry,
          existing?.isDirectory() ? path.join(destination!, name) : undefined,
        );
        continue;
      }
      if (existing?.isDirectory()) {
        throw new ToolError('ALREADY_EXISTS', `${childEntry}: the workspace has a directory there`, {
          details: { entry: childEntry },
        });
      }
      if (childInfo.isFile()) {
        this.counts.files++;
        this.counts.bytes += childInfo.size;
        if (childInfo.nlink > 1) this.#countLink(childInfo, childEntry);
      } else if (childInfo.isSymbolicLink()) {
        const target = await readlink(child);
        const inWorkspace = path.posix.join(this.#targetRelative, childEntry);
        if (!symlinkStaysInside(inWorkspace, target)) {
          throw securityError(
            'SYMLINK_ESCAPE',
            `${childEntry} is a symlink that leaves the workspace (-> ${target})`,
            childEntry,
          );
        }
      } else {
        throw new ToolError(
          'INVALID_ARGUMENT',
          `${childEntry} is a ${kindOf(childInfo)}; only files, directories and symlinks are imported`,
          {
            category: 'security',
            details: { entry: childEntry },
          },
        );
      }
    }
  }

  #countLink(info: Stats, entry: string): void {
    const known = this.#linkedInodes.get(info.ino);
    if (known === undefined) this.#linkedInodes.set(info.ino, { nlink: info.nlink, seen: 1, entry });
    else known.seen++;
  }
}

/**
 * Moves the staged tree into place. Existing directories are merged into (and
 * keep their own mode, as with tar's --no-overwrite-dir); files and symlinks are
 * replaced by rename, which never follows a link at the destination.
 */
async function moveInto(source: string, destination: string): Promise<void> {
  for (const name of await readdir(source)) {
    const from = path.join(source, name);
    const to = path.join(destination, name);
    const [info, existing] = await Promise.all([lstat(from), lstatOrUndefined(to)]);
    if (info.isDirectory() && existing?.isDirectory()) {
      await moveInto(from, to);
      continue;
    }
    if (info.isDirectory() && existing !== undefined) await rm(to);
    await rename(from, to);
  }
}

/** Removes a staging tree even where the archive made directories read-only. */
async function removeTree(directory: string): Promise<void> {
  try {
    await rm(directory, { recursive: true, force: true });
  } catch {
    await makeWritable(directory).catch(() => undefined);
    await rm(directory, { recursive: true, force: true });
  }
}

async function makeWritable(directory: string): Promise<void> {
  await chmod(directory, 0o700);
  for (const entry of await readdir(directory, { withFileTypes: true })) {
    if (entry.isDirectory()) await makeWritable(path.join(directory, entry.name));
  }
}

/**
 * Removes staging directories that no open import owns and that have sat
 * untouched for `olderThanMs`: an agent killed mid-import left them behind.
 */
export async function sweepStaleStaging(
  root: string,
  inUse: Set<string>,
  olderThanMs: number,
): Promise<void> {
  const names = await readdir(root).catch(() => [] as string[]);
  for (const name of names) {
    const directory = path.join(root, name);
    if (!name.startsWith(STAGING_PREFIX) || inUse.has(directory)) continue;
    const info = await lstatOrUndefined(directory);
    if (info?.isDirectory() && Date.now() - info.mtimeMs > olderThanMs) {
      await removeTree(directory).catch(() => undefined);
    }
  }
}

/** The refusal tar's own diagnostics point at: it strips a leading `/` or `../` with only a warning. */
function climbingRefusal(diagnostics: string): ToolError | undefined {
  const details = { tar: diagnostics };
  if (diagnostics.includes("Removing leading `/'")) {
    return new ToolError('ABSOLUTE_PATH_DENIED', 'the archive has members with absolute names', { details });
  }
  if (/Removing leading `[^']*\.\.\/'|contains '\.\.'/.test(diagnostics)) {
    return new ToolError('PATH_OUTSIDE_WORKSPACE', 'the archive has members whose names climb out with ..', {
      details,
    });
  }
  return undefined;
}

/**
 * One upload of a tar archive into a workspace directory. tar extracts into a
 * fresh private staging directory inside the workspace (same filesystem, so the
 * final moves are renames); nothing reaches the target until the whole archive
 * has been extracted and checked. So an entry `link -> /etc` followed by
 * `link/passwd` can at most write inside the staging directory — and GNU tar
 * already defers such links, so the write fails — and the link itself is then
 * refused. Any diagnostic from tar refuses the archive too: that is how a
 * stripped absolute name or `..` shows up.
 *
 * The container is the real boundary (the workload runs as the same user and
 * could write the same files); this is defence in depth, and it keeps a bind-
 * mounted host folder free of links planted by an archive.
 */
export class ImportStream {
  readonly #root: string;
  readonly #path: string;
  readonly #staging: string;
  readonly #tar: TarProcess;
  #isDiscarded = false;

  private constructor(root: string, input: string, staging: string) {
    this.#root = root;
    this.#path = input;
    this.#staging = staging;
    this.#tar = new TarProcess(
      [
        '-x',
        '-f',
        '-',
        '-C',
        staging,
        '--no-same-owner',
        '--no-same-permissions',
        '--no-overwrite-dir',
        // Harmless notes a legitimate archive from another machine may raise.
        '--warning=no-timestamp',
        '--warning=no-unknown-keyword',
      ],
      { stdin: 'pipe', stdout: 'ignore' },
    );
  }

  /** The private directory tar extracts into. */
  get staging(): string {
    return this.#staging;
  }

  static async open(root: string, input: string): Promise<ImportStream> {
    const target = await resolveInWorkspace(root, input);
    if (target.exists && !(await stat(target.absolute)).isDirectory()) {
      throw new ToolError('NOT_A_DIRECTORY', `not a directory: ${input}`, { details: { path: input } });
    }
    const staging = await mkdtemp(path.join(root, STAGING_PREFIX)).catch((error: unknown) => {
      throw mapFsError(error, input);
    });
    return new ImportStream(root, input, staging);
  }

  async write(chunk: Buffer): Promise<void> {
    await this.#tar.write(chunk);
    const exit = this.#tar.exit;
    if (exit !== undefined && exit.code !== 0) {
      throw climbingRefusal(this.#tar.diagnostics) ?? this.#tarRefusal(describeExit(exit));
    }
  }

  /** Ends the upload: checks everything tar extracted, then moves it into place. */
  async finish(): Promise<ArchiveImported> {
    try {
      const exit = await this.#tar.end();
      const climbing = climbingRefusal(this.#tar.diagnostics);
      if (climbing !== undefined) throw climbing;
      // Resolved again: the workload may have changed the workspace during the upload.
      const target = await resolveInWorkspace(this.#root, this.#path);
      if (!target.exists) await mkdir(target.absolute, { recursive: true });
      const inspector = new StagingInspector(target.relative);
      // A precise security refusal (a symlink that escapes) beats tar's own failure message.
      const counts = await inspector.inspect(this.#staging, target.absolute);
      if (exit.code !== 0 || this.#tar.diagnostics !== '') throw this.#tarRefusal(describeExit(exit));
      await moveInto(this.#staging, target.absolute);
      return counts;
    } catch (error) {
      throw mapFsError(error, this.#path);
    } finally {
      await this.close();
    }
  }

  /** Aborts the upload: tar is killed and the staging directory removed. */
  async close(): Promise<void> {
    if (this.#isDiscarded) return;
    this.#isDiscarded = true;
    this.#tar.kill();
    await this.#tar.exited;
    await removeTree(this.#staging);
  }

  #tarRefusal(status: string): ToolError {
    const diagnostics = this.#tar.diagnostics;
    const firstLine = diagnostics.split('\n')[0] ?? '';
    return new ToolError('INVALID_ARGUMENT', `the archive was refused: ${firstLine || status}`, {
      details: { tar: diagnostics, status },
    });
  }
}
