import { ToolError } from '#protocol/errors';
import type { GitDiffOutput, GitDiffTool } from '#protocol/tools/git';
import type { ToolHandler } from '../context.ts';
import { listLines, summarize } from '../summary.ts';
import { collectPatch, fileStatLines } from './patch.ts';
import { hasHeadCommit, openRepository, type Repository, toPathspecs } from './repository.ts';

/** The tree with no entries, what an unborn HEAD is compared as. */
const EMPTY_TREE: Record<string, string> = {
  sha1: '4b825dc642cb6eb9a060e54bf8d69288fbee4904',
  sha256: '6ef19b41225c5369f1c104d45d8d85efa9b057b53b14b4b9b939dd74decc5321',
};

export const gitDiff: ToolHandler<typeof GitDiffTool> = async (context, input) => {
  if (!input.staged && !input.unstaged) {
    throw new ToolError(
      'INVALID_ARGUMENT',
      'staged and unstaged are both false: there is nothing to compare',
    );
  }
  const repository = await openRepository(context, input.path ?? '.');
  const pathspecs = await toPathspecs(repository, input.path, input.paths);
  const compared: GitDiffOutput['compared'] = !input.unstaged
    ? 'head_to_index'
    : !input.staged
      ? 'index_to_worktree'
      : 'head_to_worktree';
  const patch = await collectPatch(repository, {
    compare: await compareArgs(repository, compared),
    pathspecs,
    contextLines: input.context_lines,
    maxBytes: input.max_bytes,
    maxFiles: Math.min(context.limits.maxResults, 10_000),
  });
  const result: GitDiffOutput = { repo_root: repository.rootRelative, compared, ...patch };
  return { summary: diffSummary(result), result };
};

async function compareArgs(repository: Repository, compared: GitDiffOutput['compared']): Promise<string[]> {
  switch (compared) {
    case 'head_to_index':
      // Works before the first commit too: git compares the index with an empty tree.
      return ['diff', '--cached'];
    case 'index_to_worktree':
      return ['diff'];
    case 'head_to_worktree':
      return ['diff', (await hasHeadCommit(repository)) ? 'HEAD' : emptyTree(repository)];
  }
}

function emptyTree(repository: Repository): string {
  const tree = EMPTY_TREE[repository.objectFormat];
  if (tree === undefined) {
    throw new ToolError('GIT_ERROR', `unsupported object format: ${repository.objectFormat}`);
  }
  return tree;
}

const COMPARED_LABEL: Record<GitDiffOutput['compared'], string> = {
  head_to_index: 'staged changes (HEAD → index)',
  index_to_worktree: 'unstaged changes (index → working tree)',
  head_to_worktree: 'all changes (HEAD → working tree)',
};

function diffSummary(result: GitDiffOutput): string {
  const label = COMPARED_LABEL[result.compared];
  const repo = result.repo_root === '.' ? '' : ` in repository ${result.repo_root}`;
  if (result.total_bytes === 0) return `No ${label}${repo}.`;
  const added = result.files.reduce((sum, file) => sum + (file.additions ?? 0), 0);
  const deleted = result.files.reduce((sum, file) => sum + (file.deletions ?? 0), 0);
  const fileCount = `${result.files.length}${result.files_truncated ? '+' : ''} file${result.files.length === 1 ? '' : 's'}`;
  const cut = result.truncated
    ? `; diff cut at ${result.returned_bytes} of ${result.total_bytes}${result.is_total_exact ? '' : '+'} bytes (raise max_bytes or narrow paths)`
    : '';
  const head = `Diff of ${label}${repo}: ${fileCount}, +${added} -${deleted}${cut}`;
  return summarize(
    head,
    `${listLines(fileStatLines(result.files), result.files.length, 50)}\n\n${result.diff}`,
  );
}
