import { type ArchiveImported, MAX_ARCHIVE_CHUNK_BYTES } from '../protocol/agent-api.ts';
import { ToolError } from '../protocol/errors.ts';
import type { Sandbox } from './sandbox.ts';

/**
 * Tar archives of a workspace, streamed through the sandbox's agent: the host
 * never opens a workspace path. Both directions pull or push one chunk
 * (≤ 1 MiB) per call, so memory stays bounded and a slow consumer slows tar
 * down inside the container instead of buffering here.
 */

const CALL_TIMEOUT_MS = 60_000;
/** finish moves every extracted entry into place, which takes a while for a big tree. */
const FINISH_TIMEOUT_MS = 10 * 60_000;
export const DEFAULT_IMPORT_MAX_BYTES = 1024 ** 3;
/**
 * Chunks well below V8's large-object size: their base64 strings and buffers then
 * die young and are swept by cheap scavenges. With 1 MiB chunks every line went to
 * large-object space and the host's RSS grew by ~50 MiB over a 50 MB transfer
 * before a full GC ran; with 64 KiB it stays within a few MiB, at the same speed.
 */
const DEFAULT_CHUNK_BYTES = 64 * 1024;

export interface ArchiveStreamOptions {
  signal?: AbortSignal;
  /** Bytes per call, at most MAX_ARCHIVE_CHUNK_BYTES. */
  chunkBytes?: number;
}

export interface ImportOptions extends ArchiveStreamOptions {
  /** The archive may not be larger than this; the upload is aborted past it. */
  maxBytes?: number;
}

/** An open export: iterate it once for the tar bytes; `close` aborts it. */
export interface WorkspaceExport extends AsyncIterable<Buffer> {
  /** A directory's archive holds its contents as `./…`; a file's holds that one file. */
  readonly kind: 'directory' | 'file';
  close(): Promise<void>;
}

function chunkSize(options: ArchiveStreamOptions): number {
  return Math.min(options.chunkBytes ?? DEFAULT_CHUNK_BYTES, MAX_ARCHIVE_CHUNK_BYTES);
}

/** Counts an open stream as a call in flight, so the reaper never stops the sandbox under it. */
function holdSandbox(sandbox: Sandbox): () => void {
  sandbox.activeCalls++;
  sandbox.lastUsedAt = Date.now();
  let isReleased = false;
  return () => {
    if (isReleased) return;
    isReleased = true;
    sandbox.activeCalls--;
    sandbox.lastUsedAt = Date.now();
  };
}

/** Aborts a stream in the agent. A failure needs no handling: the agent drops an idle stream by itself. */
async function abortStream(sandbox: Sandbox, streamId: string): Promise<void> {
  await sandbox.link
    .call('archive.close', { streamId }, { timeoutMs: CALL_TIMEOUT_MS })
    .catch(() => undefined);
}

/**
 * Opens a tar of `path` (a directory, or one file) in the sandbox. Opening
 * first lets a caller report NOT_FOUND before it starts sending anything.
 */
export async function openExport(
  sandbox: Sandbox,
  path = '.',
  options: ArchiveStreamOptions = {},
): Promise<WorkspaceExport> {
  const release = holdSandbox(sandbox);
  let opened: { streamId: string; kind: 'directory' | 'file' };
  try {
    opened = await sandbox.link.call('archive.export.open', { path }, { timeoutMs: CALL_TIMEOUT_MS });
  } catch (error) {
    release();
    throw error;
  }
  const { streamId, kind } = opened;
  let isOpen = true;
  const close = async () => {
    if (!isOpen) return;
    isOpen = false;
    try {
      await abortStream(sandbox, streamId);
    } finally {
      release();
    }
  };
  async function* chunks(): AsyncGenerator<Buffer> {
    try {
      while (isOpen) {
        options.signal?.throwIfAborted();
        const maxBytes = chunkSize(options);
        const reply = await sandbox.link.call(
          'archive.read',
          { streamId, maxBytes },
          { timeoutMs: CALL_TIMEOUT_MS },
        );
        sandbox.lastUsedAt = Date.now();
        const chunk = Buffer.from(reply.data, 'base64');
        if (chunk.length > maxBytes) {
          throw new ToolError('AGENT_PROTOCOL_ERROR', `the agent sent a chunk of ${chunk.length} bytes`);
        }
        if (reply.eof) {
          // The agent forgets a stream once it has sent its end.
          isOpen = false;
          release();
        }
        if (chunk.length > 0) yield chunk;
      }
    } finally {
      await close();
    }
  }
  return { kind, close, [Symbol.asyncIterator]: chunks };
}

/** The tar of `path` in the sandbox, chunk by chunk; stopping the iteration aborts it in the agent. */
export async function* exportArchive(
  sandbox: Sandbox,
  path = '.',
  options: ArchiveStreamOptions = {},
): AsyncGenerator<Buffer> {
  yield* await openExport(sandbox, path, options);
}

/** Regroups a byte stream into chunks of exactly `size` bytes (the last one shorter). */
async function* rechunk(source: AsyncIterable<Buffer | Uint8Array>, size: number): AsyncGenerator<Buffer> {
  let parts: Buffer[] = [];
  let buffered = 0;
  for await (const piece of source) {
    let rest = Buffer.isBuffer(piece) ? piece : Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength);
    while (buffered + rest.length >= size) {
      const take = size - buffered;
      parts.push(rest.subarray(0, take));
      yield Buffer.concat(parts, size);
      parts = [];
      buffered = 0;
      rest = rest.subarray(take);
    }
    if (rest.length > 0) {
      parts.push(rest);
      buffered += rest.length;
    }
  }
  if (buffered > 0) yield Buffer.concat(parts, buffered);
}

/**
 * Uploads a tar archive into directory `path` of the sandbox (created if
 * missing). The agent extracts it aside, refuses anything that would leave the
 * workspace, and only then moves it into place. On any failure or abort the
 * agent's stream is closed and nothing of the archive is left in the workspace.
 */
export async function importArchive(
  sandbox: Sandbox,
  source: AsyncIterable<Buffer | Uint8Array>,
  path = '.',
  options: ImportOptions = {},
): Promise<ArchiveImported> {
  const maxBytes = options.maxBytes ?? DEFAULT_IMPORT_MAX_BYTES;
  const release = holdSandbox(sandbox);
  try {
    const { streamId } = await sandbox.link.call(
      'archive.import.open',
      { path },
      { timeoutMs: CALL_TIMEOUT_MS },
    );
    let isFinished = false;
    try {
      let total = 0;
      for await (const chunk of rechunk(source, chunkSize(options))) {
        options.signal?.throwIfAborted();
        total += chunk.length;
        if (total > maxBytes) {
          throw new ToolError('OUTPUT_TOO_LARGE', `the archive is larger than ${maxBytes} bytes`, {
            category: 'validation',
            details: { limitBytes: maxBytes },
          });
        }
        const data = chunk.toString('base64');
        await sandbox.link.call('archive.write', { streamId, data }, { timeoutMs: CALL_TIMEOUT_MS });
        sandbox.lastUsedAt = Date.now();
      }
      options.signal?.throwIfAborted();
      const imported = await sandbox.link.call(
        'archive.import.finish',
        { streamId },
        { timeoutMs: FINISH_TIMEOUT_MS },
      );
      isFinished = true;
      return imported;
    } finally {
      if (!isFinished) await abortStream(sandbox, streamId);
    }
  } finally {
    release();
  }
}
