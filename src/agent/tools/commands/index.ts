import { ExecCommandTool, KillCommandTool, ReadOutputTool, WriteStdinTool } from '#protocol/tools/commands';
import type { CommandTable } from '../../exec/table.ts';
import { execCommand } from './exec-command.ts';
import { killCommand } from './kill-command.ts';
import { readOutput } from './read-output.ts';
import { writeStdin } from './write-stdin.ts';

/** The four command tools, bound to the workspace's command table. */
export function createCommandTools(table: CommandTable, home: string) {
  return {
    exec_command: { spec: ExecCommandTool, handler: execCommand(table, home) },
    write_stdin: { spec: WriteStdinTool, handler: writeStdin(table) },
    kill_command: { spec: KillCommandTool, handler: killCommand(table) },
    read_output: { spec: ReadOutputTool, handler: readOutput(table) },
  };
}
