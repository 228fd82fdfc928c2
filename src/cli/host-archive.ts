import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { copyFile, lstat, mkdir, open, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import tar, { type Extract } from 'tar-stream';
import { ToolError } from '../protocol/errors.ts';

/**
 * The host's side of `sandboxd run --copy` and `--artifacts`: packing the
 * host's own checkout, and unpacking an archive that came out of a sandbox.
 * The second is untrusted input written into a host folder, so it refuses
 * names that climb out, never writes through a symlink, and creates no links
 * or special files at all.
 */

const MAX_TAR_STDERR = 8 * 1024;

/** The host directory as a tar stream, made by the host's tar (the host reads its own files). */
export async function* packHostDirectory(directory: string, signal?: AbortSignal): AsyncGenerator<Buffer> {
  const child = spawn('tar', ['-c', '-f', '-', '-C', directory, '--numeric-owner', '.'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(signal === undefined ? {} : { signal }),
  });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (text: string) => {
    if (stderr.length < MAX_TAR_STDERR) stderr += text;
  });
  const exited = new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve(code));
  });
  exited.catch(() => undefined);
  try {
    for await (const chunk of child.stdout) yield chunk as Buffer;
    const code = await exited;
    // GNU tar's 1: a file changed while it was read; the archive is still whole.
    if (code !== 0 && code !== 1) {
      throw new Error(`tar could not pack ${directory}: ${stderr.trim() || `exit status ${code}`}`);
    }
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
}

/** A tar member name as a normalised relative path; undefined for the archive's root ('./'). */
export function checkMemberName(name: string): string | undefined {
  if (name.includes('\0')) throw new ToolError('INVALID_ARGUMENT', 'an archive member name contains NUL');
  if (path.posix.isAbsolute(name)) {
    throw new ToolError('ABSOLUTE_PATH_DENIED', `archive member ${name} has an absolute name`, {
      details: { entry: name },
    });
  }
  const normal = path.posix.normalize(name).replace(/\/+$/, '');
  if (normal === '..' || normal.startsWith('../')) {
    throw new ToolError('PATH_OUTSIDE_WORKSPACE', `archive member ${name} climbs out of its directory`, {
      details: { entry: name },
    });
  }
  return normal === '.' || normal === '' ? undefined : normal;
}

export interface UnpackOptions {
  /** Where a member (its checked, normalised name; '.' for the root) goes, relative to the destination. */
  mapName: (name: string) => string;
  /** Told about members that are deliberately not copied (links, special files). */
  warn: (message: string) => void;
  /**
   * The most bytes and files this archive may write. A member that would pass
   * either is refused before a byte of it is written, so a 500 GB (sparse) file
   * the sandbox made never reaches the host's disk.
   */
  maxBytes: number;
  maxFiles: number;
}

/** One member of the archive being parsed: its header and its content stream. */
type Entry = Extract extends AsyncIterable<infer Member> ? Member : never;

export interface Unpacked {
  files: number;
  bytes: number;
}

/**
 * Writes files and directories into `destination` (a real path). Every
 * directory on the way must be a real directory (never a symlink); a file is
 * written to a fresh temporary name (O_EXCL|O_NOFOLLOW) and renamed over the
 * target, so an existing symlink there is replaced, not followed.
 */
class HostUnpacker {
  readonly counts: Unpacked = { files: 0, bytes: 0 };
  readonly #destination: string;
  readonly #options: UnpackOptions;
  readonly #directories = new Set<string>(['.']);
  readonly #written = new Set<string>();
  /** Members seen, copied or not, for the file cap. */
  #entries = 0;

  constructor(destination: string, options: UnpackOptions) {
    this.#destination = destination;
    this.#options = options;
  }

