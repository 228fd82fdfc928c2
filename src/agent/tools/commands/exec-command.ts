import { existsSync, type Stats, statSync } from 'node:fs';
import { ToolError } from '#protocol/errors';
import type { ExecCommandTool } from '#protocol/tools/commands';
import { commandEnv } from '../../exec/env.ts';
import { commandArgv, SCRIPT_PATH, SHELL_PATH } from '../../exec/launch.ts';
import type { CommandTable } from '../../exec/table.ts';
import { mapFsError, resolveExisting } from '../../paths.ts';
import type { ToolHandler } from '../context.ts';
import { describeCommand } from './describe.ts';

/** exec_command: starts a command in the workspace and waits up to yield_time_ms for it. */
export function execCommand(table: CommandTable, home: string): ToolHandler<typeof ExecCommandTool> {
  return async (context, input) => {
    const workdirInput = input.workdir ?? input.cwd ?? '.';
    const workdir = await resolveExisting(context.workspaceRoot, workdirInput);
    // Synchronous, as in paths.ts: a round trip to libuv's thread pool costs more than the lookup.
    let info: Stats;
    try {
      info = statSync(workdir.absolute);
    } catch (error) {
      throw mapFsError(error, workdirInput);
    }
    if (!info.isDirectory())
      throw new ToolError('NOT_A_DIRECTORY', `workdir is not a directory: ${workdirInput}`);
    if (input.tty && !existsSync(SCRIPT_PATH)) {
      throw new ToolError('TTY_UNSUPPORTED', 'this image has no `script` to allocate a pseudo-terminal');
    }
    const limits = context.limits;
    const timeoutMs = Math.min(
      input.timeout_ms ?? limits.defaultCommandTimeoutMs,
      limits.maxCommandTimeoutMs,
    );
    const env: Record<string, string> = {
      ...commandEnv(input.env, { home, isTty: input.tty }),
      // script(1) runs the command with $SHELL -c.
      ...(input.tty ? { SHELL: SHELL_PATH } : {}),
    };
    await table.launcherSettled();
    const command = table.start({
      argv: commandArgv(input.cmd, { isTty: input.tty }),
      cwd: workdir.absolute,
      env,
      timeoutMs,
      isTty: input.tty,
      stdin: input.stdin,
    });
    // Even with yield_time_ms 0, a command that could not start is reported failed, not running.
    await command.started;
    await command.waitUpTo(input.yield_time_ms);
    return describeCommand(command, input);
  };
}
