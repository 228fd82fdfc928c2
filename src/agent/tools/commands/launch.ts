import { accessSync, constants, statSync } from 'node:fs';
import path from 'node:path';

export const SHELL_PATH = '/bin/bash';
export const SCRIPT_PATH = '/usr/bin/script';

/**
 * A tiny sh that raises its own OOM score and then execs the command in place,
 * so every process of the command starts at 1000 and a memory hog dies before
 * the agent. Written from the agent after spawn, the score raced with the
 * command's first forks (about a third of quick `a; b` commands ran `a` at 0).
 * exec keeps the command's own argv, so `ps` and `pkill -f` see it unchanged.
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

/**
 * What to spawn for a command: a string through bash, an argv as given, or
 * either on a pseudo-terminal through script(1); under the OOM wrapper.
 */
export function launchArgv(
  cmd: string | string[],
  options: { isTty: boolean; cwd: string; searchPath: string | undefined },
): string[] {
  let argv: string[];
  if (options.isTty) {
    const shellCommand = typeof cmd === 'string' ? cmd : cmd.map(shellQuote).join(' ');
    // script(1) runs $SHELL -c on a fresh pseudo-terminal and relays it; --return passes the exit code through.
    argv = [SCRIPT_PATH, '--quiet', '--flush', '--return', '--command', shellCommand, '/dev/null'];
  } else {
    argv = typeof cmd === 'string' ? [SHELL_PATH, '-c', cmd] : cmd;
  }
  // A program that cannot be launched is spawned as it is, so spawn's own error reports it as `failed`.
  return isLaunchable(argv[0] as string, options.cwd, options.searchPath) ? [...OOM_WRAPPER, ...argv] : argv;
}
