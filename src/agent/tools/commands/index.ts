import { existsSync, type Stats, statSync } from 'node:fs';
import { ToolError } from '../../../protocol/errors.ts';
import { MAX_SUMMARY_BYTES } from '../../../protocol/tool-spec.ts';
import {
  type CommandResult,
  DEFAULT_MAX_OUTPUT_BYTES,
  ExecCommandTool,
  KillCommandTool,
  type KillStatus,
  ReadOutputTool,
  WriteStdinTool,
} from '../../../protocol/tools/commands.ts';
import { mapFsError, resolveExisting } from '../../paths.ts';
import type { ToolHandler } from '../context.ts';
import { utf8CharStart } from '../utf8.ts';
import type { Command, StreamName } from './command.ts';
import { commandEnv } from './env.ts';
import { commandArgv, SCRIPT_PATH, SHELL_PATH } from './launch.ts';
import type { CommandTable } from './table.ts';

const DEFAULT_PREVIEW_BYTES = 8 * 1024;
const DEFAULT_POLL_YIELD_MS = 5000;

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

function preview(label: string, text: string, limit: number): string {
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

const signalNames = {
  TERM: 'SIGTERM',
  KILL: 'SIGKILL',
  INT: 'SIGINT',
  HUP: 'SIGHUP',
  QUIT: 'SIGQUIT',
} as const;

/** Signals a running command for kill_command, escalating to KILL after wait_ms; says how it went. */
async function stopRunning(
  command: Command,
  signal: NodeJS.Signals,
  waits: { wait_ms: number; kill_wait_ms: number },
): Promise<Exclude<KillStatus, 'not_found' | 'exited'>> {
  command.kill(signal);
  await command.waitUpTo(waits.wait_ms);
  if (!command.isRunning) return signal === 'SIGKILL' ? 'killed' : 'terminated';
  command.kill('SIGKILL');
  await command.waitUpTo(waits.kill_wait_ms);
  return command.isRunning ? 'terminating' : 'killed';
}

/** The four command tools, bound to the workspace's command table. */
export function createCommandTools(table: CommandTable, home: string) {
  const execCommand: ToolHandler<typeof ExecCommandTool> = async (context, input) => {
    const workdirInput = input.workdir ?? input.cwd ?? '.';
    const workdir = await resolveExisting(context.workspaceRoot, workdirInput);
    // Synchronous, as in paths.ts: a round trip to libuv's thread pool costs more than the lookup.
    let info: Stats;
    try {
      info = statSync(workdir.absolute);
    } catch (error) {
      throw mapFsError(error, workdirInput);
    }
    if (!info.isDirectory())
      throw new ToolError('NOT_A_DIRECTORY', `workdir is not a directory: ${workdirInput}`);
    if (input.tty && !existsSync(SCRIPT_PATH)) {
      throw new ToolError('TTY_UNSUPPORTED', 'this image has no `script` to allocate a pseudo-terminal');
    }
    const limits = context.limits;
    const timeoutMs = Math.min(
      input.timeout_ms ?? limits.defaultCommandTimeoutMs,
      limits.maxCommandTimeoutMs,
    );
    const env: Record<string, string> = {
      ...commandEnv(input.env, { home, isTty: input.tty }),
      // script(1) runs the command with $SHELL -c.
      ...(input.tty ? { SHELL: SHELL_PATH } : {}),
    };
    await table.launcherSettled();
    const command = table.start({
      argv: commandArgv(input.cmd, { isTty: input.tty }),
      cwd: workdir.absolute,
      env,
      timeoutMs,
      isTty: input.tty,
      stdin: input.stdin,
    });
    // Even with yield_time_ms 0, a command that could not start is reported failed, not running.
    await command.started;
    await command.waitUpTo(input.yield_time_ms);
    return describeCommand(command, input);
  };

  const writeStdin: ToolHandler<typeof WriteStdinTool> = async (_context, input) => {
    const command = table.get(input.command_id);
    if (input.chars.length > 0 && !command.writeStdin(input.chars)) {
      throw new ToolError('COMMAND_CLOSED', `command ${command.id} is no longer accepting input`, {
        details: { command_id: command.id, status: command.status },
      });
    }
    await command.waitUpTo(input.yield_time_ms ?? DEFAULT_POLL_YIELD_MS);
    return describeCommand(command, input);
  };

  const killCommand: ToolHandler<typeof KillCommandTool> = async (_context, input) => {
    let command: Command;
    try {
      command = table.get(input.command_id);
    } catch {
      return {
        summary: `No command ${input.command_id} in this workspace`,
        result: { command_id: input.command_id, status: 'not_found' as const },
      };
    }
    const signal = signalNames[input.signal.replace(/^SIG/, '') as keyof typeof signalNames];
    let killStatus: Exclude<KillStatus, 'not_found'>;
    if (command.isRunning) {
      killStatus = await stopRunning(command, signal, input);
    } else {
      killStatus = 'exited';
      // The leader is gone, but what it left in its process group (`server &`, a
      // fork bomb) still answers to the group, and nothing else could stop it: a
      // bomb that holds every pid leaves no room to spawn even `kill`. The pid
      // cannot be reused while that group lives; if it is gone and a newer
      // command now leads a group with the same number, leave that one alone.
      if (!table.isLedByAnotherRunningCommand(command)) command.kill(signal);
    }
    const described = describeCommand(command, input);
    return {
      summary: `kill_command: ${killStatus}. ${described.summary}`,
      result: { ...described.result, status: killStatus, command_status: described.result.status },
    };
  };

  const readOutput: ToolHandler<typeof ReadOutputTool> = async (_context, input) => {
    const [, id, refStream] = input.output_ref.split(':') as [string, string, StreamName | undefined];
    const stream = input.stream ?? refStream ?? 'stdout';
    const command = table.get(id);
    const buffer = command.output[stream];
    const slice = buffer.read(input.offset, input.limit);
    const isComplete = !command.isRunning && slice.nextOffset === buffer.totalBytes;
    const gap = slice.evictedGapBytes > 0 ? ` (${slice.evictedGapBytes} bytes before it were evicted)` : '';
    const data = slice.data.toString('utf8');
    const header = `${stream} of ${id}: bytes ${slice.offset}-${slice.nextOffset} of ${buffer.totalBytes}${gap}${isComplete ? ', complete' : ''}`;
    return {
      summary: `${header}${preview(stream, data, DEFAULT_PREVIEW_BYTES)}`,
      result: {
        command_id: id,
        stream,
        data,
        offset: slice.offset,
        next_offset: slice.nextOffset,
        total_bytes: buffer.totalBytes,
        evicted_gap_bytes: slice.evictedGapBytes,
        status: command.status,
        is_complete: isComplete,
      },
    };
  };

  return {
    exec_command: { spec: ExecCommandTool, handler: execCommand },
    write_stdin: { spec: WriteStdinTool, handler: writeStdin },
    kill_command: { spec: KillCommandTool, handler: killCommand },
    read_output: { spec: ReadOutputTool, handler: readOutput },
  };
}
