import type { Context } from 'hono';
import { type SSEStreamingApi, streamSSE } from 'hono/streaming';
import { z } from 'zod';
import type { AuditEntry } from '../audit/entry.ts';
import type { AuditRecorder } from '../audit/recorder.ts';
import type { SandboxManager } from '../sandbox/manager.ts';

/** How often a followed command's output is read while someone watches it. */
const OUTPUT_POLL_MS = 150;
const OUTPUT_CHUNK_BYTES = 64 * 1024;
const KEEPALIVE_MS = 15_000;
const REPLAY_PAGE = 500;

export const CommandId = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'a command id');

/**
 * Where a stream stands, and so the SSE id of each event: the last audit row
 * sent, and the next byte of the followed command's stdout and stderr
 * (`412.1024.0`). A client that reconnects with it in Last-Event-ID misses nothing
 * and sees nothing twice.
 */
export interface StreamPosition {
  auditId: number;
  stdout: number;
  stderr: number;
}

export function parsePosition(text: string | undefined): StreamPosition {
  const match = /^(\d{1,15})(?:\.(\d{1,15})\.(\d{1,15}))?$/.exec(text?.trim() ?? '');
  if (match === null) return { auditId: 0, stdout: 0, stderr: 0 };
  return { auditId: Number(match[1]), stdout: Number(match[2] ?? 0), stderr: Number(match[3] ?? 0) };
}

const positionId = (p: StreamPosition) => `${p.auditId}.${p.stdout}.${p.stderr}`;

/** What a read_output reply carries that the stream needs (it is checked by the agent's schema). */
interface OutputPage {
  data: string;
  next_offset: number;
  is_complete: boolean;
  status: string;
}

export interface EventStreamOptions {
  manager: SandboxManager;
  recorder: AuditRecorder;
  sandboxId: string;
  /** A command whose output is streamed as `output` events. */
  commandId: string | undefined;
  lastEventId: string | undefined;
}

/**
 * A sandbox's events as Server-Sent Events: its audit rows as they are written
 * (event name = row kind: lifecycle, command, tool_call, egress, operator), and,
 * for a named command, its output in `output` events then one `output-end`.
 * Rows after Last-Event-ID are replayed from the database first.
 */
export function sandboxEventStream(c: Context, options: EventStreamOptions): Response {
  const { recorder, sandboxId, commandId } = options;
  const position = parsePosition(options.lastEventId);
  return streamSSE(c, async (stream) => {
    let chain = Promise.resolve();
    const send = (event: string, data: unknown) => {
      chain = chain.then(() =>
        stream
          .writeSSE({ event, id: positionId(position), data: JSON.stringify(data) })
          .catch(() => undefined),
      );
      return chain;
    };
    const sendEntry = (entry: AuditEntry) => {
      if (entry.id <= position.auditId) return;
      position.auditId = entry.id;
      void send(entry.kind, entry);
    };
    // Live rows wait until the replay below has caught up, so the order holds.
    const held: AuditEntry[] = [];
    let isReplaying = true;
    const onEntry = (entry: AuditEntry) => {
      if (entry.sandbox !== sandboxId) return;
      if (isReplaying) held.push(entry);
      else sendEntry(entry);
    };
    recorder.log.on('entry', onEntry);
    try {
      for (;;) {
        const page = recorder.log.query({
          sandbox: sandboxId,
          afterId: position.auditId,
          limit: REPLAY_PAGE,
          order: 'asc',
        });
        for (const entry of page) sendEntry(entry);
        if (page.length < REPLAY_PAGE) break;
      }
      isReplaying = false;
      for (const entry of held.splice(0)) sendEntry(entry);
      await send('ready', { position: positionId(position) });
      const keepalive = setInterval(() => {
        chain = chain.then(() =>
          stream
            .write(': keepalive\n\n')
            .then(() => undefined)
            .catch(() => undefined),
        );
      }, KEEPALIVE_MS);
      try {
        if (commandId !== undefined) await followOutput(stream, options, position, send);
        else await new Promise<void>((resolve) => stream.onAbort(resolve));
      } finally {
        clearInterval(keepalive);
      }
    } finally {
      recorder.log.off('entry', onEntry);
      await chain;
    }
  });
}

/**
 * Reads the command's new output while the client listens, until the command is
 * done. Each read is a call like any other: a sandbox being watched is in use
 * and is not stopped for idleness meanwhile.
 */
async function followOutput(
  stream: SSEStreamingApi,
  options: EventStreamOptions,
  position: StreamPosition,
  send: (event: string, data: unknown) => Promise<void>,
): Promise<void> {
  const { manager, recorder, sandboxId } = options;
  const commandId = options.commandId as string;
  let isAborted = false;
  stream.onAbort(() => {
    isAborted = true;
  });
  while (!isAborted) {
    const sandbox = manager.find(sandboxId);
    if (sandbox === undefined) {
      await send('output-end', { commandId, status: 'removed' });
      return;
    }
    let isComplete = true;
    let status = 'unknown';
    // Only a running sandbox is read: watching never starts a stopped one.
    if (sandbox.state === 'ready' || sandbox.state === 'idle') {
      try {
        for (const name of ['stdout', 'stderr'] as const) {
          const reply = await sandbox.callTool('read_output', {
            output_ref: `command:${commandId}:${name}`,
            offset: position[name],
            limit: OUTPUT_CHUNK_BYTES,
          });
          const page = reply.result as unknown as OutputPage;
          status = page.status;
          if (page.data.length > 0) {
            position[name] = page.next_offset;
            await send('output', { commandId, stream: name, data: page.data });
          } else {
            position[name] = Math.max(position[name], page.next_offset);
          }
          isComplete &&= page.is_complete;
        }
      } catch (error) {
        await send('output-end', { commandId, status: 'unavailable', message: (error as Error).message });
        return;
      }
      if (isComplete) {
        recorder.observeCommand(sandboxId, 'read_output', {}, { command_id: commandId, status });
        await send('output-end', { commandId, status });
        return;
      }
    }
    await new Promise((resolve) => setTimeout(resolve, OUTPUT_POLL_MS));
  }
}
