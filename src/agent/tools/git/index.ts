import { bindTools } from '../context.ts';
import { gitBlame } from './blame.ts';
import { gitDiff } from './diff.ts';
import { gitLog } from './log.ts';
import { gitShow } from './show.ts';
import { gitStatus } from './status.ts';

/** The read-only git tools of the agent, each with its descriptor. */
export const gitTools = bindTools({
  git_status: gitStatus,
  git_diff: gitDiff,
  git_log: gitLog,
  git_show: gitShow,
  git_blame: gitBlame,
});
