import { z } from 'zod';
import { replyBudget, textBytes } from '../reply-budget.ts';
import {
  defineAgentTool,
  nonNegativeInt,
  PathInput,
  positiveInt,
  REPLY_TIMEOUT_MARGIN_MS,
} from '../tool-spec.ts';

/**
 * Where a command is: `killed` when kill_command's KILL ended it, `terminated`
 * when any other signal did (or a KILL it did not send, such as the OOM killer's).
 */
export const CommandStatus = z.enum(['running', 'exited', 'timeout', 'terminated', 'killed', 'failed']);
export type CommandStatus = z.infer<typeof CommandStatus>;

const Verbosity = z.enum(['minimal', 'normal', 'full']);
const EnvName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'not a valid environment variable name');
const EnvValue = z.string().max(32 * 1024);
const MAX_COMMAND_BYTES = 256 * 1024;

/** Output shaping every command-returning tool accepts. */
const outputOptions = {
  max_output_bytes: positiveInt(4 * 1024 * 1024).optional(),
  verbosity: Verbosity.default('normal'),
  preview_bytes: nonNegativeInt(1024 * 1024).optional(),
};

/** New output a command-returning call gives back per stream when max_output_bytes is not set. */
export const DEFAULT_MAX_OUTPUT_BYTES = 64 * 1024;

/** A command-returning call's reply: at most max_output_bytes of new output from each of the two streams. */
function commandReply(input: { max_output_bytes?: number | undefined }) {
  return replyBudget(2 * textBytes(input.max_output_bytes ?? DEFAULT_MAX_OUTPUT_BYTES));
}

const StreamCounters = z.object({ stdout: nonNegativeInt(), stderr: nonNegativeInt() });

/** The result of exec_command, write_stdin and kill_command: where the command is now and its new output. */
export const CommandResult = z.object({
  command_id: z.string(),
  status: CommandStatus,
  /** Whether the command ran into its timeout_ms (status "timeout"), from the deadline on. */
  timed_out: z.boolean(),
  exit_code: z.number().int().nullable(),
  signal: z.string().nullable(),
  duration_ms: nonNegativeInt(),
  tty: z.boolean(),
  stdout: z.string(),
  stderr: z.string(),
  /** Bytes of each stream produced so far. */
  total_bytes: StreamCounters,
  /** New bytes this call did not return because of max_output_bytes (read them with read_output). */
  omitted_bytes: StreamCounters,
  /** New bytes that were evicted from the head+tail buffer before anyone read them. */
  evicted_gap_bytes: StreamCounters,
  output_refs: z.object({ stdout: z.string(), stderr: z.string() }),
  next_action: z
    .object({
      tool: z.literal('write_stdin'),
      arguments: z.object({ command_id: z.string(), chars: z.literal('') }),
    })
    .optional(),
  error: z.string().optional(),
});
export type CommandResult = z.infer<typeof CommandResult>;

export const ExecCommandTool = defineAgentTool({
  name: 'exec_command',
  title: 'Run a command',
  description:
    'Runs a shell command (bash -c) in the workspace inside the sandbox container. Waits up to yield_time_ms ' +
    '(default 10000); a command still running then returns status "running" with a command_id to poll with ' +
    'write_stdin (empty chars), feed input to, or stop with kill_command. tty: true gives a pseudo-terminal.\n' +
    'Example: {"cmd":"npm test","workdir":"packages/app","yield_time_ms":30000}; if it answers "running", ' +
    'poll its command_id with write_stdin.',
  isReadOnly: false,
  input: z
    .object({
      cmd: z.union([
        z.string().min(1).max(MAX_COMMAND_BYTES),
        z.array(z.string().max(MAX_COMMAND_BYTES)).min(1).max(4096),
      ]),
      workdir: PathInput.optional(),
      cwd: PathInput.optional(),
      timeout_ms: positiveInt(24 * 60 * 60 * 1000).optional(),
      yield_time_ms: nonNegativeInt(300_000).default(10_000),
      stdin: z
        .string()
        .max(8 * 1024 * 1024)
        .optional(),
      tty: z.boolean().default(false),
      env: z.record(EnvName, EnvValue).optional(),
      ...outputOptions,
    })
    .strict(),
  output: CommandResult,
  reply: commandReply,
  replyTimeoutMs: (input) => input.yield_time_ms + REPLY_TIMEOUT_MARGIN_MS,
});

