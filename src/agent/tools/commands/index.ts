import type { CommandTable } from '../../exec/table.ts';
import { bindTools } from '../context.ts';
import { execCommand } from './exec-command.ts';
import { killCommand } from './kill-command.ts';
import { readOutput } from './read-output.ts';
import { writeStdin } from './write-stdin.ts';

/** The four command tools, bound to the workspace's command table, each with its descriptor. */
export function createCommandTools(table: CommandTable, home: string) {
  return bindTools({
    exec_command: execCommand(table, home),
    write_stdin: writeStdin(table),
    kill_command: killCommand(table),
    read_output: readOutput(table),
  });
}
