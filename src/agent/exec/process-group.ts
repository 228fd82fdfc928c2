import { readdirSync, readFileSync } from 'node:fs';

const GROUP_KILL_INTERVAL_MS = 50;
const GROUP_KILL_ATTEMPTS = 100;

/** Signals a process group; false once the group no longer exists. */
function sendToGroup(pgid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false; // ESRCH: no process is left in the group.
  }
}

/** The parent pid in a /proc/<pid>/stat line: the field after the state, which follows `(comm)`. */
export function parentPidOf(stat: string): number | undefined {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ppid = Number(fields[1]);
  return Number.isSafeInteger(ppid) ? ppid : undefined;
}

/**
 * The process group of the shell that script(1) runs on a pseudo-terminal.
 * script's child calls setsid() to take the terminal, so a TTY command runs in
 * a session of its own, outside the group of script, the command's leader.
 * script has one child, that shell, which leads the new session and its group.
 * Undefined when script has exited, or not forked its shell yet.
 */
function terminalGroupOf(scriptPid: number): number | undefined {
  let children: string;
  try {
    children = readFileSync(`/proc/${scriptPid}/task/${scriptPid}/children`, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') return undefined;
    // gVisor (runsc 2022-12-19) has no children file: find the process whose parent is script.
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        if (parentPidOf(readFileSync(`/proc/${entry}/stat`, 'utf8')) === scriptPid) return Number(entry);
      } catch {
        // That process has gone meanwhile.
      }
    }
    return undefined;
  }
  const shellPid = Number.parseInt(children, 10);
  return Number.isSafeInteger(shellPid) && shellPid > 0 ? shellPid : undefined;
}

/**
 * Sends a signal to every process of a command.
 *
 * On a terminal the command runs in its shell's group, and script(1), told TERM
 * itself, relays it to the shell and then holds on for 2 s before it kills it
 * (util-linux 2.38: exit after 2001 ms, code 0; the shell's group told directly:
 * 13 ms, code 143). So any other signal goes to the shell's group, and script
 * follows its shell out; script's own group only while the shell is not yet in
 * a group of its own. KILL goes to both, as script cannot relay it.
 *
 * SIGKILL is repeated until the groups are empty: a fork bomb forks new members
 * while the first kill walks the group, and one that survives refills the pids
 * limit. (Linux hands out pids in order, so a group's number is not reused
 * while these few seconds pass.)
 */
export function signalCommandGroups(leaderPid: number, isTty: boolean, signal: NodeJS.Signals): void {
  const candidates = isTty ? [terminalGroupOf(leaderPid), leaderPid] : [leaderPid];
  const targets = candidates.filter((group): group is number => group !== undefined);
  if (signal !== 'SIGKILL') {
    targets.find((group) => sendToGroup(group, signal));
    return;
  }
  let groups = targets.filter((group) => sendToGroup(group, signal));
  if (groups.length === 0) return;
  let attempts = 0;
  const again = setInterval(() => {
    groups = groups.filter((group) => sendToGroup(group, signal));
    if (groups.length === 0 || ++attempts >= GROUP_KILL_ATTEMPTS) clearInterval(again);
  }, GROUP_KILL_INTERVAL_MS);
  again.unref();
}
