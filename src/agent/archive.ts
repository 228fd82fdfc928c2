import { randomBytes } from 'node:crypto';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { z } from 'zod';
import {
  ARCHIVE_IDLE_TIMEOUT_MS,
  type ArchiveChunk,
  type ArchiveExportOpened,
  type ArchiveImported,
} from '#protocol/agent-api';
import { ToolError } from '#protocol/errors';
import { ImportStream, STAGING_PREFIX, sweepStaleStaging } from './archive-import.ts';
import { mapFsError, resolveExisting } from './paths.ts';
import { describeExit, TarProcess } from './tar-process.ts';

/** Archive streams open at once; each holds a tar process. */
const MAX_OPEN_STREAMS = 8;
/** Once a read has some data, how long it waits for more before returning what it has. */
const GATHER_MS = 5;

/** Resolves true when the stream has data or has ended, false after `timeoutMs`. */
function whenReadable(stream: Readable, timeoutMs: number | undefined): Promise<boolean> {
  return new Promise((resolve) => {
    const done = (value: boolean) => {
      clearTimeout(timer);
      stream.off('readable', onEvent);
      stream.off('end', onEvent);
      stream.off('close', onEvent);
      resolve(value);
    };
    const onEvent = () => done(true);
    const timer = timeoutMs === undefined ? undefined : setTimeout(() => done(false), timeoutMs);
    stream.on('readable', onEvent);
    stream.on('end', onEvent);
    stream.on('close', onEvent);
  });
}

/**
 * A tar of a workspace directory (or of one file), read in chunks. tar writes
 * into a pipe that nobody drains until the control plane asks for the next
 * chunk, so a slow reader simply pauses tar.
 */
export class ExportStream {
  readonly kind: 'directory' | 'file';
  readonly #tar: TarProcess;

  private constructor(kind: 'directory' | 'file', directory: string, name: string) {
    this.kind = kind;
    this.#tar = new TarProcess(
      [
        '-c',
        '-f',
        '-',
        '-C',
        directory,
        '--numeric-owner',
        // A file the workload changes while tar reads it is archived as read; not a failure.
        '--warning=no-file-changed',
        `--exclude=${STAGING_PREFIX}*`,
        '--',
        name,
      ],
      { stdin: 'ignore', stdout: 'pipe' },
    );
    // Node resumes a child's stdout when the child exits, dropping whatever is still
    // unread, unless someone listens for 'readable'. The reads below pull from it.
    this.#tar.stdout.on('readable', () => undefined);
  }

  static async open(root: string, input: string): Promise<ExportStream> {
    const resolved = await resolveExisting(root, input);
    const info = await stat(resolved.absolute).catch((error: unknown) => {
      throw mapFsError(error, input);
    });
    if (info.isDirectory()) return new ExportStream('directory', resolved.absolute, '.');
    if (info.isFile()) {
      return new ExportStream('file', path.dirname(resolved.absolute), path.basename(resolved.absolute));
    }
    throw new ToolError('INVALID_ARGUMENT', `${input} is neither a file nor a directory`, {
      details: { path: input },
    });
  }

  /** Up to `maxBytes` of the archive; `eof` once tar has finished and everything was read. */
  async read(maxBytes: number): Promise<z.input<typeof ArchiveChunk>> {
    const stdout = this.#tar.stdout;
    const chunks: Buffer[] = [];
    let total = 0;
    while (total < maxBytes) {
      const chunk = stdout.read() as Buffer | null;
      if (chunk !== null) {
        const room = maxBytes - total;
        if (chunk.length > room) {
          stdout.unshift(chunk.subarray(room));
          chunks.push(chunk.subarray(0, room));
          total = maxBytes;
        } else {
          chunks.push(chunk);
          total += chunk.length;
        }
        continue;
      }
      if (stdout.readableEnded || stdout.destroyed) break;
      if (!(await whenReadable(stdout, total === 0 ? undefined : GATHER_MS))) break;
    }
    const isEof = stdout.readableEnded && stdout.readableLength === 0;
    if (isEof || stdout.destroyed) {
      const exit = await this.#tar.exited;
      // Status 1 is "some files differ" (changed while read): the archive is still whole.
      if (exit.code !== 0 && exit.code !== 1) {
        throw new ToolError(
          'INTERNAL_ERROR',
          `archiving failed: ${this.#tar.diagnostics || describeExit(exit)}`,
          {
            retryable: false,
            details: { tar: this.#tar.diagnostics, status: describeExit(exit) },
          },
        );
      }
    }
    return { data: Buffer.concat(chunks, total).toString('base64'), eof: isEof };
  }

  async close(): Promise<void> {
    this.#tar.kill();
    this.#tar.stdout.destroy();
    await this.#tar.exited;
  }
}

