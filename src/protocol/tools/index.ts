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

/** The tools that run inside the sandbox, through the agent. */
export const agentToolSpecs: AgentToolSpec[] = [
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
