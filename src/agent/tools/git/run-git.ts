import { spawn } from 'node:child_process';
import { ToolError } from '#protocol/errors';

/**
 * Runs one git process with a clean environment and a configuration that a
 * hostile repository cannot turn into code execution. The repository's own
 * `.git/config` is written by whatever runs in the workspace, so everything it
 * could make git execute is overridden here: command-line `-c` settings and
 * GIT_CONFIG_* environment entries both have "command" scope and win over it.
 */

/** Where git is looked up: fixed, so no directory the workload can write shadows the binary. */
const SAFE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export const DEFAULT_GIT_TIMEOUT_MS = 30_000;
const MAX_STDERR_BYTES = 16 * 1024;
const MAX_ERROR_MESSAGE_CHARS = 4096;

/** `-c key=value` given to every git call, in front of the subcommand. */
export const HARDENING_CONFIG: ReadonlyArray<readonly [key: string, value: string]> = [
  // The workspace may belong to another uid; ownership is not our trust boundary.
  ['safe.directory', '*'],
  // A bare repository planted inside the workspace is never picked up by discovery.
  ['safe.bareRepository', 'explicit'],
  ['core.hooksPath', '/dev/null'],
  ['core.fsmonitor', 'false'],
  ['core.pager', 'cat'],
  ['core.attributesFile', '/dev/null'],
  ['core.quotePath', 'false'],
  ['color.ui', 'false'],
  ['diff.external', ''],
  ['diff.noprefix', 'false'],
  ['diff.mnemonicPrefix', 'false'],
  ['diff.relative', 'false'],
  // Signature checks run gpg.program, which the repository could point at a workspace script.
  ['log.showSignature', 'false'],
  ['gpg.program', 'false'],
  ['gpg.openpgp.program', 'false'],
  ['gpg.x509.program', 'false'],
  ['gpg.ssh.program', 'false'],
  ['status.submoduleSummary', 'false'],
  ['submodule.recurse', 'false'],
  ['blame.ignoreRevsFile', ''],
  // No transport: these tools never talk to a remote, and a lazy fetch of a
  // partial clone must not reach ssh, a proxy, a credential helper or askpass.
  ['protocol.allow', 'never'],
  ['core.sshCommand', 'false'],
  ['core.askPass', ''],
  ['credential.helper', ''],
];

export function hardeningArgs(): string[] {
  const args = ['--no-pager'];
  for (const [key, value] of HARDENING_CONFIG) args.push('-c', `${key}=${value}`);
  return args;
}

export interface GitEnvironmentOptions {
  /** Directory above which git must not look for a repository: the workspace's parent. */
  ceilingDirectory: string;
  homeDirectory?: string;
  /** Per-repository configuration overrides (see repository.ts), passed as GIT_CONFIG_KEY_n/VALUE_n. */
  configOverrides?: ReadonlyArray<readonly [key: string, value: string]>;
}

/** The environment of every git call, built from nothing so no GIT_* variable of the agent leaks in. */
export function gitEnvironment(options: GitEnvironmentOptions): Record<string, string> {
  const env: Record<string, string> = {
    PATH: SAFE_PATH,
    HOME: options.homeDirectory ?? '/tmp',
    LANG: 'C.UTF-8',
    LC_ALL: 'C.UTF-8',
    GIT_TERMINAL_PROMPT: '0',
    GIT_PAGER: 'cat',
    PAGER: 'cat',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_ATTR_NOSYSTEM: '1',
    GIT_OPTIONAL_LOCKS: '0',
    GIT_NO_REPLACE_OBJECTS: '1',
    GIT_LITERAL_PATHSPECS: '1',
    GIT_CEILING_DIRECTORIES: options.ceilingDirectory,
    // An empty allow-list refuses every transport and, unlike protocol.allow,
    // cannot be reopened by a protocol.<name>.allow in the repository's config.
    GIT_ALLOW_PROTOCOL: '',
    GIT_PROTOCOL_FROM_USER: '0',
    GIT_NO_LAZY_FETCH: '1',
  };
  const overrides = options.configOverrides ?? [];
  if (overrides.length > 0) {
    env.GIT_CONFIG_COUNT = String(overrides.length);
    overrides.forEach(([key, value], index) => {
      env[`GIT_CONFIG_KEY_${index}`] = key;
      env[`GIT_CONFIG_VALUE_${index}`] = value;
    });
  }
  return env;
}