  async entry(entry: Entry): Promise<void> {
    const name = checkMemberName(entry.header.name) ?? '.';
    const type = entry.header.type ?? 'file';
    const target = checkMemberName(this.#options.mapName(name));
    if (target === undefined) {
      // The destination itself: it exists already.
      entry.resume();
      return;
    }
    // Every member counts against the file cap — directories and members not copied too —
    // so that no archive can make the host do unbounded work.
    this.#reserve(target, type === 'file' || type === 'contiguous-file' ? (entry.header.size ?? 0) : 0);
    this.#entries++;
    switch (type) {
      case 'directory':
        await this.#directory(target);
        entry.resume();
        return;
      case 'file':
      case 'contiguous-file':
        await this.#file(target, entry);
        return;
      case 'link':
        await this.#hardLink(target, entry.header.linkname ?? '');
        entry.resume();
        return;
      default:
        this.#options.warn(`${target}: a ${type} is not copied out of the sandbox`);
        entry.resume();
    }
  }

  /** Refuses a member that would take the archive past its byte or file limit. */
  #reserve(target: string, size: number): void {
    if (this.#entries + 1 > this.#options.maxFiles || this.counts.bytes + size > this.#options.maxBytes) {
      throw new ToolError(
        'OUTPUT_TOO_LARGE',
        `${target}: copying it out would pass the limit of ${this.#options.maxFiles} files and ` +
          `${this.#options.maxBytes} bytes (${this.counts.files} files, ${this.counts.bytes} bytes so far)`,
        { details: { path: target, maxBytes: this.#options.maxBytes, maxFiles: this.#options.maxFiles } },
      );
    }
  }

  async #directory(relative: string): Promise<void> {
    let current = '.';
    for (const part of relative.split('/')) {
      current = current === '.' ? part : `${current}/${part}`;
      if (this.#directories.has(current)) continue;
      const absolute = path.join(this.#destination, current);
      const info = await lstat(absolute).catch((error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT') return undefined;
        throw error;
      });
      if (info === undefined) {
        await mkdir(absolute, { mode: 0o755 });
      } else if (info.isSymbolicLink()) {
        throw new ToolError(
          'SYMLINK_ESCAPE',
          `${current} is a symlink on the host; nothing is written through it`,
          {
            details: { path: current },
          },
        );
      } else if (!info.isDirectory()) {
        throw new ToolError('NOT_A_DIRECTORY', `${current} exists on the host and is not a directory`, {
          details: { path: current },
        });
      }
      this.#directories.add(current);
    }
  }

  /** Runs `write` on a fresh temporary file beside `relative` and renames it into place. */
  async #replace(relative: string, write: (temporary: string) => Promise<void>): Promise<void> {
    const parent = path.posix.dirname(relative);
    if (parent !== '.') await this.#directory(parent);
    const final = path.join(this.#destination, relative);
    const temporary = path.join(
      path.dirname(final),
      `.${path.basename(final)}.sandboxd-${randomBytes(4).toString('hex')}`,
    );
    try {
      await write(temporary);
      await rename(temporary, final);
    } catch (error) {
      await rm(temporary, { force: true });
      if ((error as NodeJS.ErrnoException).code === 'EISDIR') {
        throw new ToolError('IS_DIRECTORY', `${relative} is a directory on the host`, {
          details: { path: relative },
        });
      }
      throw error;
    }
    this.#written.add(relative);
  }

  async #file(relative: string, entry: Entry): Promise<void> {
    const mode = ((entry.header.mode ?? 0o644) & 0o755) | 0o600;
    await this.#replace(relative, async (temporary) => {
      const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
      const handle = await open(temporary, flags, mode);
      try {
        for await (const piece of entry) {
          const data = piece as Buffer;
          await handle.write(data);
          this.counts.bytes += data.length;
        }
      } finally {
        await handle.close();
      }
    });
    this.counts.files++;
  }

  /** A hard link to a file this archive already wrote becomes a copy of it; any other is skipped. */
  async #hardLink(relative: string, linkname: string): Promise<void> {
    const source = checkMemberName(linkname);
    const sourceTarget = source === undefined ? undefined : checkMemberName(this.#options.mapName(source));
    if (sourceTarget === undefined || !this.#written.has(sourceTarget)) {
      this.#options.warn(
        `${relative}: a hard link to ${linkname}, which is not in the archive, is not copied`,
      );
      return;
    }
    const { size } = await stat(path.join(this.#destination, sourceTarget));
    if (this.counts.bytes + size > this.#options.maxBytes) this.#reserve(relative, size);
    await this.#replace(relative, (temporary) =>
      copyFile(path.join(this.#destination, sourceTarget), temporary, constants.COPYFILE_EXCL),
    );
    this.counts.bytes += size;
    this.counts.files++;
  }
}

/** Feeds a byte stream to tar-stream's parser with backpressure; stops when the parser is destroyed. */
async function feed(source: AsyncIterable<Buffer>, extract: Extract): Promise<void> {
  try {
    for await (const chunk of source) {
      if (extract.destroyed) return;
      if (!extract.write(chunk)) {
        await new Promise<void>((resolve) => {
          const done = () => {
            extract.off('drain', done);
            extract.off('close', done);
            resolve();
          };
          extract.on('drain', done);
          extract.on('close', done);
        });
      }
    }
    // streamx's end() takes an optional last chunk; its types insist on one.
    extract.end(undefined);
  } catch (error) {
    extract.destroy(error as Error);
  }
}

/** Unpacks a tar stream from a sandbox into a host directory (a real path), refusing escapes. */
export async function unpackIntoDirectory(
  source: AsyncIterable<Buffer>,
  destination: string,
  options: UnpackOptions,
): Promise<Unpacked> {
  const extract = tar.extract();
  const feeding = feed(source, extract);
  const unpacker = new HostUnpacker(destination, options);
  try {
    for await (const entry of extract) await unpacker.entry(entry);
  } catch (error) {
    extract.destroy(error as Error);
    throw error;
  } finally {
    await feeding;
  }
  return unpacker.counts;
}
