import os from 'node:os';
import { parseArgs } from 'node:util';
import type { Logger } from 'pino';
import { loadPolicy } from '../policy/load.ts';
import { Duration } from '../policy/units.ts';
import { ToolError } from '../protocol/errors.ts';
import { DockerDriver } from '../runtime/docker/driver.ts';
import type { SandboxManager } from '../sandbox/manager.ts';
import { SandboxManager as Manager } from '../sandbox/manager.ts';
import type { Sandbox } from '../sandbox/sandbox.ts';
import { defaultStateDir } from '../sandbox/state-dir.ts';
import { UsageError } from './usage.ts';
import { hostWorkspace } from './workspace-dir.ts';

/** Exit codes of `sandboxd run` besides the command's own. */
export const EXIT_TIMEOUT = 124;
export const EXIT_SANDBOX_FAILURE = 125;

interface RunOptions {
  workspace: string;
  policy: string;
  timeoutMs: number | undefined;
  env: Record<string, string>;
  command: string[];
}

export function parseRunArgs(args: string[], hostEnv: NodeJS.ProcessEnv = process.env): RunOptions {
  const separator = args.indexOf('--');
  if (separator === -1 || separator === args.length - 1) {
    throw new UsageError('run needs a command after --, e.g. sandboxd run --workspace . -- npm test');
  }
  const { values, positionals } = parseArgs({
    args: args.slice(0, separator),
    allowPositionals: true,
    options: {
      workspace: { type: 'string', short: 'w' },
      policy: { type: 'string', short: 'p', default: 'default' },
      timeout: { type: 'string', short: 't' },
      env: { type: 'string', short: 'e', multiple: true, default: [] },
    },
  });
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${positionals[0]} before --`);
  if (values.workspace === undefined) throw new UsageError('run needs --workspace DIR');
  let timeoutMs: number | undefined;
  if (values.timeout !== undefined) {
    const parsed = Duration.safeParse(/^\d+$/.test(values.timeout) ? `${values.timeout}s` : values.timeout);
    if (!parsed.success) throw new UsageError(`--timeout: ${parsed.error.issues[0]?.message}`);
    timeoutMs = parsed.data;
  }
  const env: Record<string, string> = {};
  for (const entry of values.env) {
    const equals = entry.indexOf('=');
    const name = equals === -1 ? entry : entry.slice(0, equals);
    const value = equals === -1 ? hostEnv[name] : entry.slice(equals + 1);
    if (value === undefined) throw new UsageError(`--env ${name}: not set in this environment`);
    env[name] = value;
  }
  return {
    workspace: values.workspace,
    policy: values.policy,
    timeoutMs,
    env,
    command: args.slice(separator + 1),
  };
}

function exitCodeFor(result: { status: string; exit_code: number | null; signal: string | null }): number {
  switch (result.status) {
    case 'exited':
      return result.exit_code ?? EXIT_SANDBOX_FAILURE;
    case 'timeout':
      return EXIT_TIMEOUT;
    case 'terminated': {
      const number = os.constants.signals[result.signal as NodeJS.Signals];
      return number === undefined ? EXIT_SANDBOX_FAILURE : 128 + number;
    }
    default:
      return EXIT_SANDBOX_FAILURE;
  }
}

/** Streams a command's two output streams to ours until it has finished and both are drained. */
async function streamCommand(sandbox: Sandbox, commandId: string): Promise<number> {
  const offsets = { stdout: 0, stderr: 0 };
  const sinks = { stdout: process.stdout, stderr: process.stderr };
  for (;;) {
    const poll = await sandbox.callTool('write_stdin', {
      command_id: commandId,
      chars: '',
      yield_time_ms: 200,
      verbosity: 'minimal',
      max_output_bytes: 1,
    });
    const state = poll.result as { status: string; exit_code: number | null; signal: string | null };
    for (const stream of ['stdout', 'stderr'] as const) {
      for (;;) {
        const page = await sandbox.callTool('read_output', {
          output_ref: `command:${commandId}:${stream}`,
          offset: offsets[stream],
          limit: 256 * 1024,
        });
        const data = page.result as { data: string; next_offset: number; evicted_gap_bytes: number };
        if (data.evicted_gap_bytes > 0) {
          process.stderr.write(`\n[sandboxd: ${data.evicted_gap_bytes} bytes of ${stream} were evicted]\n`);
        }
        if (data.data.length > 0) sinks[stream].write(data.data);
        const advanced = data.next_offset !== offsets[stream];
        offsets[stream] = data.next_offset;
        if (!advanced) break;
      }
    }
    if (state.status !== 'running') return exitCodeFor(state);
  }
}

/** `sandboxd run`: one command in a fresh hardened sandbox; returns the exit code. */
export async function runCommand(args: string[], log: Logger): Promise<number> {
  const options = parseRunArgs(args);
  const { path: workspace, user } = await hostWorkspace(options.workspace);
  const policy = await loadPolicy(options.policy);
  const manager: SandboxManager = new Manager({
    driver: new DockerDriver(),
    stateDir: defaultStateDir(),
    log,
  });
  await manager.init();
  const abort = new AbortController();
  let interrupted: NodeJS.Signals | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    interrupted = signal;
    abort.abort(new Error(`interrupted by ${signal}`));
    // Removing the sandbox ends the command; the finally below then exits.
    manager.destroyAll().finally(() => process.exit(128 + (os.constants.signals[signal] ?? 15)));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let sandbox: Sandbox | undefined;
  try {
    sandbox = await manager.create({
      policy,
      workspace: { kind: 'bind', hostPath: workspace },
      user,
      signal: abort.signal,
    });
    const started = await sandbox.callTool('exec_command', {
      cmd: options.command,
      yield_time_ms: 0,
      verbosity: 'minimal',
      max_output_bytes: 1,
      ...(options.timeoutMs === undefined ? {} : { timeout_ms: options.timeoutMs }),
      ...(Object.keys(options.env).length === 0 ? {} : { env: options.env }),
    });
    const commandId = (started.result as { command_id: string }).command_id;
    return await streamCommand(sandbox, commandId);
  } catch (error) {
    if (interrupted !== undefined) return 128 + (os.constants.signals[interrupted] ?? 15);
    const toolError = ToolError.from(error);
    process.stderr.write(`sandboxd run: ${toolError.code}: ${toolError.message}\n`);
    return EXIT_SANDBOX_FAILURE;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (interrupted === undefined) await manager.destroyAll();
  }
}