export interface GitInvocation {
  cwd: string;
  /** Subcommand and its arguments; the hardening options are put in front. */
  args: readonly string[];
  env: Readonly<Record<string, string>>;
  /** Written to git's stdin, which is then closed; without it stdin is /dev/null. */
  input?: string;
  timeoutMs?: number;
  /** Stdout bytes kept. */
  maxStdoutBytes: number;
  /** Stdout bytes counted (not kept) before git is stopped; defaults to maxStdoutBytes. */
  maxCountedBytes?: number;
  /** Exit codes besides 0 that are not a failure. */
  okExitCodes?: readonly number[];
}

export interface GitOutput {
  stdout: Buffer;
  /** Bytes git wrote to stdout; all of them unless isCapped. */
  stdoutBytes: number;
  /** Git was stopped because its output passed maxCountedBytes; stdout ends mid-stream. */
  isCapped: boolean;
  exitCode: number;
  stderr: string;
}

/** Runs git and resolves with its bounded output, or rejects with GIT_ERROR or TIMEOUT. */
export function runGit(invocation: GitInvocation): Promise<GitOutput> {
  const subcommand = invocation.args[0] ?? 'git';
  const timeoutMs = invocation.timeoutMs ?? DEFAULT_GIT_TIMEOUT_MS;
  const maxKept = invocation.maxStdoutBytes;
  const maxCounted = Math.max(invocation.maxCountedBytes ?? maxKept, maxKept);

  return new Promise<GitOutput>((resolve, reject) => {
    // detached: git leads its own process group, so a kill reaches anything it started.
    const child = spawn('git', [...hardeningArgs(), ...invocation.args], {
      cwd: invocation.cwd,
      env: { ...invocation.env },
      stdio: [invocation.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      detached: true,
    });
    const chunks: Buffer[] = [];
    let kept = 0;
    let seen = 0;
    let isCapped = false;
    let hasTimedOut = false;
    let isSettled = false;
    const stderrChunks: Buffer[] = [];
    let stderrKept = 0;

    const killGroup = (): void => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // ESRCH: the whole group has exited already; there is nothing left to stop.
      }
    };
    const timer = setTimeout(() => {
      hasTimedOut = true;
      killGroup();
    }, timeoutMs);

    child.stdout?.on('data', (chunk: Buffer) => {
      if (isCapped) return;
      seen += chunk.length;
      if (kept < maxKept) {
        const part = chunk.length <= maxKept - kept ? chunk : chunk.subarray(0, maxKept - kept);
        chunks.push(part);
        kept += part.length;
      }
      if (seen > maxCounted) {
        isCapped = true;
        killGroup();
      }
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      if (stderrKept >= MAX_STDERR_BYTES) return;
      const part = chunk.subarray(0, MAX_STDERR_BYTES - stderrKept);
      stderrChunks.push(part);
      stderrKept += part.length;
    });
    if (invocation.input !== undefined && child.stdin) {
      // git may exit before reading all of stdin (EPIPE); its exit status tells what went wrong.
      child.stdin.on('error', () => {});
      child.stdin.end(invocation.input);
    }

    child.on('error', (error) => {
      clearTimeout(timer);
      if (isSettled) return;
      isSettled = true;
      reject(new ToolError('GIT_ERROR', `could not run git: ${error.message}`, { cause: error }));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (isSettled) return;
      isSettled = true;
      const stderr = Buffer.concat(stderrChunks).toString('utf8');
      if (hasTimedOut) {
        reject(
          new ToolError('TIMEOUT', `git ${subcommand} did not finish within ${timeoutMs} ms`, {
            details: { timeout_ms: timeoutMs },
          }),
        );
        return;
      }
      const exitCode = code ?? -1;
      const output = { stdout: Buffer.concat(chunks), stdoutBytes: seen, isCapped, exitCode, stderr };
      if (isCapped || exitCode === 0 || invocation.okExitCodes?.includes(exitCode)) {
        resolve(output);
        return;
      }
      reject(gitFailure(subcommand, stderr, exitCode));
    });
  });
}

/** A failed git call as GIT_ERROR, carrying git's own stderr (bounded) as the message. */
export function gitFailure(subcommand: string, stderr: string, exitCode: number): ToolError {
  const text = stderr.trim();
  const message =
    text === ''
      ? `git ${subcommand} exited with code ${exitCode}`
      : text.length > MAX_ERROR_MESSAGE_CHARS
        ? `${text.slice(0, MAX_ERROR_MESSAGE_CHARS)}…`
        : text;
  return new ToolError('GIT_ERROR', message, { details: { command: subcommand, exit_code: exitCode } });
}
