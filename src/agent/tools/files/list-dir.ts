import type { Dirent } from 'node:fs';
import { lstat, opendir } from 'node:fs/promises';
import path from 'node:path';
import type { DirEntry, EntryType, ListDirTool } from '#protocol/tools/files';
import { mapFsError } from '../../paths.ts';
import type { ToolHandler } from '../context.ts';
import { summarizeLines } from '../summary.ts';
import { resolveDirectory } from './file-access.ts';
import { type IgnoreRule, isIgnored, loadIgnoreRules } from './gitignore.ts';
import { formatBytes } from './text.ts';

type SortKey = 'name' | 'mtime' | 'size';

const STAT_BATCH = 64;

interface PendingDir {
  absolute: string;
  relative: string;
  depth: number;
  rules: IgnoreRule[];
}

interface WalkOptions {
  maxDepth: number;
  maxEntries: number;
  isHiddenIncluded: boolean;
  isIgnoredIncluded: boolean;
  sort: SortKey;
}

/**
 * list_dir: breadth-first, so when max_entries cuts the listing the entries
 * nearest the top are the ones kept. Symlinks are reported, never entered.
 */
export const listDir: ToolHandler<typeof ListDirTool> = async (context, input) => {
  const { resolved: start, displayPath } = await resolveDirectory(context.workspaceRoot, input.path);
  const options: WalkOptions = {
    maxDepth: input.recursive ? input.max_depth : 1,
    maxEntries: Math.min(input.max_entries, context.limits.maxResults),
    isHiddenIncluded: input.include_hidden,
    isIgnoredIncluded: input.include_ignored,
    sort: input.sort,
  };
  const rules = options.isIgnoredIncluded ? [] : await rulesDownTo(context.workspaceRoot, start.relative);
  const { entries, isTruncated } = await walk({ ...start, depth: 1, rules }, options);
  entries.sort(comparator(options.sort));

  const result = { path: displayPath, entries, truncated: isTruncated };
  const count = entries.length === 1 ? '1 entry' : `${entries.length} entries`;
  const cut = isTruncated ? ` (truncated at max_entries ${options.maxEntries}; the shallowest are kept)` : '';
  const header = `Listed ${displayPath}: ${count}${cut}`;
  return { summary: summarizeLines(header, entries.map(describeEntry)), result };
};

/** Ignore rules of the root and of every directory from it down to `relative`. */
async function rulesDownTo(root: string, relative: string): Promise<IgnoreRule[]> {
  const rules = await loadIgnoreRules(root, '.');
  if (relative === '.') return rules;
  let current = '';
  for (const segment of relative.split('/')) {
    current = current === '' ? segment : `${current}/${segment}`;
    rules.push(...(await loadIgnoreRules(path.join(root, current), current)));
  }
  return rules;
}

async function walk(
  first: PendingDir,
  options: WalkOptions,
): Promise<{ entries: DirEntry[]; isTruncated: boolean }> {
  const entries: DirEntry[] = [];
  const queue: PendingDir[] = [first];
  const order = comparator(options.sort);
  for (let head = 0; head < queue.length; head++) {
    const dir = queue[head] as PendingDir;
    const found = (await readEntries(dir, options)).sort(order);
    for (const entry of found) {
      if (entries.length >= options.maxEntries) return { entries, isTruncated: true };
      entries.push(entry);
      if (entry.type === 'dir' && dir.depth < options.maxDepth) {
        const absolute = path.join(dir.absolute, entry.name);
        const rules = options.isIgnoredIncluded
          ? dir.rules
          : [...dir.rules, ...(await loadIgnoreRules(absolute, entry.path))];
        queue.push({ absolute, relative: entry.path, depth: dir.depth + 1, rules });
      }
    }
  }
  return { entries, isTruncated: false };
}

/** The entries of one directory that pass the hidden and ignore filters. */
async function readEntries(dir: PendingDir, options: WalkOptions): Promise<DirEntry[]> {
  const kept: Dirent[] = [];
  try {
    for await (const dirent of await opendir(dir.absolute)) {
      if (!options.isHiddenIncluded && dirent.name.startsWith('.')) continue;
      if (!options.isIgnoredIncluded) {
        // .git is git's own bookkeeping, ignored the way git ignores it.
        if (dirent.name === '.git') continue;
        if (isIgnored(dir.rules, childPath(dir, dirent.name), dirent.isDirectory())) continue;
      }
      kept.push(dirent);
    }
  } catch (error) {
    throw mapFsError(error, dir.relative);
  }
  const entries: DirEntry[] = [];
  for (let index = 0; index < kept.length; index += STAT_BATCH) {
    const batch = kept.slice(index, index + STAT_BATCH);
    const stats = await Promise.all(
      batch.map((dirent) => lstat(path.join(dir.absolute, dirent.name)).catch(() => null)),
    );
    batch.forEach((dirent, at) => {
      const entryStats = stats[at];
      // An entry removed between readdir and lstat is simply no longer there.
      if (entryStats === null || entryStats === undefined) return;
      entries.push({
        name: dirent.name,
        path: childPath(dir, dirent.name),
        type: entryType(dirent),
        size: entryStats.size,
        mtime: entryStats.mtime.toISOString(),
      });
    });
  }
  return entries;
}

function childPath(dir: PendingDir, name: string): string {
  return dir.relative === '.' ? name : `${dir.relative}/${name}`;
}

function entryType(dirent: Dirent): EntryType {
  if (dirent.isSymbolicLink()) return 'symlink';
  if (dirent.isDirectory()) return 'dir';
  if (dirent.isFile()) return 'file';
  return 'other';
}

function comparator(sort: SortKey): (a: DirEntry, b: DirEntry) => number {
  const byPath = (a: DirEntry, b: DirEntry) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);
  if (sort === 'mtime') return (a, b) => (a.mtime < b.mtime ? 1 : a.mtime > b.mtime ? -1 : byPath(a, b));
  if (sort === 'size') return (a, b) => b.size - a.size || byPath(a, b);
  return byPath;
}

function describeEntry(entry: DirEntry): string {
  if (entry.type === 'dir') return `${entry.path}/`;
  if (entry.type === 'symlink') return `${entry.path}@`;
  if (entry.type === 'other') return `${entry.path} (special file)`;
  return `${entry.path}  ${formatBytes(entry.size)}`;
}
