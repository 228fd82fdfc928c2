import { MAX_SUMMARY_BYTES } from '#protocol/reply-budget';
import { type CommandResult, DEFAULT_MAX_OUTPUT_BYTES } from '#protocol/tools/commands';
import type { Command, StreamName } from '../../exec/command.ts';
import { utf8CharStart } from '../utf8.ts';

/** How much of each stream a summary shows when the call does not say. */
export const DEFAULT_PREVIEW_BYTES = 8 * 1024;

interface OutputOptions {
  max_output_bytes?: number | undefined;
  verbosity: 'minimal' | 'normal' | 'full';
  preview_bytes?: number | undefined;
}

/** The output of one stream since the last poll, at most `maxBytes` of it (the most recent). */
function takeNewOutput(command: Command, stream: StreamName, maxBytes: number) {
  const buffer = command.output[stream];
  const parts: Buffer[] = [];
  let offset = command.cursor[stream];
  let evicted = 0;
  // A read stops at the end of the frozen head when bytes after it were evicted;
  // the next read reports that gap and returns the tail, so keep reading to the end.
  while (offset < buffer.totalBytes) {
    const slice = buffer.read(offset, buffer.totalBytes - offset);
    if (slice.nextOffset <= offset) break;
    parts.push(slice.data);
    evicted += slice.evictedGapBytes;
    offset = slice.nextOffset;
  }
  command.cursor[stream] = offset;
  const data = Buffer.concat(parts);
  const omitted = Math.max(0, data.length - maxBytes);
  return { text: data.subarray(omitted).toString('utf8'), omitted, evicted };
}

function statusLine(command: Command, durationMs: number): string {
  switch (command.status) {
    case 'running':
      return `Command ${command.id} still running after ${durationMs} ms; poll with write_stdin {"command_id":"${command.id}","chars":""}`;
    case 'exited':
      return `Exited with code ${command.exitCode} after ${durationMs} ms`;
    case 'timeout':
      return `Timed out after ${durationMs} ms; process group killed`;
    case 'terminated':
      return `Terminated by ${command.signal} after ${durationMs} ms`;
    case 'killed':
      return `Killed by kill_command (SIGKILL) after ${durationMs} ms`;
    case 'failed':
      return `Failed to start: ${command.failure ?? 'unknown error'}`;
  }
}

/**
 * Most bytes one stream's preview may take: both previews, the status line and
 * the notes must fit in MAX_SUMMARY_BYTES, or the control plane refuses the
 * whole reply (verbosity 'full' with a large max_output_bytes used to do that).
 * The complete new output is in the structured result either way.
 */
const MAX_PREVIEW_BYTES = Math.floor((MAX_SUMMARY_BYTES - 4096) / 2);

export function preview(label: string, text: string, limit: number): string {
  if (text.length === 0 || limit === 0) return '';
  let shown = text.length > limit ? text.slice(text.length - limit) : text;
  const bytes = Buffer.from(shown);
  if (bytes.length > MAX_PREVIEW_BYTES) {
    shown = bytes.subarray(utf8CharStart(bytes, bytes.length - MAX_PREVIEW_BYTES)).toString('utf8');
  }
  return `\n--- ${label} ---\n${shown.length < text.length ? '…' : ''}${shown}`;
}

/** Collects a command's state and new output into the contract's result and a short text. */
export function describeCommand(command: Command, options: OutputOptions) {
  const maxBytes = options.max_output_bytes ?? DEFAULT_MAX_OUTPUT_BYTES;
  const stdout = takeNewOutput(command, 'stdout', maxBytes);
  const stderr = takeNewOutput(command, 'stderr', maxBytes);
  const durationMs = (command.endedAt ?? Date.now()) - command.startedAt;
  const result: CommandResult = {
    command_id: command.id,
    status: command.status,
    timed_out: command.status === 'timeout',
    exit_code: command.exitCode,
    signal: command.signal,
    duration_ms: durationMs,
    tty: command.isTty,
    stdout: stdout.text,
    stderr: stderr.text,
    total_bytes: { stdout: command.output.stdout.totalBytes, stderr: command.output.stderr.totalBytes },
    omitted_bytes: { stdout: stdout.omitted, stderr: stderr.omitted },
    evicted_gap_bytes: { stdout: stdout.evicted, stderr: stderr.evicted },
    output_refs: { stdout: `command:${command.id}:stdout`, stderr: `command:${command.id}:stderr` },
  };
  if (command.isRunning) {
    result.next_action = { tool: 'write_stdin', arguments: { command_id: command.id, chars: '' } };
  }
  if (command.failure !== undefined) result.error = command.failure;
  let summary = statusLine(command, durationMs);
  if (options.verbosity !== 'minimal') {
    const limit = options.verbosity === 'full' ? maxBytes : (options.preview_bytes ?? DEFAULT_PREVIEW_BYTES);
    summary += preview('stdout', stdout.text, limit) + preview('stderr', stderr.text, limit);
  }
  const omitted = stdout.omitted + stderr.omitted + stdout.evicted + stderr.evicted;
  if (omitted > 0) summary += `\n(${omitted} bytes not shown; read them with read_output)`;
  return { summary, result };
}
