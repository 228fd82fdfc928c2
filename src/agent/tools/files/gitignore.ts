import { lstat, readFile } from 'node:fs/promises';
import path from 'node:path';

/**
 * The ignore files list_dir honours, lowest precedence first: the same set and
 * order ripgrep uses for list_files and search_text (with --no-require-git), so
 * the three tools agree on what "ignored" means.
 */
const IGNORE_FILES = ['.gitignore', '.ignore', '.rgignore'];
const MAX_IGNORE_FILE_BYTES = 1024 * 1024;

/** One line of an ignore file. */
export interface IgnoreRule {
  /** Directory of the ignore file, workspace-relative; '' for the root. */
  base: string;
  regex: RegExp;
  isNegated: boolean;
  isDirOnly: boolean;
}

/** Parses an ignore file with gitignore syntax; `base` is the directory that holds it. */
export function parseIgnoreFile(text: string, base: string): IgnoreRule[] {
  const rules: IgnoreRule[] = [];
  for (const rawLine of text.split('\n')) {
    let pattern = rawLine.endsWith('\r') ? rawLine.slice(0, -1) : rawLine;
    if (pattern.startsWith('#')) continue;
    // Trailing spaces do not count unless escaped with a backslash.
    while (pattern.endsWith(' ') && !pattern.endsWith('\\ ')) pattern = pattern.slice(0, -1);
    const isNegated = pattern.startsWith('!');
    if (isNegated) pattern = pattern.slice(1);
    const isDirOnly = pattern.endsWith('/');
    if (isDirOnly) pattern = pattern.replace(/\/+$/, '');
    // A slash anywhere but at the end anchors the pattern to the ignore file's directory.
    const isAnchored = pattern.includes('/');
    if (pattern.startsWith('/')) pattern = pattern.slice(1);
    if (pattern === '') continue;
    const source = `^${isAnchored ? '' : '(?:.*/)?'}${globToRegexSource(pattern)}$`;
    rules.push({ base: base === '.' ? '' : base, regex: new RegExp(source, 's'), isNegated, isDirOnly });
  }
  return rules;
}

/** Whether the last rule that matches `relativePath` (workspace-relative) excludes it. */
export function isIgnored(rules: readonly IgnoreRule[], relativePath: string, isDir: boolean): boolean {
  let isExcluded = false;
  for (const rule of rules) {
    if (rule.isDirOnly && !isDir) continue;
    let subject = relativePath;
    if (rule.base !== '') {
      if (!relativePath.startsWith(`${rule.base}/`)) continue;
      subject = relativePath.slice(rule.base.length + 1);
    }
    if (rule.regex.test(subject)) isExcluded = !rule.isNegated;
  }
  return isExcluded;
}

/** The rules a directory adds: its ignore files, plus .git/info/exclude at the root. */
export async function loadIgnoreRules(absoluteDir: string, relativeDir: string): Promise<IgnoreRule[]> {
  const base = relativeDir === '.' ? '' : relativeDir;
  const names = base === '' ? [path.join('.git', 'info', 'exclude'), ...IGNORE_FILES] : IGNORE_FILES;
  const rules: IgnoreRule[] = [];
  for (const name of names) {
    const text = await readSmallRegularFile(path.join(absoluteDir, name));
    if (text !== null) rules.push(...parseIgnoreFile(text, base));
  }
  return rules;
}

/** Reads an ignore file that is a plain file of sane size; a symlink, FIFO or huge file is skipped. */
async function readSmallRegularFile(absolute: string): Promise<string | null> {
  try {
    const stats = await lstat(absolute);
    if (!stats.isFile() || stats.size > MAX_IGNORE_FILE_BYTES) return null;
    return await readFile(absolute, 'utf8');
  } catch {
    // Absent or unreadable: an ignore file that cannot be read ignores nothing, as for git.
    return null;
  }
}

/** Translates one gitignore glob to a regular expression over '/'-separated paths. */
export function globToRegexSource(glob: string): string {
  let source = '';
  let index = 0;
  while (index < glob.length) {
    const char = glob[index] as string;
    if (char === '*' && glob[index + 1] === '*') {
      const isSegmentStart = index === 0 || glob[index - 1] === '/';
      const after = glob[index + 2];
      if (isSegmentStart && after === '/') {
        source += '(?:.*/)?'; // "**/": any number of directories, including none
        index += 3;
        continue;
      }
      if (isSegmentStart && after === undefined) {
        source += '.*'; // "/**" at the end: everything inside
        index += 2;
        continue;
      }
      source += '[^/]*';
      index += 2;
      continue;
    }
    if (char === '*') source += '[^/]*';
    else if (char === '?') source += '[^/]';
    else if (char === '[') {
      const parsed = parseClass(glob, index);
      if (parsed !== null) {
        source += parsed.source;
        index = parsed.end;
        continue;
      }
      source += '\\[';
    } else if (char === '\\') {
      const next = glob[index + 1];
      if (next !== undefined) source += escapeRegex(next);
      index += 2;
      continue;
    } else source += escapeRegex(char);
    index++;
  }
  return source;
}

/** A bracket expression starting at `start`, or null when it is not closed (then '[' is literal). */
function parseClass(glob: string, start: number): { source: string; end: number } | null {
  let index = start + 1;
  let isNegated = false;
  if (glob[index] === '!' || glob[index] === '^') {
    isNegated = true;
    index++;
  }
  let body = '';
  let isFirst = true;
  while (index < glob.length) {
    const char = glob[index] as string;
    if (char === ']' && !isFirst) {
      // A class never matches the path separator.
      return { source: `(?!/)[${isNegated ? '^' : ''}${body}]`, end: index + 1 };
    }
    if (char === '\\' && index + 1 < glob.length) {
      body += `\\${glob[index + 1]}`;
      index += 2;
    } else {
      body += char === '-' ? '-' : char.replace(/[\\\]^[]/g, '\\$&');
      index++;
    }
    isFirst = false;
  }
  return null;
}

function escapeRegex(char: string): string {
  return char.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
