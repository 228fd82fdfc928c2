import { GitBlameTool, GitDiffTool, GitLogTool, GitShowTool, GitStatusTool } from '#protocol/tools/git';
import { gitBlame } from './blame.ts';
import { gitDiff } from './diff.ts';
import { gitLog } from './log.ts';
import { gitShow } from './show.ts';
import { gitStatus } from './status.ts';

/** The read-only git tools of the agent, by contract name. */
export const gitTools = {
  git_status: { spec: GitStatusTool, handler: gitStatus },
  git_diff: { spec: GitDiffTool, handler: gitDiff },
  git_log: { spec: GitLogTool, handler: gitLog },
  git_show: { spec: GitShowTool, handler: gitShow },
  git_blame: { spec: GitBlameTool, handler: gitBlame },
} as const;
