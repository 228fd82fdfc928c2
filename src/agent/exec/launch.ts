import { spawn } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import type { Launcher, LaunchRequest } from './launcher.ts';

export const SHELL_PATH = '/bin/bash';
export const SCRIPT_PATH = '/usr/bin/script';

/** What a command needs of its process: Node's ChildProcess, or a LaunchedProcess from the launcher. */
export interface CommandProcess {
  readonly pid?: number | undefined;
  readonly stdin: Writable | null;
  readonly stdout: Readable | null;
  readonly stderr: Readable | null;
  once(event: 'spawn' | 'close', listener: () => void): unknown;
  once(event: 'error', listener: (error: Error) => void): unknown;
  once(event: 'exit', listener: (code: number | null, signal: NodeJS.Signals | null) => void): unknown;
}

/**
 * A tiny sh that raises its own OOM score and then execs the command in place,
 * so every process of the command starts at 1000 and a memory hog dies before
 * the agent. Written from the agent after spawn, the score raced with the
 * command's first forks (about a third of quick `a; b` commands ran `a` at 0).
 * exec keeps the command's own argv, so `ps` and `pkill -f` see it unchanged.
 * Only Node's spawn needs it: the launcher sets the score in the child itself.
 */
const OOM_WRAPPER = [
  '/bin/sh',
  '-c',
  '{ echo 1000 > /proc/self/oom_score_adj; } 2>/dev/null; exec "$@"',
  'sandboxd',
];

function shellQuote(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/** Whether execvp would find `program` (as spawn does, on the command's own PATH). */
function isLaunchable(program: string, cwd: string, searchPath: string | undefined): boolean {
  const candidates = program.includes('/')
    ? [path.resolve(cwd, program)]
    : (searchPath ?? '').split(':').map((directory) => path.resolve(cwd, directory, program));
  return candidates.some((file) => {
    try {
      accessSync(file, constants.X_OK);
      return statSync(file).isFile();
    } catch {
      return false;
    }
  });
}

/** What to run for a command: a string through bash, an argv as given, or either on a pseudo-terminal through script(1). */
export function commandArgv(cmd: string | string[], options: { isTty: boolean }): string[] {
  if (options.isTty) {
    const shellCommand = typeof cmd === 'string' ? cmd : cmd.map(shellQuote).join(' ');
    // script(1) runs $SHELL -c on a fresh pseudo-terminal and relays it; --return passes the exit code through.
    return [SCRIPT_PATH, '--quiet', '--flush', '--return', '--command', shellCommand, '/dev/null'];
  }
  return typeof cmd === 'string' ? [SHELL_PATH, '-c', cmd] : cmd;
}

/** Node's spawn, under the OOM wrapper: the way without a launcher, and the fallback when it is gone. */
function spawnWithNode(request: LaunchRequest): CommandProcess {
  const { argv, cwd, env } = request;
  // A program that cannot be launched is spawned as it is, so spawn's own error reports it as `failed`.
  const launched = isLaunchable(argv[0] as string, cwd, env.PATH) ? [...OOM_WRAPPER, ...argv] : argv;
  // detached: the command leads a new session and process group, pgid = pid.
  return spawn(launched[0] as string, launched.slice(1), {
    cwd,
    env,
    detached: true,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

/** Starts a command's process: through the launcher when it can take it, otherwise with Node's spawn. */
export function startProcess(request: LaunchRequest, launcher: Launcher | undefined): CommandProcess {
  return launcher?.spawn(request) ?? spawnWithNode(request);
}
