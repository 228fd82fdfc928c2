import { type ChildProcess, spawn } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';

export interface TarExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Set when tar could not be started at all. */
  spawnError?: string;
}

/** tar's diagnostics are kept from the start: the first lines say what was wrong with an archive. */
const MAX_STDERR_BYTES = 16 * 1024;

/**
 * One GNU tar process, run with an argv array (never a shell), a fixed locale so
 * its messages can be recognised, and no environment from the workload.
 */
export class TarProcess {
  readonly exited: Promise<TarExit>;
  readonly #child: ChildProcess;
  #stderr = '';
  #exit: TarExit | undefined;

  constructor(args: string[], stdio: { stdin: 'pipe' | 'ignore'; stdout: 'pipe' | 'ignore' }) {
    this.#child = spawn('tar', args, {
      stdio: [stdio.stdin, stdio.stdout, 'pipe'],
      env: { PATH: '/usr/local/bin:/usr/bin:/bin', LC_ALL: 'C' },
    });
    this.#child.stderr?.setEncoding('utf8');
    this.#child.stderr?.on('data', (text: string) => {
      if (this.#stderr.length < MAX_STDERR_BYTES) this.#stderr += text.slice(0, MAX_STDERR_BYTES);
    });
    // EPIPE once tar has exited; the exit status is what reports the failure.
    this.#child.stdin?.on('error', () => undefined);
    this.exited = new Promise((resolve) => {
      this.#child.once('error', (error) => {
        this.#exit = { code: null, signal: null, spawnError: error.message };
        resolve(this.#exit);
      });
      this.#child.once('close', (code, signal) => {
        this.#exit ??= { code, signal };
        resolve(this.#exit);
      });
    });
  }

  get stdout(): Readable {
    return this.#child.stdout as Readable;
  }

  get stdin(): Writable {
    return this.#child.stdin as Writable;
  }

  /** What tar wrote on stderr so far (the first 16 KiB), trimmed. */
  get diagnostics(): string {
    return this.#stderr.trim();
  }

  /** The exit status once tar has exited, else undefined. */
  get exit(): TarExit | undefined {
    return this.#exit;
  }

  /**
   * Hands a chunk to tar, resolving once tar has taken it (backpressure). Data
   * for a tar that has already exited is dropped: its exit status tells the rest.
   */
  async write(chunk: Buffer): Promise<void> {
    const stdin = this.stdin;
    if (this.#exit !== undefined || stdin.destroyed) return;
    if (stdin.write(chunk)) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        stdin.off('drain', done);
        stdin.off('close', done);
        resolve();
      };
      stdin.once('drain', done);
      stdin.once('close', done);
      void this.exited.then(done);
    });
  }

  /** Closes tar's input and waits for it to exit. */
  async end(): Promise<TarExit> {
    if (!this.stdin.destroyed) this.stdin.end();
    return this.exited;
  }

  kill(): void {
    if (this.#exit === undefined) this.#child.kill('SIGKILL');
  }
}

/** How a failed tar run reads in an error message. */
export function describeExit(exit: TarExit): string {
  if (exit.spawnError !== undefined) return `tar could not start: ${exit.spawnError}`;
  if (exit.signal !== null) return `tar was killed by ${exit.signal}`;
  return `tar exited with status ${exit.code}`;
}