type ArchiveStream = ExportStream | ImportStream;
const isExport = (stream: ArchiveStream): stream is ExportStream => stream instanceof ExportStream;
const isImport = (stream: ArchiveStream): stream is ImportStream => stream instanceof ImportStream;

interface OpenStream {
  stream: ArchiveStream;
  timer: NodeJS.Timeout;
  isBusy: boolean;
}

/**
 * The agent's open archive streams, by id. Each one is aborted and cleaned up
 * when the control plane leaves it idle for the idle timeout, so a control
 * plane that dies mid-transfer leaves no tar process or staging directory.
 */
export class ArchiveStreams {
  readonly #workspaceRoot: () => string;
  readonly #idleTimeoutMs: number;
  readonly #open = new Map<string, OpenStream>();

  constructor(workspaceRoot: () => string, idleTimeoutMs = ARCHIVE_IDLE_TIMEOUT_MS) {
    this.#workspaceRoot = workspaceRoot;
    this.#idleTimeoutMs = idleTimeoutMs;
  }

  async openExport(input: string): Promise<z.input<typeof ArchiveExportOpened>> {
    this.#checkRoom();
    const stream = await ExportStream.open(this.#workspaceRoot(), input);
    return { streamId: this.#register(stream), kind: stream.kind };
  }

  async openImport(input: string): Promise<{ streamId: string }> {
    this.#checkRoom();
    const inUse = new Set<string>();
    for (const { stream } of this.#open.values()) if (isImport(stream)) inUse.add(stream.staging);
    await sweepStaleStaging(this.#workspaceRoot(), inUse, 2 * this.#idleTimeoutMs);
    const stream = await ImportStream.open(this.#workspaceRoot(), input);
    return { streamId: this.#register(stream) };
  }

  read(streamId: string, maxBytes: number): Promise<z.input<typeof ArchiveChunk>> {
    return this.#use(streamId, isExport, async (stream) => {
      const chunk = await stream.read(maxBytes);
      if (chunk.eof) this.#forget(streamId);
      return chunk;
    });
  }

  write(streamId: string, data: Buffer): Promise<Record<string, never>> {
    return this.#use(streamId, isImport, async (stream) => {
      await stream.write(data);
      return {};
    });
  }

  finish(streamId: string): Promise<ArchiveImported> {
    return this.#use(streamId, isImport, async (stream) => {
      this.#forget(streamId);
      return stream.finish();
    });
  }

  /** Aborts a stream; closing one that is already gone is not an error. */
  async close(streamId: string): Promise<Record<string, never>> {
    const open = this.#open.get(streamId);
    if (open !== undefined) {
      this.#forget(streamId);
      await open.stream.close();
    }
    return {};
  }

  #checkRoom(): void {
    if (this.#open.size >= MAX_OPEN_STREAMS) {
      throw new ToolError('QUOTA_EXCEEDED', `${MAX_OPEN_STREAMS} archive streams are already open`, {
        details: { limit: MAX_OPEN_STREAMS },
      });
    }
  }

  #register(stream: ArchiveStream): string {
    const streamId = randomBytes(8).toString('hex');
    this.#open.set(streamId, { stream, timer: this.#idleTimer(streamId), isBusy: false });
    return streamId;
  }

  #idleTimer(streamId: string): NodeJS.Timeout {
    const timer = setTimeout(() => {
      const open = this.#open.get(streamId);
      if (open === undefined) return;
      if (open.isBusy) {
        open.timer = this.#idleTimer(streamId);
        return;
      }
      void this.close(streamId);
    }, this.#idleTimeoutMs);
    timer.unref();
    return timer;
  }

  #forget(streamId: string): void {
    const open = this.#open.get(streamId);
    if (open === undefined) return;
    clearTimeout(open.timer);
    this.#open.delete(streamId);
  }

  /** Runs one operation on a stream; a failed operation aborts the stream. */
  async #use<S extends ArchiveStream, R>(
    streamId: string,
    isKind: (stream: ArchiveStream) => stream is S,
    operation: (stream: S) => Promise<R>,
  ): Promise<R> {
    const open = this.#open.get(streamId);
    if (open === undefined) {
      throw new ToolError('NOT_FOUND', `no archive stream ${streamId} (finished, closed or timed out)`, {
        details: { streamId },
      });
    }
    if (!isKind(open.stream)) {
      throw new ToolError('INVALID_ARGUMENT', `archive stream ${streamId} does not support this operation`);
    }
    if (open.isBusy) throw new ToolError('INVALID_ARGUMENT', `archive stream ${streamId} is busy`);
    open.isBusy = true;
    clearTimeout(open.timer);
    try {
      return await operation(open.stream);
    } catch (error) {
      await this.close(streamId);
      throw error;
    } finally {
      open.isBusy = false;
      if (this.#open.get(streamId) === open) open.timer = this.#idleTimer(streamId);
    }
  }
}
