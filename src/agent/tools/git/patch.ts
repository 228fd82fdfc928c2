import type { GitFileStat, GitPatch } from '#protocol/tools/git';
import { cutAtLine } from '../utf8.ts';
import { git, type Repository, toWorkspacePath } from './repository.ts';

/** Diff bytes counted past max_bytes to report a total; beyond this git is stopped. */
const MAX_COUNTED_DIFF_BYTES = 64 * 1024 * 1024;
const MAX_NUMSTAT_BYTES = 8 * 1024 * 1024;

export interface PatchRequest {
  /**
   * The subcommand and what it compares, e.g. ['diff', '--cached'] or
   * ['show', '--format=', '--diff-merges=first-parent', <sha>]. Only values the
   * agent produced itself (option names, object ids) go here, never model input.
   */
  compare: readonly string[];
  pathspecs: readonly string[];
  contextLines: number;
  maxBytes: number;
  maxFiles: number;
}

/**
 * Flags on every diff: external diff drivers and textconv filters are commands
 * the repository's config and .gitattributes choose, so both are off, and
 * submodules are summarised from their recorded commits without running git in them.
 */
const SAFE_DIFF_FLAGS = [
  '--no-ext-diff',
  '--no-textconv',
  '--no-color',
  '--find-renames',
  '--submodule=short',
];

/** The bounded unified diff and its per-file stats, from two git calls run side by side. */
export async function collectPatch(repository: Repository, request: PatchRequest): Promise<GitPatch> {
  const pathspecs = ['--', ...request.pathspecs];
  const [patch, numstat] = await Promise.all([
    git(repository, {
      args: [...request.compare, ...SAFE_DIFF_FLAGS, `--unified=${request.contextLines}`, ...pathspecs],
      maxStdoutBytes: request.maxBytes + 1,
      maxCountedBytes: MAX_COUNTED_DIFF_BYTES,
    }),
    git(repository, {
      args: [...request.compare, ...SAFE_DIFF_FLAGS, '--numstat', '-z', ...pathspecs],
      maxStdoutBytes: MAX_NUMSTAT_BYTES,
    }),
  ]);
  const cut = cutAtLine(patch.stdout, request.maxBytes);
  const files = parseNumstat(numstat.stdout.toString('utf8')).map((stat) => inWorkspace(repository, stat));
  return {
    diff: cut.text,
    truncated: cut.truncated,
    returned_bytes: cut.bytes,
    total_bytes: patch.stdoutBytes,
    is_total_exact: !patch.isCapped,
    files: files.slice(0, request.maxFiles),
    files_truncated: numstat.isCapped || files.length > request.maxFiles,
  };
}

function inWorkspace(repository: Repository, stat: GitFileStat): GitFileStat {
  const mapped = { ...stat, path: toWorkspacePath(repository, stat.path) };
  if (stat.old_path !== undefined) mapped.old_path = toWorkspacePath(repository, stat.old_path);
  return mapped;
}

/**
 * Parses `--numstat -z`: `added TAB deleted TAB path NUL`, or for a rename
 * `added TAB deleted TAB NUL old NUL new NUL`; '-' counts mark a binary file.
 * A record cut short by the output cap is dropped.
 */
export function parseNumstat(text: string): GitFileStat[] {
  const tokens = text.split('\0');
  // Every path ends with a NUL: the last piece is empty, or partial when git was stopped.
  tokens.pop();
  const stats: GitFileStat[] = [];
  for (let index = 0; index < tokens.length; index++) {
    const token = (tokens[index] as string).replace(/^\n+/, '');
    const firstTab = token.indexOf('\t');
    const secondTab = token.indexOf('\t', firstTab + 1);
    if (firstTab < 0 || secondTab < 0) continue;
    const added = token.slice(0, firstTab);
    const deleted = token.slice(firstTab + 1, secondTab);
    const isBinary = added === '-' || deleted === '-';
    const counts = {
      additions: isBinary ? null : Number(added),
      deletions: isBinary ? null : Number(deleted),
      is_binary: isBinary,
    };
    const inlinePath = token.slice(secondTab + 1);
    if (inlinePath !== '') {
      stats.push({ path: inlinePath, ...counts });
      continue;
    }
    const oldPath = tokens[index + 1];
    const newPath = tokens[index + 2];
    if (oldPath === undefined || newPath === undefined) break;
    index += 2;
    stats.push({ path: newPath, old_path: oldPath, ...counts });
  }
  return stats;
}

/** One line per file for a summary: `+3 -1 path` or `bin path`. */
export function fileStatLines(files: readonly GitFileStat[]): string[] {
  return files.map((file) => {
    const counts = file.is_binary ? 'binary' : `+${file.additions} -${file.deletions}`;
    const rename = file.old_path === undefined ? '' : ` (from ${file.old_path})`;
    return `${counts} ${file.path}${rename}`;
  });
}
