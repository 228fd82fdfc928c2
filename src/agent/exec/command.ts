import { randomBytes } from 'node:crypto';
import type { CommandStatus } from '#protocol/tools/commands';
import { type CommandProcess, startProcess } from './launch.ts';
import type { Launcher } from './launcher.ts';
import { OutputBuffer } from './output-buffer.ts';
import { signalCommandGroups } from './process-group.ts';

export type StreamName = 'stdout' | 'stderr';

export interface CommandOptions {
  argv: string[];
  cwd: string;
  env: Record<string, string>;
  timeoutMs: number;
  outputBudgetBytes: number;
  isTty: boolean;
  stdin?: string | undefined;
  /** Starts the process when it can; without it (or when it cannot) Node's spawn does. */
  launcher?: Launcher | undefined;
}

/**
 * How long a timed-out command's processes get between TERM and KILL: time to
 * flush and remove temporary files, short enough that nothing outlives its
 * deadline by much (it was 2 s, and a command that ignored TERM ran that long).
 */
const TIMEOUT_GRACE_MS = 200;

/** How long after the leader exits we wait for descendants to close its pipes. */
const DRAIN_AFTER_EXIT_MS = 250;

/**
 * One command of the workspace: its own process group (so a kill reaches every
 * descendant), two bounded output buffers, and a status that outlives whoever
 * started it.
 */
export class Command {
  readonly id = randomBytes(6).toString('hex');
  readonly isTty: boolean;
  readonly startedAt = Date.now();
  readonly output: Record<StreamName, OutputBuffer>;
  /** Offsets up to which polls have already returned output. */
  readonly cursor: Record<StreamName, number> = { stdout: 0, stderr: 0 };
  status: CommandStatus = 'running';
  exitCode: number | null = null;
  signal: string | null = null;
  endedAt: number | null = null;
  failure: string | undefined;
  readonly #child: CommandProcess;
  readonly #finished: Promise<void>;
  readonly started: Promise<void>;
  #timeout: NodeJS.Timeout | undefined;
  #hasKillRequest = false;

  constructor(options: CommandOptions) {
    this.isTty = options.isTty;
    this.output = {
      stdout: new OutputBuffer(options.outputBudgetBytes),
      stderr: new OutputBuffer(options.outputBudgetBytes),
    };
    // Either way the command leads a new session and process group, pgid = pid.
    this.#child = startProcess(options, options.launcher);
    this.#child.stdout?.on('data', (chunk: Buffer) => this.output.stdout.append(chunk));
    this.#child.stderr?.on('data', (chunk: Buffer) => this.output.stderr.append(chunk));
    this.#child.stdin?.on('error', () => {
      // EPIPE when the command does not read its input: not the command's failure.
    });
    // Settles once the process exists or could not be created (EAGAIN when the pids limit is full).
    this.started = new Promise((resolve) => {
      this.#child.once('spawn', () => resolve());
      this.#child.once('error', () => resolve());
    });
    this.#finished = new Promise((resolve) => {
      this.#child.once('error', (error) => {
        this.status = 'failed';
        this.failure = error.message;
        this.#settle();
        resolve();
      });
      this.#child.once('exit', (code, signal) => {
        this.#onExit(code, signal);
        const drained = new Promise<void>((done) => this.#child.once('close', () => done()));
        const grace = new Promise((done) => setTimeout(done, DRAIN_AFTER_EXIT_MS).unref());
        void Promise.race([drained, grace]).then(() => resolve());
      });
    });
    // The OOM score is raised by the command's first process itself (launcher.c, or launch.ts's
    // wrapper), not from here: a write from the agent after spawn races with the command's first forks.
    if (options.stdin !== undefined) {
      this.#child.stdin?.end(options.stdin);
    }
    // The timeout covers the whole process group, so it stays armed after the leader exits:
    // what the command left behind (`server &`, a fork bomb whose shell gave up) goes at the deadline.
    this.#timeout = setTimeout(() => this.#onDeadline(), options.timeoutMs);
    this.#timeout.unref();
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  get isRunning(): boolean {
    return this.status === 'running';
  }

  get retainedBytes(): number {
    return this.output.stdout.retainedBytes + this.output.stderr.retainedBytes;
  }

  /** Resolves when the command has finished and its output is drained. */
  get finished(): Promise<void> {
    return this.#finished;
  }

  /** Waits until the command finishes or `ms` pass, whichever is first. */
  async waitUpTo(ms: number): Promise<void> {
    if (!this.isRunning || ms <= 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.#finished, new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
    clearTimeout(timer);
  }

  writeStdin(chars: string): boolean {
    const stdin = this.#child.stdin;
    if (!this.isRunning || stdin === null || stdin.destroyed || stdin.writableEnded) return false;
    stdin.write(chars);
    return true;
  }

  /** Sends a signal to every process of the command (see process-group.ts). */
  signalGroup(signal: NodeJS.Signals): void {
    const pid = this.#child.pid;
    if (pid === undefined) {
      // The launcher reports the pid a moment after the command is created: a signal that early waits
      // for it. A command that could not start has failed by the time `started` settles.
      if (this.status !== 'failed') void this.started.then(() => this.signalGroup(signal));
      return;
    }
    signalCommandGroups(pid, this.isTty, signal);
  }

  /** kill_command's signal: a KILL it sends makes the command `killed` rather than `terminated`. */
  kill(signal: NodeJS.Signals): void {
    if (signal === 'SIGKILL') this.#hasKillRequest = true;
    this.signalGroup(signal);
  }

  /**
   * The command is over at its deadline, not when its leader has gone: script(1)
   * kept a TTY command `running` for 2 s past it, and a group that ignores TERM
   * kept one until the KILL. Its exit code and signal still come when it exits.
   */
  #onDeadline(): void {
    this.signalGroup('SIGTERM');
    setTimeout(() => this.signalGroup('SIGKILL'), TIMEOUT_GRACE_MS).unref();
    if (!this.isRunning) return;
    this.status = 'timeout';
    this.#settle();
  }

  #onExit(code: number | null, signal: NodeJS.Signals | null): void {
    this.exitCode = code;
    this.signal = signal;
    if (!this.isRunning) return;
    if (signal === null) this.status = 'exited';
    else this.status = signal === 'SIGKILL' && this.#hasKillRequest ? 'killed' : 'terminated';
    this.#settle();
  }

  #settle(): void {
    this.endedAt = Date.now();
  }
}
