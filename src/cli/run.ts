import { realpath } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from 'pino';
import { egressLookupFromEnv } from '../egress/resolve.ts';
import { type LoadedPolicy, loadPolicy } from '../policy/load.ts';
import { ToolError } from '../protocol/errors.ts';
import {
  type CommandResult,
  ExecCommandTool,
  ReadOutputTool,
  WriteStdinTool,
} from '../protocol/tools/commands.ts';
import { DockerDriver } from '../runtime/docker/driver.ts';
import { importArchive, openExport } from '../sandbox/archive.ts';
import { SandboxManager } from '../sandbox/manager.ts';
import { claimProcessSocket } from '../sandbox/owner-socket.ts';
import { callAgentTool, type Sandbox } from '../sandbox/sandbox.ts';
import { defaultStateDir, prepareStateDir } from '../sandbox/state-dir.ts';
import { uidRangeFrom } from '../sandbox/uids.ts';
import { CiOutputEscaper, escapeDiagnostic } from './ci-output.ts';
import { packHostDirectory, unpackIntoDirectory } from './host-archive.ts';
import { COPY_MAX_BYTES, parseRunArgs, type RunOptions } from './run-args.ts';
import { UsageError } from './usage.ts';
import { hostWorkspace } from './workspace-dir.ts';

/** Exit codes of `sandboxd run` besides the command's own. */
export const EXIT_TIMEOUT = 124;
export const EXIT_SANDBOX_FAILURE = 125;

/**
 * Where artifacts go: --artifacts-dir, or the current directory. With --in-place
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
  if (options.isInPlace && isInside) {
    throw new UsageError(
      '--artifacts with --in-place: the command already works in the folder itself; ' +
        'give --artifacts-dir outside the workspace, or leave out --in-place',
    );
  }
  return destination;
}

type CommandEnd = Pick<CommandResult, 'status' | 'exit_code' | 'signal'>;

/** The exit code `sandboxd run` passes on for a command that has ended: its own, or what a shell would give. */
export function exitCodeFor(result: CommandEnd): number {
  switch (result.status) {
    case 'exited':
      return result.exit_code ?? EXIT_SANDBOX_FAILURE;
    case 'timeout':
      return EXIT_TIMEOUT;
    case 'killed':
      return signalExitCode('SIGKILL');
    case 'terminated': {
      const number = os.constants.signals[result.signal as NodeJS.Signals];
      return number === undefined ? EXIT_SANDBOX_FAILURE : 128 + number;
    }
    case 'running':
    case 'failed':
      return EXIT_SANDBOX_FAILURE;
  }
}

/** Where one stream of the command goes: through the CI escaper unless --raw-output. */
function outputSink(target: NodeJS.WritableStream, isRawOutput: boolean) {
  const escaper = isRawOutput ? undefined : new CiOutputEscaper();
  return {
    write: (text: string) => target.write(escaper === undefined ? text : escaper.write(text)),
    end: () => {
      const rest = escaper?.end() ?? '';
      if (rest.length > 0) target.write(rest);
    },
  };
}

/** Streams a command's two output streams to ours until it has finished and both are drained. */
async function streamCommand(
  sandbox: Pick<Sandbox, 'callTool'>,
  commandId: string,
  signal: AbortSignal,
  isRawOutput: boolean,
): Promise<number> {
  const offsets = { stdout: 0, stderr: 0 };
  const sinks = {
    stdout: outputSink(process.stdout, isRawOutput),
    stderr: outputSink(process.stderr, isRawOutput),
  };
  for (;;) {
    signal.throwIfAborted();
    const poll = await callAgentTool(sandbox, WriteStdinTool, {
      command_id: commandId,
      chars: '',
      yield_time_ms: 200,
      verbosity: 'minimal',
      max_output_bytes: 1,
    });
    const state = poll.result;
    for (const stream of ['stdout', 'stderr'] as const) {
      for (;;) {
        const page = await callAgentTool(sandbox, ReadOutputTool, {
          output_ref: `command:${commandId}:${stream}`,
          offset: offsets[stream],
          limit: 256 * 1024,
        });
        const data = page.result;
        if (data.evicted_gap_bytes > 0) {
          process.stderr.write(`\n[sandboxd: ${data.evicted_gap_bytes} bytes of ${stream} were evicted]\n`);
        }
        if (data.data.length > 0) sinks[stream].write(data.data);
        if (data.data.length === 0 && state.status !== 'running') sinks[stream].end();
        const advanced = data.next_offset !== offsets[stream];
        offsets[stream] = data.next_offset;
        if (!advanced) break;
      }
    }
    if (state.status === 'failed') warn(`the command could not start: ${state.error ?? 'no reason given'}`);
    if (state.status !== 'running') return exitCodeFor(state);
  }
}

/** A line of ours on stderr; what it quotes (file names, an agent's message) comes from the sandbox. */
function warn(message: string): void {
  process.stderr.write(`sandboxd run: ${escapeDiagnostic(message)}\n`);
}

/**
 * Copies each artifact out through the agent into `destination`, keeping its
 * workspace-relative path. A missing artifact is a warning (a failing test run
 * may not have produced its report); a refused or failed copy is an error.
 * Returns whether every artifact that exists was copied.
 */
