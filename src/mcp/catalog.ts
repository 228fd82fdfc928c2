import type { ToolSpec } from '../protocol/tool-spec.ts';
import {
  ExecCommandTool,
  KillCommandTool,
  ReadOutputTool,
  WriteStdinTool,
} from '../protocol/tools/commands.ts';
import {
  ListDirTool,
  ListFilesTool,
  ReadFileTool,
  SearchTextTool,
  ViewImageTool,
  WriteFileTool,
} from '../protocol/tools/files.ts';
import { GitBlameTool, GitDiffTool, GitLogTool, GitShowTool, GitStatusTool } from '../protocol/tools/git.ts';
import { CheckExecEnvironmentTool } from '../protocol/tools/info.ts';
import { ApplyPatchTool } from '../protocol/tools/patch.ts';

/** The tools that run inside the sandbox, through the agent. */
export const agentToolSpecs: ToolSpec[] = [
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
];

/** How long the control plane waits for a tool's reply: its own waiting time plus a margin. */
export function replyTimeoutMs(name: string, input: Record<string, unknown>): number {
  const margin = 30_000;
  const number = (key: string, fallback: number) =>
    typeof input[key] === 'number' ? (input[key] as number) : fallback;
  switch (name) {
    case 'exec_command':
    case 'write_stdin':
      return number('yield_time_ms', 10_000) + margin;
    case 'kill_command':
      return number('wait_ms', 2000) + number('kill_wait_ms', 2000) + margin;
    default:
      return 120_000;
  }
}
