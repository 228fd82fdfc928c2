import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import os from 'node:os';
import type { AgentLog } from '../log.ts';
import { LaunchedProcess, STDIO_WAIT_MS } from './launched-process.ts';
import { StdioServer } from './stdio-server.ts';

/** Where the worker image puts the launcher (image/launcher/launcher.c). */
export const LAUNCHER_PATH = '/opt/sandboxd/launcher';
/** As MAX_REQUEST_BYTES in launcher.c; a larger command goes to Node's spawn, which reports E2BIG as before. */
const MAX_REQUEST_BYTES = 4 * 1024 * 1024;
/** A launcher that keeps dying is started again at most this often; commands meanwhile use Node's spawn. */
const RESTART_INTERVAL_MS = 1000;
/** Longest a command waits for a launcher that is starting (it takes a few ms) before it uses Node's spawn. */
const START_WAIT_MS = 1000;

type State = 'stopped' | 'starting' | 'ready' | 'closed';

export interface LaunchRequest {
  argv: string[];
  cwd: string;
  env: Record<string, string>;
}

/** Signal numbers to the names Node reports (the first of aliases: SIGABRT, not SIGIOT). */
const signalNames = new Map<number, string>();
for (const [name, number] of Object.entries(os.constants.signals)) {
  if (!signalNames.has(number)) signalNames.set(number, name);
}

/** The request frame launcher.c reads: u32 length, then NUL-terminated fields; undefined if it cannot carry this one. */
function encodeRequest(token: string, request: LaunchRequest): Buffer | undefined {
  const fields = [
    token,
    request.cwd,
    String(request.argv.length),
    ...request.argv,
    ...Object.entries(request.env).map(([name, value]) => `${name}=${value}`),
  ];
  // Node's spawn refuses a NUL inside an argument; leave that refusal to it.
  if (fields.some((field) => field.includes('\0'))) return undefined;
  const payload = Buffer.from(`${fields.join('\0')}\0`);
  if (payload.length > MAX_REQUEST_BYTES) return undefined;
  const frame = Buffer.allocUnsafe(4 + payload.length);
  frame.writeUInt32LE(payload.length, 0);
  payload.copy(frame, 4);
  return frame;
}

/**
 * The agent's client of the command launcher: it starts the launcher, asks it
 * to start each command, and turns its replies into LaunchedProcess events.
 * `spawn` returns undefined whenever the launcher cannot take a command (not
 * in this image, not started yet, just died): the caller then uses Node's spawn.
 */
export class Launcher {
  readonly #log: AgentLog;
  readonly #binaryPath: string;
  #state: State = 'stopped';
  /** Callers of `settled()` waiting for the launcher to leave 'starting'. */
  #waiters: (() => void)[] = [];
  #child: ChildProcess | undefined;
  #server: StdioServer | undefined;
  #lastStartAt = Number.NEGATIVE_INFINITY;
  #hasReportedAbsence = false;
  #replies = '';
  /** Asked for, not yet reported spawned or failed. */
  readonly #starting = new Map<string, LaunchedProcess>();
  /** Spawned, not yet reported exited. */
  readonly #running = new Map<number, LaunchedProcess>();

  constructor(options: { log: AgentLog; binaryPath?: string }) {
    this.#log = options.log;
    this.#binaryPath = options.binaryPath ?? LAUNCHER_PATH;
  }

  get isReady(): boolean {
    return this.#state === 'ready';
  }

