import { ToolError } from '#protocol/errors';
import type { WriteStdinTool } from '#protocol/tools/commands';
import type { CommandTable } from '../../exec/table.ts';
import type { ToolHandler } from '../context.ts';
import { describeCommand } from './describe.ts';

/** write_stdin: feeds a running command (empty chars only polls) and waits up to yield_time_ms. */
export function writeStdin(table: CommandTable): ToolHandler<typeof WriteStdinTool> {
  return async (_context, input) => {
    const command = table.get(input.command_id);
    if (input.chars.length > 0 && !command.writeStdin(input.chars)) {
      throw new ToolError('COMMAND_CLOSED', `command ${command.id} is no longer accepting input`, {
        details: { command_id: command.id, status: command.status },
      });
    }
    await command.waitUpTo(input.yield_time_ms);
    return describeCommand(command, input);
  };
}
