import type { AgentToolSpec } from '../tool-spec.ts';
import { ExecCommandTool, KillCommandTool, ReadOutputTool, WriteStdinTool } from './commands.ts';
import {
  ListDirTool,
  ListFilesTool,
  ReadFileTool,
  SearchTextTool,
  ViewImageTool,
  WriteFileTool,
} from './files.ts';
import { GitBlameTool, GitDiffTool, GitLogTool, GitShowTool, GitStatusTool } from './git.ts';
import { CheckExecEnvironmentTool } from './info.ts';
import { ApplyPatchTool } from './patch.ts';

/**
 * The tools that run inside the sandbox, through the agent: the one list the
 * MCP server registers, the agent dispatches by, and the reply budgets come from.
 */
export const agentTools = [
  ReadFileTool,
  WriteFileTool,
  ListDirTool,
  ListFilesTool,
  SearchTextTool,
  ViewImageTool,
  ApplyPatchTool,
  ExecCommandTool,
  WriteStdinTool,
  KillCommandTool,
  ReadOutputTool,
  GitStatusTool,
  GitDiffTool,
  GitLogTool,
  GitShowTool,
  GitBlameTool,
  CheckExecEnvironmentTool,
] as const;

export type AgentTool = (typeof agentTools)[number];
export type AgentToolName = AgentTool['name'];
/** The descriptor of the tool named N. */
export type AgentToolNamed<N extends AgentToolName> = Extract<AgentTool, { name: N }>;

/** The same list, each as any agent tool (for code that treats them alike). */
export const agentToolSpecs: readonly AgentToolSpec[] = agentTools;

const byName = new Map<string, AgentTool>(agentTools.map((tool) => [tool.name, tool]));

/** The descriptor of a tool by its name, or undefined for a name no agent tool has. */
export function agentToolNamed(name: string): AgentTool | undefined {
  return byName.get(name);
}
