import { realpath } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Logger } from 'pino';
import { egressLookupFromEnv } from '../egress/resolve.ts';
import { type LoadedPolicy, loadPolicy } from '../policy/load.ts';
import { Duration } from '../policy/units.ts';
import { ToolError } from '../protocol/errors.ts';
import { DockerDriver } from '../runtime/docker/driver.ts';
import { importArchive, openExport } from '../sandbox/archive.ts';
import { SandboxManager } from '../sandbox/manager.ts';
import { claimProcessSocket } from '../sandbox/owner-socket.ts';
import type { Sandbox } from '../sandbox/sandbox.ts';
import { defaultStateDir, prepareStateDir } from '../sandbox/state-dir.ts';
import { checkMemberName, packHostDirectory, unpackIntoDirectory } from './host-archive.ts';
import { UsageError } from './usage.ts';
import { hostWorkspace } from './workspace-dir.ts';

/** Exit codes of `sandboxd run` besides the command's own. */
export const EXIT_TIMEOUT = 124;
export const EXIT_SANDBOX_FAILURE = 125;

/**
 * How big a checkout `--copy` takes. The host packs its own folder, so this only
 * stops a runaway (a checkout with a huge build cache) from filling the volume.
 */
const COPY_MAX_BYTES = 16 * 1024 ** 3;

interface RunOptions {
  workspace: string;
  policy: string;
  timeoutMs: number | undefined;
  env: Record<string, string>;
  /** Run over a fresh volume holding a copy of the workspace, not over the folder itself. */
  isCopy: boolean;
  /** Workspace-relative paths copied out when the command has finished. */
  artifacts: string[];
  artifactsDir: string | undefined;
  command: string[];
}

function checkArtifactPath(input: string): string {
  let normal: string | undefined;
  try {
    normal = checkMemberName(input);
  } catch {
    throw new UsageError(`--artifacts ${input}: give a path relative to the workspace, inside it`);
  }
  if (normal === undefined) throw new UsageError('--artifacts .: name the files or directories to copy out');
  return normal;
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
      copy: { type: 'boolean', default: false },
      artifacts: { type: 'string', short: 'a', multiple: true, default: [] },
      'artifacts-dir': { type: 'string' },
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
  if (values['artifacts-dir'] !== undefined && values.artifacts.length === 0) {
    throw new UsageError('--artifacts-dir needs at least one --artifacts PATH');
  }
  return {
    workspace: values.workspace,
    policy: values.policy,
    timeoutMs,
    env,
    isCopy: values.copy,
    artifacts: values.artifacts.map(checkArtifactPath),
    artifactsDir: values['artifacts-dir'],
    command: args.slice(separator + 1),
  };
}

/**
 * Where artifacts go: --artifacts-dir, or the current directory. Without --copy
 * the workspace is the live host folder, which the sandbox may still write to,
 * and an artifact would be copied over itself: the destination must lie outside it.
 */
async function artifactsDestination(options: RunOptions, workspace: string): Promise<string | undefined> {
  if (options.artifacts.length === 0) return undefined;
  const given = options.artifactsDir ?? '.';
  const destination = await realpath(given).catch(() => {
    throw new UsageError(`--artifacts-dir ${given}: no such directory`);
  });
  const relative = path.relative(workspace, destination);
  const isInside = relative === '' || (!relative.startsWith('..') && !path.isAbsolute(relative));
  if (!options.isCopy && isInside) {
    throw new UsageError(
      '--artifacts without --copy: the command already works in the folder itself; ' +
        'give --artifacts-dir outside the workspace, or use --copy',
    );
  }
  return destination;
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
    const state = poll.result as {
      status: string;
      exit_code: number | null;
      signal: string | null;
      error?: string;
    };
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
    if (state.status === 'failed') warn(`the command could not start: ${state.error ?? 'no reason given'}`);
    if (state.status !== 'running') return exitCodeFor(state);
  }
}

function warn(message: string): void {
  process.stderr.write(`sandboxd run: ${message}\n`);
}

/**
 * Copies each artifact out through the agent into `destination`, keeping its
 * workspace-relative path. A missing artifact is a warning (a failing test run
 * may not have produced its report); a refused or failed copy is an error.
 * Returns whether every artifact that exists was copied.
 */
