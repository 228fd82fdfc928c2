import type { GitStatusEntry, GitStatusOutput, GitStatusTool } from '#protocol/tools/git';
import type { ToolHandler } from '../context.ts';
import { listLines, summarize } from '../summary.ts';
import { git, openRepository, type Repository, toPathspec, toWorkspacePath } from './repository.ts';

/** Room for the branch headers plus one rename record of two long paths per entry. */
function outputCap(maxEntries: number): number {
  return Math.min(16 * 1024 * 1024, 64 * 1024 + maxEntries * 8448);
}

export const gitStatus: ToolHandler<typeof GitStatusTool> = async (context, input) => {
  const repository = await openRepository(context, input.path);
  const pathspec = await toPathspec(repository, input.path);
  const maxEntries = Math.min(input.max_entries, context.limits.maxResults);
  const output = await git(repository, {
    args: [
      'status',
      '--porcelain=v2',
      '--branch',
      '-z',
      '--ahead-behind',
      '--find-renames',
      // 'dirty' compares submodule commits only, so git never runs inside a submodule.
      '--ignore-submodules=dirty',
      `--untracked-files=${input.include_untracked ? 'normal' : 'no'}`,
      '--',
      pathspec,
    ],
    maxStdoutBytes: outputCap(maxEntries),
  });
  const parsed = parseStatus(output.stdout.toString('utf8'));
  const entries = parsed.entries.slice(0, maxEntries).map((entry) => inWorkspace(repository, entry));
  const result: GitStatusOutput = {
    repo_root: repository.rootRelative,
    ...parsed.branch,
    entries,
    total_entries: parsed.entries.length,
    truncated: output.isCapped || parsed.entries.length > maxEntries,
  };
  return { summary: statusSummary(result), result };
};

function inWorkspace(repository: Repository, entry: GitStatusEntry): GitStatusEntry {
  const mapped = { ...entry, path: toWorkspacePath(repository, entry.path) };
  if (entry.orig_path !== undefined) mapped.orig_path = toWorkspacePath(repository, entry.orig_path);
  return mapped;
}

type BranchInfo = Pick<GitStatusOutput, 'branch' | 'head' | 'is_detached' | 'upstream' | 'ahead' | 'behind'>;

/** Parses `git status --porcelain=v2 --branch -z`; a record cut short by the output cap is dropped. */
export function parseStatus(text: string): { branch: BranchInfo; entries: GitStatusEntry[] } {
  const branch: BranchInfo = {
    branch: null,
    head: null,
    is_detached: false,
    upstream: null,
    ahead: null,
    behind: null,
  };
  const entries: GitStatusEntry[] = [];
  const records = text.split('\0');
  // Every record ends with a NUL: the last piece is empty, or partial when git was stopped.
  records.pop();
  for (let index = 0; index < records.length; index++) {
    const record = records[index] as string;
    const kind = record[0];
    if (kind === '#') {
      readHeader(record, branch);
    } else if (kind === '1') {
      const [xy, path] = split(record, 8);
      entries.push(entry(path, xy, 'changed'));
    } else if (kind === '2') {
      const [xy, path, fields] = split(record, 9);
      const origPath = records[index + 1];
      if (origPath === undefined) break;
      index++;
      const renameOrCopy = fields[8]?.startsWith('C') ? 'copied' : 'renamed';
      entries.push({ ...entry(path, xy, renameOrCopy), orig_path: origPath });
    } else if (kind === 'u') {
      const [xy, path] = split(record, 10);
      entries.push(entry(path, xy, 'unmerged'));
    } else if (kind === '?') {
      entries.push({ path: record.slice(2), index_status: '?', worktree_status: '?', kind: 'untracked' });
    }
  }
  return { branch, entries };
}

/** Splits off `count` space-separated fields; the rest of the record is the path, spaces and all. */
function split(record: string, count: number): [xy: string, path: string, fields: string[]] {
  const fields: string[] = [];
  let start = 0;
  for (let field = 0; field < count; field++) {
    const space = record.indexOf(' ', start);
    if (space < 0) break;
    fields.push(record.slice(start, space));
    start = space + 1;
  }
  return [fields[1] ?? '..', record.slice(start), fields];
}

function entry(path: string, xy: string, kind: GitStatusEntry['kind']): GitStatusEntry {
  return { path, index_status: xy[0] ?? '.', worktree_status: xy[1] ?? '.', kind };
}

function readHeader(record: string, branch: BranchInfo): void {
  const [, key, ...rest] = record.split(' ');
  const value = rest.join(' ');
  switch (key) {
    case 'branch.oid':
      branch.head = value === '(initial)' ? null : value;
      break;
    case 'branch.head':
      branch.is_detached = value === '(detached)';
      branch.branch = branch.is_detached ? null : value;
      break;
    case 'branch.upstream':
      branch.upstream = value;
      break;
    case 'branch.ab': {
      const match = /^\+(\d+) -(\d+)$/.exec(value);
      if (match) {
        branch.ahead = Number(match[1]);
        branch.behind = Number(match[2]);
      }
      break;
    }
  }
}

function statusSummary(result: GitStatusOutput): string {
  const where = result.is_detached
    ? `HEAD detached at ${result.head?.slice(0, 12) ?? '?'}`
    : `On branch ${result.branch ?? '?'}${result.head === null ? ' (no commits yet)' : ''}`;
  const tracking =
    result.upstream === null
      ? ''
      : `, tracking ${result.upstream}${result.ahead === null ? '' : ` (ahead ${result.ahead}, behind ${result.behind})`}`;
  const repo = result.repo_root === '.' ? '' : ` [repository ${result.repo_root}]`;
  if (result.total_entries === 0) return `${where}${tracking}${repo}: working tree clean`;
  const count = `${result.total_entries}${result.truncated ? '+' : ''} changed path${result.total_entries === 1 ? '' : 's'}`;
  const lines = result.entries.map(
    (item) =>
      `${item.index_status}${item.worktree_status} ${item.path}${item.orig_path === undefined ? '' : ` (from ${item.orig_path})`}`,
  );
  const shownNote = result.entries.length < result.total_entries ? ` (showing ${result.entries.length})` : '';
  return summarize(
    `${where}${tracking}${repo}: ${count}${shownNote}`,
    listLines(lines, result.total_entries),
  );
}
