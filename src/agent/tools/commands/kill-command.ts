import type { KillCommandTool, KillStatus } from '#protocol/tools/commands';
import type { Command } from '../../exec/command.ts';
import type { CommandTable } from '../../exec/table.ts';
import type { ToolHandler } from '../context.ts';
import { describeCommand } from './describe.ts';

const signalNames = {
  TERM: 'SIGTERM',
  KILL: 'SIGKILL',
  INT: 'SIGINT',
  HUP: 'SIGHUP',
  QUIT: 'SIGQUIT',
} as const;

/** Signals a running command, escalating to KILL after wait_ms; says how it went. */
async function stopRunning(
  command: Command,
  signal: NodeJS.Signals,
  waits: { wait_ms: number; kill_wait_ms: number },
): Promise<Exclude<KillStatus, 'not_found' | 'exited'>> {
  command.kill(signal);
  await command.waitUpTo(waits.wait_ms);
  if (!command.isRunning) return signal === 'SIGKILL' ? 'killed' : 'terminated';
  command.kill('SIGKILL');
  await command.waitUpTo(waits.kill_wait_ms);
  return command.isRunning ? 'terminating' : 'killed';
}

/** kill_command: signals a command's whole process group and reports what that did. */
export function killCommand(table: CommandTable): ToolHandler<typeof KillCommandTool> {
  return async (_context, input) => {
    let command: Command;
    try {
      command = table.get(input.command_id);
    } catch {
      return {
        summary: `No command ${input.command_id} in this workspace`,
        result: { command_id: input.command_id, status: 'not_found' as const },
      };
    }
    const signal = signalNames[input.signal.replace(/^SIG/, '') as keyof typeof signalNames];
    let killStatus: Exclude<KillStatus, 'not_found'>;
    if (command.isRunning) {
      killStatus = await stopRunning(command, signal, input);
    } else {
      killStatus = 'exited';
      // The leader is gone, but what it left in its process group (`server &`, a
      // fork bomb) still answers to the group, and nothing else could stop it: a
      // bomb that holds every pid leaves no room to spawn even `kill`. The pid
      // cannot be reused while that group lives; if it is gone and a newer
      // command now leads a group with the same number, leave that one alone.
      if (!table.isLedByAnotherRunningCommand(command)) command.kill(signal);
    }
    const described = describeCommand(command, input);
    return {
      summary: `kill_command: ${killStatus}. ${described.summary}`,
      result: { ...described.result, status: killStatus, command_status: described.result.status },
    };
  };
}
