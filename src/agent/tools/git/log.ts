import type { GitLogOutput, GitLogTool } from '#protocol/tools/git';
import type { ToolHandler } from '../context.ts';
import { summarize } from '../summary.ts';
import { COMMIT_FORMAT_FLAGS, commitLine, parseCommits } from './commits.ts';
import { checkRev, git, hasHeadCommit, openRepository, toPathspec } from './repository.ts';

/** Room per commit: headers plus a long message; bodies beyond it are clipped anyway. */
const BYTES_PER_COMMIT = 96 * 1024;
const MAX_LOG_BYTES = 16 * 1024 * 1024;

export const gitLog: ToolHandler<typeof GitLogTool> = async (context, input) => {
  const ref = input.ref === undefined ? undefined : checkRev(input.ref, 'ref');
  const repository = await openRepository(context, input.path ?? '.');
  const pathspecs = input.path === undefined ? [] : [await toPathspec(repository, input.path)];
  if (ref === undefined && !(await hasHeadCommit(repository))) {
    const result: GitLogOutput = { repo_root: repository.rootRelative, commits: [], has_more: false };
    return { summary: 'No commits yet.', result };
  }
  const wanted = input.max_count + 1;
  const output = await git(repository, {
    args: [
      'log',
      ...COMMIT_FORMAT_FLAGS,
      `--max-count=${wanted}`,
      `--skip=${input.skip}`,
      '--end-of-options',
      ref ?? 'HEAD',
      '--',
      ...pathspecs,
    ],
    maxStdoutBytes: Math.min(wanted * BYTES_PER_COMMIT, MAX_LOG_BYTES),
  });
  const commits = parseCommits(output.stdout.toString('utf8'));
  const result: GitLogOutput = {
    repo_root: repository.rootRelative,
    commits: commits.slice(0, input.max_count),
    has_more: commits.length > input.max_count || output.isCapped,
  };
  return { summary: logSummary(result, input.skip), result };
};

function logSummary(result: GitLogOutput, skip: number): string {
  if (result.commits.length === 0) {
    if (skip > 0) return `No commits after skipping ${skip}.`;
    return 'No commits match.';
  }
  const more = result.has_more ? `; more follow (skip=${skip + result.commits.length})` : '';
  const repo = result.repo_root === '.' ? '' : ` in repository ${result.repo_root}`;
  const head = `${result.commits.length} commit${result.commits.length === 1 ? '' : 's'}${repo}${more}`;
  return summarize(head, result.commits.map(commitLine).join('\n'));
}
