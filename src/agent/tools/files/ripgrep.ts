import { spawn } from 'node:child_process';
import { ToolError } from '#protocol/errors';
import type { GlobList } from '#protocol/tools/files';

/** A search that runs longer than this is stopped and reported as truncated. */
export const RIPGREP_TIMEOUT_MS = 60_000;
const MAX_STDERR_BYTES = 8 * 1024;
/** A record (one path, one JSON event) longer than this is skipped rather than buffered. */
const MAX_RECORD_BYTES = 8 * 1024 * 1024;

export interface RipgrepRun {
  /** The workspace root: rg prints paths relative to it. */
  cwd: string;
  args: readonly string[];
  /** Byte that ends each record of stdout: NUL for --null, newline for --json. */
  delimiter: number;
  /** Called per record; returning false stops rg (the process is killed). */
  onRecord: (record: Buffer) => boolean;
  timeoutMs?: number;
  binary?: string;
}

export interface RipgrepExit {
  exitCode: number | null;
  stderr: string;
  /** onRecord asked to stop, and rg was killed. */
  isStopped: boolean;
  hasTimedOut: boolean;
  /** Records over MAX_RECORD_BYTES that were dropped. */
  oversizedRecords: number;
}

/**
 * Runs ripgrep with an argv array (never a shell), feeding its stdout to
 * `onRecord` record by record. The caller owns nothing afterwards: the promise
 * settles only once the process has exited and its pipes are closed.
 */
export function runRipgrep(run: RipgrepRun): Promise<RipgrepExit> {
  return new Promise((resolve, reject) => {
    const child = spawn(run.binary ?? 'rg', [...run.args], {
      cwd: run.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      // No HOME and no RIPGREP_CONFIG_PATH: no user config or global gitignore changes the results.
      env: { PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin' },
    });
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    let isSkippingRecord = false;
    let isStopped = false;
    let hasTimedOut = false;
    let oversizedRecords = 0;
    let stderr = '';

    const stop = () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    };
    const timer = setTimeout(() => {
      hasTimedOut = true;
      stop();
    }, run.timeoutMs ?? RIPGREP_TIMEOUT_MS);

    let failure: unknown;
    const deliver = (record: Buffer) => {
      if (isStopped) return;
      let isWanted: boolean;
      try {
        isWanted = run.onRecord(record);
      } catch (error) {
        failure = error;
        isWanted = false;
      }
      if (!isWanted) {
        isStopped = true;
        stop();
      }
    };

    child.stdout.on('data', (chunk: Buffer) => {
      let offset = 0;
      while (!isStopped && offset < chunk.length) {
        const end = chunk.indexOf(run.delimiter, offset);
        const piece = chunk.subarray(offset, end === -1 ? chunk.length : end);
        if (!isSkippingRecord) {
          if (pendingBytes + piece.length > MAX_RECORD_BYTES) {
            isSkippingRecord = true;
            oversizedRecords++;
            pending = [];
            pendingBytes = 0;
          } else {
            pending.push(piece);
            pendingBytes += piece.length;
          }
        }
        if (end === -1) break;
        if (!isSkippingRecord) deliver(Buffer.concat(pending, pendingBytes));
        isSkippingRecord = false;
        pending = [];
        pendingBytes = 0;
        offset = end + 1;
      }
    });
    child.stderr.on('data', (chunk: Buffer) => {
      if (stderr.length < MAX_STDERR_BYTES)
        stderr = (stderr + chunk.toString('utf8')).slice(0, MAX_STDERR_BYTES);
    });
    child.on('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (error.code === 'ENOENT') {
        reject(
          new ToolError('INTERNAL_ERROR', 'ripgrep (rg) is not installed in this sandbox image', {
            cause: error,
          }),
        );
      } else {
        reject(new ToolError('INTERNAL_ERROR', `could not run ripgrep: ${error.message}`, { cause: error }));
      }
    });
    child.on('close', (exitCode) => {
      clearTimeout(timer);
      if (pendingBytes > 0 && !isSkippingRecord) deliver(Buffer.concat(pending, pendingBytes));
      if (failure !== undefined) {
        const message = failure instanceof Error ? failure.message : String(failure);
        reject(new ToolError('INTERNAL_ERROR', `unreadable ripgrep output: ${message}`, { cause: failure }));
        return;
      }
      resolve({ exitCode, stderr: stderr.trim(), isStopped, hasTimedOut, oversizedRecords });
    });
  });
}

/** One glob or a list of them, as a list. */
export function globsOf(...lists: (GlobList | undefined)[]): string[] {
  return lists.flatMap((list) => (list === undefined ? [] : typeof list === 'string' ? [list] : list));
}

/**
 * The --glob flags for include and exclude globs. Later flags win in ripgrep,
 * so the excludes come last; `.git` is excluded unless ignored files are wanted.
 */
export function globArgs(include: string[], exclude: string[], isIgnoredIncluded: boolean): string[] {
  const args = include.map((glob) => `--glob=${glob}`);
  // An exclude glob is a plain glob; a leading '!' the caller may have added is dropped.
  for (const glob of exclude) args.push(`--glob=!${glob.replace(/^!/, '')}`);
  if (!isIgnoredIncluded) args.push('--glob=!.git');
  return args;
}

/** The common flags: no config file, and .gitignore honoured even outside a git repository. */
export function baseArgs(isHiddenIncluded: boolean, isIgnoredIncluded: boolean): string[] {
  const args = ['--no-config', '--no-require-git'];
  if (isHiddenIncluded) args.push('--hidden');
  if (isIgnoredIncluded) args.push('--no-ignore');
  return args;
}

/** A path ripgrep printed, relative to the workspace root. */
export function workspacePath(printed: string): string {
  return printed.startsWith('./') ? printed.slice(2) : printed;
}

/** An rg failure before any output: a bad glob or regex is the caller's, anything else is ours. */
export function ripgrepFailure(exit: RipgrepExit): ToolError {
  const message = exit.stderr === '' ? `ripgrep exited with code ${exit.exitCode}` : exit.stderr;
  if (/regex|glob|pattern|literal/i.test(message)) {
    return new ToolError('INVALID_ARGUMENT', message, { details: { tool: 'ripgrep' } });
  }
  return new ToolError('INTERNAL_ERROR', `ripgrep failed: ${message}`);
}
