import { lstat } from 'node:fs/promises';
import path from 'node:path';
import type { z } from 'zod';
import type { ListFilesResult, ListFilesTool } from '#protocol/tools/files';
import type { ToolHandler } from '../context.ts';
import { summarizeLines } from '../summary.ts';
import { resolveDirectory } from './file-access.ts';
import { baseArgs, globArgs, globsOf, ripgrepFailure, runRipgrep, workspacePath } from './ripgrep.ts';
import { plural } from './text.ts';

/** Sorting by mtime or size needs every candidate; past this many, the first ones found are sorted. */
const SORT_SCAN_CAP = 50_000;
const STAT_BATCH = 64;

/**
 * list_files: `rg --files`, so .gitignore, .ignore and hidden files are judged
 * exactly as search_text judges them. Symlinks are not followed.
 */
export const listFiles: ToolHandler<typeof ListFilesTool> = async (context, input) => {
  const { resolved: start, displayPath } = await resolveDirectory(context.workspaceRoot, input.path);
  const maxResults = Math.min(input.max_results, context.limits.maxResults);
  const statKey = input.sort === 'mtime' || input.sort === 'size' ? input.sort : null;
  const isPathOrder = statKey === null;
  const scanCap = isPathOrder ? maxResults + 1 : Math.max(maxResults + 1, SORT_SCAN_CAP);
  const args = [
    '--files',
    '--null',
    ...baseArgs(input.include_hidden, input.include_ignored),
    ...(isPathOrder ? ['--sort=path'] : []),
    ...globArgs(globsOf(input.patterns, input.glob), globsOf(input.exclude_patterns), input.include_ignored),
    '--',
    start.relative,
  ];

  const found: string[] = [];
  const exit = await runRipgrep({
    cwd: context.workspaceRoot,
    args,
    delimiter: 0,
    onRecord: (record) => {
      found.push(workspacePath(record.toString('utf8')));
      return found.length < scanCap;
    },
  });
  if (exit.exitCode === 2 && found.length === 0) throw ripgrepFailure(exit);

  const warnings: string[] = [];
  if (exit.hasTimedOut) warnings.push('listing stopped at the time limit; narrow path or patterns');
  if (exit.exitCode === 2 && exit.stderr !== '') warnings.push(exit.stderr);
  if (!isPathOrder && exit.isStopped) warnings.push(`sorted among the first ${SORT_SCAN_CAP} files found`);
  const ordered = statKey === null ? found : await sortByStat(context.workspaceRoot, found, statKey);
  const files = ordered.slice(0, maxResults);
  const result: z.input<typeof ListFilesResult> = {
    path: displayPath,
    files,
    truncated: found.length > maxResults || exit.isStopped || exit.hasTimedOut,
  };
  if (warnings.length > 0) result.warnings = warnings;

  const cut = result.truncated ? ` (truncated at max_results ${maxResults})` : '';
  const header = `Found ${plural(files.length, 'file')} under ${displayPath}${cut}`;
  return { summary: summarizeLines(header, [...files, ...warnings.map((w) => `warning: ${w}`)]), result };
};

/** Newest first or largest first; ties and vanished files fall back to path order. */
async function sortByStat(root: string, files: string[], key: 'mtime' | 'size'): Promise<string[]> {
  const weights = new Map<string, number>();
  for (let index = 0; index < files.length; index += STAT_BATCH) {
    const batch = files.slice(index, index + STAT_BATCH);
    const stats = await Promise.all(batch.map((file) => lstat(path.join(root, file)).catch(() => null)));
    batch.forEach((file, at) => {
      const entry = stats[at];
      weights.set(file, entry == null ? -1 : key === 'mtime' ? entry.mtimeMs : entry.size);
    });
  }
  return [...files].sort((a, b) => {
    const difference = (weights.get(b) ?? -1) - (weights.get(a) ?? -1);
    return difference !== 0 ? difference : a < b ? -1 : a > b ? 1 : 0;
  });
}