async function copyArtifacts(sandbox: Sandbox, artifacts: string[], destination: string): Promise<boolean> {
  let isComplete = true;
  for (const artifact of artifacts) {
    try {
      const archive = await openExport(sandbox, artifact);
      const mapName =
        archive.kind === 'file' ? () => artifact : (name: string) => path.posix.join(artifact, name);
      const copied = await unpackIntoDirectory(archive, destination, { mapName, warn });
      warn(`artifact ${artifact}: ${copied.files} file(s), ${copied.bytes} bytes copied out`);
    } catch (error) {
      const toolError = ToolError.from(error);
      if (toolError.code === 'NOT_FOUND') {
        warn(`artifact ${artifact}: not found in the sandbox`);
        continue;
      }
      warn(`artifact ${artifact}: ${toolError.code}: ${toolError.message}`);
      isComplete = false;
    }
  }
  return isComplete;
}

async function execute(sandbox: Sandbox, options: RunOptions): Promise<number> {
  const started = await sandbox.callTool('exec_command', {
    cmd: options.command,
    yield_time_ms: 0,
    verbosity: 'minimal',
    max_output_bytes: 1,
    ...(options.timeoutMs === undefined ? {} : { timeout_ms: options.timeoutMs }),
    ...(Object.keys(options.env).length === 0 ? {} : { env: options.env }),
  });
  const commandId = (started.result as { command_id: string }).command_id;
  return streamCommand(sandbox, commandId);
}

function signalExitCode(signal: NodeJS.Signals): number {
  return 128 + (os.constants.signals[signal] ?? 15);
}

/** `sandboxd run`: one command in a fresh hardened sandbox; returns the exit code. */
export async function runCommand(args: string[], log: Logger): Promise<number> {
  const options = parseRunArgs(args);
  const { path: workspace, user } = await hostWorkspace(options.workspace);
  const artifactsDir = await artifactsDestination(options, workspace);
  const policy = await loadPolicy(options.policy);
  const stateDir = defaultStateDir();
  await prepareStateDir(stateDir);
  const owner = await claimProcessSocket(stateDir, 'run');
  try {
    const manager = new SandboxManager({
      driver: new DockerDriver(),
      stateDir,
      log,
      controlSocket: owner.path,
      egressLookup: egressLookupFromEnv(process.env, log),
    });
    return await runHolding(manager, options, { workspace, user, artifactsDir, policy });
  } finally {
    await owner.close();
  }
}

async function runHolding(
  manager: SandboxManager,
  options: RunOptions,
  {
    workspace,
    user,
    artifactsDir,
    policy,
  }: {
    workspace: string;
    user: { uid: number; gid: number };
    artifactsDir: string | undefined;
    policy: LoadedPolicy;
  },
): Promise<number> {
  const abort = new AbortController();
  let interrupted: NodeJS.Signals | undefined;
  let creating: Promise<unknown> = Promise.resolve();
  let cleanup: Promise<void> | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    // A second Ctrl-C (or a CI runner's repeated TERM) must not cut the cleanup short.
    if (interrupted !== undefined) return;
    interrupted = signal;
    abort.abort(new Error(`interrupted by ${signal}`));
    // Removing the sandbox ends the command. A creation in flight settles first
    // (an aborted one removes its own container), so nothing it made escapes.
    cleanup = creating.then(
      () => manager.destroyAll(),
      () => manager.destroyAll(),
    );
    void cleanup.finally(() => process.exit(signalExitCode(signal)));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const created = manager.create({
      policy,
      // --copy: a fresh volume (owned, so destroyAll removes it), run as the image's user.
      ...(options.isCopy ? {} : { workspace: { kind: 'bind', hostPath: workspace }, user }),
      signal: abort.signal,
    });
    creating = created;
    const sandbox = await created;
    if (options.isCopy) {
      // The host packs its own checkout; the PR's code only ever sees the copy.
      await importArchive(sandbox, packHostDirectory(workspace, abort.signal), '.', {
        maxBytes: COPY_MAX_BYTES,
        signal: abort.signal,
      });
    }
    const exitCode = await execute(sandbox, options);
    if (artifactsDir === undefined || interrupted !== undefined) return exitCode;
    const isComplete = await copyArtifacts(sandbox, options.artifacts, artifactsDir);
    return isComplete || exitCode !== 0 ? exitCode : EXIT_SANDBOX_FAILURE;
  } catch (error) {
    if (interrupted !== undefined) return signalExitCode(interrupted);
    const toolError = ToolError.from(error);
    process.stderr.write(`sandboxd run: ${toolError.code}: ${toolError.message}\n`);
    return EXIT_SANDBOX_FAILURE;
  } finally {
    // Whoever removes the sandbox, the CLI may exit only once it is gone.
    await (cleanup ?? manager.destroyAll());
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
