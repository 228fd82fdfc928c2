import type { ToolSpec } from '#protocol/tool-spec';
import { ApplyPatchTool } from '#protocol/tools/patch';
import type { Launcher } from '../exec/launcher.ts';
import { CommandTable } from '../exec/table.ts';
import { createCommandTools } from './commands/index.ts';
import type { ToolContext, ToolHandler } from './context.ts';
import { fileTools } from './files/index.ts';
import { gitTools } from './git/index.ts';
import { infoTools } from './info/index.ts';
import { applyPatch } from './patch/apply.ts';

export interface RegisteredTool {
  spec: ToolSpec;
  handler: ToolHandler<ToolSpec>;
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
  const groups: Record<string, { spec: ToolSpec; handler: unknown }>[] = [
    createCommandTools(commands, home),
    fileTools,
    gitTools,
    infoTools,
    { apply_patch: { spec: ApplyPatchTool, handler: applyPatch } },
  ];
  const tools = new Map<string, RegisteredTool>();
  for (const group of groups) {
    for (const [name, tool] of Object.entries(group)) {
      tools.set(name, tool as RegisteredTool);
    }
  }
  return { tools, commands };
}
