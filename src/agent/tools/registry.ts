import type { AgentToolSpec } from '#protocol/tool-spec';
import { agentTools } from '#protocol/tools/index';
import type { Launcher } from '../exec/launcher.ts';
import { CommandTable } from '../exec/table.ts';
import { createCommandTools } from './commands/index.ts';
import { type AgentHandlers, bindTools, type ToolContext, type ToolHandler } from './context.ts';
import { fileTools } from './files/index.ts';
import { gitTools } from './git/index.ts';
import { infoTools } from './info/index.ts';
import { applyPatch } from './patch/apply.ts';

export interface RegisteredTool {
  spec: AgentToolSpec;
  handler: ToolHandler<AgentToolSpec>;
}

export interface ToolRegistry {
  tools: Map<string, RegisteredTool>;
  commands: CommandTable;
}

/** Every tool the agent serves, by contract name; commands start through `launcher` when given. */
export function createToolRegistry(
  context: () => ToolContext,
  home: string,
  launcher?: Launcher,
): ToolRegistry {
  const commands = new CommandTable(() => context().limits, launcher);
  const bound = {
    ...createCommandTools(commands, home),
    ...fileTools,
    ...gitTools,
    ...infoTools,
    ...bindTools({ apply_patch: applyPatch }),
  };
  // Checked here: a descriptor of protocol/tools without its handler fails to compile.
  const handlers: AgentHandlers = Object.fromEntries(
    Object.entries(bound).map(([name, tool]) => [name, tool.handler]),
  ) as { [N in keyof typeof bound]: (typeof bound)[N]['handler'] };
  const tools = new Map<string, RegisteredTool>(
    agentTools.map((spec) => [
      spec.name,
      { spec, handler: handlers[spec.name] as ToolHandler<AgentToolSpec> },
    ]),
  );
  return { tools, commands };
}