async function copyArtifacts(
  sandbox: Sandbox,
  options: RunOptions,
  destination: string,
  signal: AbortSignal,
): Promise<boolean> {
  let isComplete = true;
  const total = { files: 0, bytes: 0 };
  for (const artifact of options.artifacts) {
    try {
      const archive = await openExport(sandbox, artifact, { signal });
      const mapName =
        archive.kind === 'file' ? () => artifact : (name: string) => path.posix.join(artifact, name);
      // One budget for all artifacts together.
      const copied = await unpackIntoDirectory(archive, destination, {
        mapName,
        warn,
        maxBytes: options.artifactsMaxBytes - total.bytes,
        maxFiles: options.artifactsMaxFiles - total.files,
      });
      total.files += copied.files;
      total.bytes += copied.bytes;
      warn(`artifact ${artifact}: ${copied.files} file(s), ${copied.bytes} bytes copied out`);
    } catch (error) {
      const toolError = ToolError.from(signal.aborted ? signal.reason : error);
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

/**
 * Extra time past the command's own timeout before the host gives up on the
 * sandbox. The agent enforces the timeout; a workload that stopped or replaced
 * its agent could report "running" forever, so the host keeps its own deadline.
 */
export const HOST_DEADLINE_GRACE_MS = 15_000;
/** The longest copying artifacts out may take. */
const ARTIFACTS_MAX_MS = 10 * 60_000;

/** Resolves with EXIT_TIMEOUT once `ms` have passed, unless `signal` fires first. */
function hostDeadline(ms: number, signal: AbortSignal): Promise<number> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      warn(
        `the command did not end within its timeout and ${HOST_DEADLINE_GRACE_MS / 1000} s more; removing its sandbox`,
      );
      resolve(EXIT_TIMEOUT);
    }, ms);
    signal.addEventListener('abort', () => clearTimeout(timer), { once: true });
  });
}

/**
 * Runs the command and streams it to the end, or gives up with EXIT_TIMEOUT at
 * the host's own deadline, whatever the sandbox answers meanwhile.
 */
export async function executeWithDeadline(
  sandbox: Pick<Sandbox, 'callTool'>,
  options: Pick<RunOptions, 'command' | 'timeoutMs' | 'env' | 'isRawOutput'>,
  deadlineMs: number,
): Promise<number> {
  const finished = new AbortController();
  try {
    const running = execute(sandbox, options, finished.signal);
    // Once the deadline has won, the loop stops at its next poll; its rejection is expected.
    running.catch(() => undefined);
    return await Promise.race([running, hostDeadline(deadlineMs, finished.signal)]);
  } finally {
    finished.abort();
  }
}

async function execute(
  sandbox: Pick<Sandbox, 'callTool'>,
  options: Pick<RunOptions, 'command' | 'timeoutMs' | 'env' | 'isRawOutput'>,
  signal: AbortSignal,
): Promise<number> {
  const started = await callAgentTool(sandbox, ExecCommandTool, {
    cmd: options.command,
    yield_time_ms: 0,
    verbosity: 'minimal',
    max_output_bytes: 1,
    ...(options.timeoutMs === undefined ? {} : { timeout_ms: options.timeoutMs }),
    ...(Object.keys(options.env).length === 0 ? {} : { env: options.env }),
  });
  const commandId = started.result.command_id;
  return streamCommand(sandbox, commandId, signal, options.isRawOutput);
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
      uidRange: uidRangeFrom(process.env),
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
      // By default a fresh volume (owned, so destroyAll removes it) holding a copy, run as the image's user.
      ...(options.isInPlace
        ? { workspace: { kind: 'bind', hostPath: workspace }, user, isGitWritable: options.isGitWritable }
        : {}),
      signal: abort.signal,
    });
    creating = created;
    const sandbox = await created;
    if (!options.isInPlace) {
      // The host packs its own checkout; the PR's code only ever sees the copy.
      await importArchive(sandbox, packHostDirectory(workspace, abort.signal), '.', {
        maxBytes: COPY_MAX_BYTES,
        signal: abort.signal,
      });
    }
    const deadlineMs = (options.timeoutMs ?? policy.policy.timeouts.commandDefault) + HOST_DEADLINE_GRACE_MS;
    const exitCode = await executeWithDeadline(sandbox, options, deadlineMs);
    if (artifactsDir === undefined || interrupted !== undefined) return exitCode;
    const copying = AbortSignal.any([abort.signal, AbortSignal.timeout(ARTIFACTS_MAX_MS)]);
    const isComplete = await copyArtifacts(sandbox, options, artifactsDir, copying);
    return isComplete || exitCode !== 0 ? exitCode : EXIT_SANDBOX_FAILURE;
  } catch (error) {
    if (interrupted !== undefined) return signalExitCode(interrupted);
    const toolError = ToolError.from(error);
    warn(`${toolError.code}: ${toolError.message}`);
    return EXIT_SANDBOX_FAILURE;
  } finally {
    // Whoever removes the sandbox, the CLI may exit only once it is gone.
    await (cleanup ?? manager.destroyAll());
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