export const WriteStdinTool = defineAgentTool({
  name: 'write_stdin',
  title: 'Write to or poll a command',
  description:
    "Writes chars to a running command's stdin (empty chars just polls), waits up to yield_time_ms for it " +
    'to finish, and returns its status and the output produced since the last call.\n' +
    'Example (poll): {"command_id":"c1","chars":""}',
  isReadOnly: false,
  input: z
    .object({
      command_id: z.string().min(1).max(64),
      chars: z
        .string()
        .max(1024 * 1024)
        .default(''),
      // 5 s, half exec_command's first wait: a poll answers sooner. (The host once assumed 10 s.)
      yield_time_ms: nonNegativeInt(300_000).default(5_000),
      ...outputOptions,
    })
    .strict(),
  output: CommandResult,
  reply: commandReply,
  replyTimeoutMs: (input) => input.yield_time_ms + REPLY_TIMEOUT_MARGIN_MS,
});

/**
 * What a kill_command did, the contract's statuses: `killed` (KILL ended it, at
 * once or by the escalation), `terminated` (the signal asked for ended it),
 * `exited` (it had already ended), `terminating` (still running), `not_found`.
 */
export const KillStatus = z.enum(['terminated', 'killed', 'exited', 'terminating', 'not_found']);
export type KillStatus = z.infer<typeof KillStatus>;

export const KillCommandTool = defineAgentTool({
  name: 'kill_command',
  title: 'Stop a command',
  description:
    'Sends a signal (default TERM) to the whole process group of a command; a signal other than KILL ' +
    'escalates to KILL if the command is still running after wait_ms (default 2000).\n' +
    'Example: {"command_id":"c1","signal":"KILL"}',
  isReadOnly: false,
  input: z
    .object({
      command_id: z.string().min(1).max(64),
      signal: z
        .enum(['TERM', 'KILL', 'INT', 'HUP', 'QUIT', 'SIGTERM', 'SIGKILL', 'SIGINT', 'SIGHUP', 'SIGQUIT'])
        .default('TERM'),
      wait_ms: nonNegativeInt(60_000).default(2000),
      kill_wait_ms: nonNegativeInt(60_000).default(2000),
      ...outputOptions,
    })
    .strict(),
  // `status` answers what the kill did; `command_status` is the command's own, as write_stdin reports it.
  output: CommandResult.extend({
    status: KillStatus.exclude(['not_found']),
    command_status: CommandStatus,
  }).or(z.object({ command_id: z.string(), status: z.literal('not_found') })),
  reply: commandReply,
  replyTimeoutMs: (input) => input.wait_ms + input.kill_wait_ms + REPLY_TIMEOUT_MARGIN_MS,
});

export const OutputRef = z.string().regex(/^command:[A-Za-z0-9_-]{1,64}(:(stdout|stderr))?$/, {
  message: 'output_ref looks like command:<id>:stdout',
});

export const ReadOutputTool = defineAgentTool({
  name: 'read_output',
  title: 'Read command output',
  description:
    "Pages a command's stdout or stderr by absolute byte offset (output_ref command:<id>:stdout). The buffer " +
    'keeps the first eighth and a rolling tail; evicted_gap_bytes says how much between them is gone.\n' +
    'Example: {"output_ref":"command:abc:stdout","offset":0}',
  isReadOnly: true,
  input: z
    .object({
      output_ref: OutputRef,
      stream: z.enum(['stdout', 'stderr']).optional(),
      offset: nonNegativeInt().default(0),
      limit: positiveInt(4 * 1024 * 1024).default(64 * 1024),
    })
    .strict(),
  output: z.object({
    command_id: z.string(),
    stream: z.enum(['stdout', 'stderr']),
    data: z.string(),
    offset: nonNegativeInt(),
    next_offset: nonNegativeInt(),
    total_bytes: nonNegativeInt(),
    evicted_gap_bytes: nonNegativeInt(),
    status: CommandStatus,
    /** True when the command has finished and next_offset is the end of the stream. */
    is_complete: z.boolean(),
  }),
  reply: (input) => replyBudget(textBytes(input.limit)),
});