  /** The launcher's pid while it runs. */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** Starts the launcher unless it runs, is starting, or was started less than a second ago. */
  start(): void {
    if (this.#state !== 'stopped' || Date.now() - this.#lastStartAt < RESTART_INTERVAL_MS) return;
    if (!existsSync(this.#binaryPath)) {
      if (!this.#hasReportedAbsence)
        this.#log('info', 'no command launcher; commands use spawn', { path: this.#binaryPath });
      this.#hasReportedAbsence = true;
      return;
    }
    this.#setState('starting');
    this.#lastStartAt = Date.now();
    this.#server ??= new StdioServer(this.#log);
    const server = this.#server;
    server.listening.then(
      () => this.#spawnLauncher(server.name),
      (error: unknown) => {
        this.#log('warn', 'command stdio socket could not listen; commands use spawn', {
          error: String(error),
        });
        this.#setState('closed');
      },
    );
  }

  /**
   * Starts the launcher if it is down, then resolves once it is not starting
   * (ready, gone, or never there), or after START_WAIT_MS: a command that waits
   * the few ms goes through the launcher instead of paying for a fork of the agent.
   */
  async settled(): Promise<void> {
    if (this.#state === 'stopped') this.start();
    if (this.#state !== 'starting') return;
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      this.#waiters.push(resolve);
      timer = setTimeout(resolve, START_WAIT_MS);
    });
    clearTimeout(timer);
  }

  /** Asks the launcher to start a command; undefined when it cannot take it now. */
  spawn(request: LaunchRequest): LaunchedProcess | undefined {
    if (this.#state === 'stopped') this.start();
    const stdin = this.#child?.stdin;
    if (this.#state !== 'ready' || this.#server === undefined || stdin == null) return undefined;
    const token = randomBytes(16).toString('hex');
    const frame = encodeRequest(token, request);
    if (frame === undefined) return undefined;
    const launched = new LaunchedProcess(token, request.argv[0] as string);
    this.#starting.set(token, launched);
    this.#server.expect(token, (stream, socket) => launched.attach(stream, socket));
    stdin.write(frame);
    return launched;
  }

  /** Stops the launcher (it exits when its control channel closes) and the stdio socket. */
  close(): void {
    this.#setState('closed');
    this.#child?.stdin?.end();
    this.#server?.close();
  }

  /**
   * A started command's connections were all made before its spawn, but may still
   * wait to be accepted when its exit is reported; a connection that never came
   * (one a flood of strangers pushed out) is not waited for after that.
   */
  #forgetLater(token: string): void {
    setTimeout(() => this.#server?.forget(token), STDIO_WAIT_MS).unref();
  }

  #setState(state: State): void {
    this.#state = state;
    if (state === 'starting') return;
    for (const resolve of this.#waiters.splice(0)) resolve();
  }

  #spawnLauncher(socketName: string): void {
    if (this.#state !== 'starting') return;
    // An empty environment: the agent's variables stay with the agent.
    // Its cwd is / so that it pins no workspace directory; commands chdir to their own.
    const child = spawn(this.#binaryPath, [socketName], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: {},
      cwd: '/',
    });
    this.#child = child;
    this.#replies = '';
    child.stdin.on('error', () => {
      // EPIPE once the launcher is gone; its 'exit' says so.
    });
    child.stdout.setEncoding('latin1');
    child.stdout.on('data', (chunk: string) => this.#onReplies(chunk));
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (text: string) =>
      this.#log('warn', 'command launcher', { output: text.trimEnd() }),
    );
    child.on('error', (error) => this.#onLauncherGone(child, `could not start: ${error.message}`));
    child.once('exit', (code, signal) => this.#onLauncherGone(child, `exited (${signal ?? `code ${code}`})`));
  }

  #onReplies(chunk: string): void {
    this.#replies += chunk;
    let end = this.#replies.indexOf('\n');
    while (end >= 0) {
      this.#onReply(this.#replies.slice(0, end).split(' '));
      this.#replies = this.#replies.slice(end + 1);
      end = this.#replies.indexOf('\n');
    }
  }

  #onReply(fields: string[]): void {
    const [kind, first = '', second = '', third = '', reason = ''] = fields;
    if (kind === 'ready') {
      this.#setState('ready');
      this.#log('debug', 'command launcher ready', { pid: this.#child?.pid });
    } else if (kind === 'spawned') {
      const launched = this.#starting.get(first);
      this.#starting.delete(first);
      const pid = Number(second);
      if (launched === undefined) return;
      this.#running.set(pid, launched);
      launched.spawned(pid);
    } else if (kind === 'failed') {
      const launched = this.#starting.get(first);
      this.#starting.delete(first);
      this.#server?.forget(first);
      if (third === 'stdio') {
        launched?.failed(`the launcher could not connect the command's stdio: ${second}`);
      } else if (third === 'request') {
        this.#log('error', 'command launcher refused a request', { reason });
        launched?.failed(`the launcher refused the command (${reason})`);
      } else {
        launched?.spawnFailed(second);
      }
    } else if (kind === 'exit') {
      const pid = Number(first);
      const launched = this.#running.get(pid);
      this.#running.delete(pid);
      if (launched !== undefined) this.#forgetLater(launched.token);
      const code = Number(second);
      const signal = signalNames.get(Number(third)) as NodeJS.Signals | undefined;
      launched?.exited(code >= 0 ? code : null, signal ?? null);
    } else {
      this.#log('error', 'unexpected reply from the command launcher', { reply: fields.join(' ') });
    }
  }

  /** Commands in flight lose their launcher: the ones not started fail, the running ones lose their exit status. */
  #onLauncherGone(child: ChildProcess, how: string): void {
    if (this.#child !== child) return;
    this.#child = undefined;
    const wasClosed = this.#state === 'closed';
    if (!wasClosed) this.#setState('stopped');
    const starting = [...this.#starting.entries()];
    const running = [...this.#running.values()];
    this.#starting.clear();
    this.#running.clear();
    for (const [token, launched] of starting) {
      this.#server?.forget(token);
      launched.failed(`the command launcher ${how} before it reported the command's start`);
    }
    for (const launched of running) {
      this.#forgetLater(launched.token);
      launched.failed(`the command launcher ${how} while the command ran; its exit status is lost`);
    }
    if (!wasClosed) {
      this.#log('warn', `command launcher ${how}; commands use spawn until it is started again`, {
        lostCommands: starting.length + running.length,
      });
    }
  }
}
