import { EventEmitter } from 'node:events';
import type net from 'node:net';
import { PassThrough } from 'node:stream';
import type { StreamIndex } from './stdio-server.ts';

/** How long an exit waits for stdio connections that have not arrived (they were made before the spawn). */
export const STDIO_WAIT_MS = 2000;

/**
 * A command the launcher started, seen the way Node shows a ChildProcess:
 * `pid`, `stdin`/`stdout`/`stderr` streams, and the events 'spawn', 'error',
 * 'exit' and 'close' (after 'exit' once stdout and stderr have ended). The
 * streams exist from the start and are joined to the command's sockets when
 * those arrive, so input written before then is kept for it.
 */
export class LaunchedProcess extends EventEmitter {
  pid: number | undefined;
  /** Proves the command's stdio connections are the launcher's (see stdio-server.ts). */
  readonly token: string;
  readonly stdin = new PassThrough();
  readonly stdout = new PassThrough();
  readonly stderr = new PassThrough();
  readonly #program: string;
  readonly #sockets: net.Socket[] = [];
  #stdinSocket: net.Socket | undefined;
  #exitStatus: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  #exitTimer: NodeJS.Timeout | undefined;
  #hasExited = false;
  #hasSettled = false;
  #openOutputs = 2;

  constructor(token: string, program: string) {
    super();
    this.token = token;
    this.#program = program;
    for (const output of [this.stdout, this.stderr]) {
      output.once('end', () => {
        this.#openOutputs--;
        this.#maybeClose();
      });
    }
  }

  /** Joins one of the command's stdio sockets to its stream. */
  attach(stream: StreamIndex, socket: net.Socket): void {
    this.#sockets.push(socket);
    if (stream === 0) {
      this.#stdinSocket = socket;
      if (this.stdin.destroyed) {
        socket.destroy();
      } else {
        // EPIPE when the command does not read its input: the stream is done, as with Node's child.stdin.
        socket.on('error', () => this.#closeStdin());
        this.stdin.pipe(socket);
      }
    } else {
      const output = stream === 1 ? this.stdout : this.stderr;
      socket.pipe(output);
      // A reset connection ends the stream too, so 'close' still comes.
      socket.once('close', () => {
        if (!output.writableEnded) output.end();
      });
    }
    this.#maybeReportExit();
  }

  /** The launcher started the command. */
  spawned(pid: number): void {
    this.pid = pid;
    this.emit('spawn');
  }

  /** The command could not be started, or its launcher died before saying how it ended. */
  failed(message: string): void {
    if (this.#hasSettled) return;
    this.#hasSettled = true;
    this.#closeStdin();
    if (this.pid === undefined) {
      for (const socket of this.#sockets) socket.destroy();
      for (const output of [this.stdout, this.stderr]) output.end();
    }
    this.emit('error', new Error(message));
  }

  /** `spawn <program> <ERRNO>`, the message Node gives for a spawn that failed. */
  spawnFailed(errnoName: string): void {
    this.failed(`spawn ${this.#program} ${errnoName}`);
  }

  /** The launcher reaped the command. */
  exited(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.#hasSettled) return;
    this.#hasSettled = true;
    this.#exitStatus = { code, signal };
    this.#exitTimer = setTimeout(() => this.#reportExit(), STDIO_WAIT_MS).unref();
    this.#maybeReportExit();
  }

  /**
   * Everything the command wrote before it exited is in its sockets before the
   * launcher reports the exit, but the report can overtake the connections and
   * their reads. So 'exit' waits for all three connections and one more pass
   * of the event loop's poll, which reads what they hold: then it comes after
   * the output, as it does with Node's spawn (and exec_command returns it).
   */
  #maybeReportExit(): void {
    if (this.#exitStatus === undefined || this.#sockets.length < 3) return;
    setImmediate(() => setImmediate(() => this.#reportExit()));
  }

  #reportExit(): void {
    const status = this.#exitStatus;
    if (this.#hasExited || status === undefined) return;
    this.#hasExited = true;
    clearTimeout(this.#exitTimer);
    // As Node does on exit: input can no longer be written.
    this.#closeStdin();
    this.emit('exit', status.code, status.signal);
    this.#maybeClose();
  }

  /** Nothing reads the stdin socket, so it would never notice its peer is gone: close it here. */
  #closeStdin(): void {
    this.stdin.destroy();
    this.#stdinSocket?.destroy();
  }

  #maybeClose(): void {
    if (this.#hasExited && this.#openOutputs === 0) this.emit('close');
  }
}
