import { stat } from 'node:fs/promises';
import { ToolError } from '#protocol/errors';
import type { GitBlameLine, GitBlameOutput, GitBlameTool } from '#protocol/tools/git';
import { mapFsError, resolveExisting } from '../../paths.ts';
import type { ToolHandler } from '../context.ts';
import { summarize } from '../summary.ts';
import { checkRev, git, openRepository, resolveCommit, toPathspec, toWorkspacePath } from './repository.ts';
import { clip } from './text.ts';

const MAX_BLAME_BYTES = 16 * 1024 * 1024;
const MAX_CONTENT_CHARS = 65_536;

export const gitBlame: ToolHandler<typeof GitBlameTool> = async (context, input) => {
  const rev = input.rev === undefined ? undefined : checkRev(input.rev);
  const start = input.start_line ?? 1;
  if (input.end_line !== undefined && input.end_line < start) {
    throw new ToolError('INVALID_ARGUMENT', `end_line ${input.end_line} is before start_line ${start}`);
  }
  if (rev === undefined) await ensureWorktreeFile(context.workspaceRoot, input.path);
  const repository = await openRepository(context, input.path);
  const pathspec = await toPathspec(repository, input.path);
  if (pathspec === '.') throw new ToolError('IS_DIRECTORY', `is a directory: ${input.path}`);
  const commit = rev === undefined ? undefined : await resolveCommit(repository, rev);

  // One line past max_lines tells whether the range goes on; git clamps a count past the end of the file.
  const rangeLines = Math.min(
    input.end_line === undefined ? Infinity : input.end_line - start + 1,
    input.max_lines + 1,
  );
  const output = await git(repository, {
    args: [
      'blame',
      '--porcelain',
      // textconv runs a command chosen by .gitattributes and the repository's config.
      '--no-textconv',
      '-L',
      `${start},+${rangeLines}`,
      ...(commit === undefined ? [] : [commit]),
      '--',
      pathspec,
    ],
    maxStdoutBytes: MAX_BLAME_BYTES,
  });
  const lines = parseBlame(output.stdout.toString('utf8'));
  const result: GitBlameOutput = {
    repo_root: repository.rootRelative,
    path: toWorkspacePath(repository, pathspec),
    rev: rev ?? null,
    lines: lines.slice(0, input.max_lines),
    truncated: output.isCapped || lines.length > input.max_lines,
  };
  return { summary: blameSummary(result), result };
};

/** Without a rev git blames the working tree file, which must exist and be a file. */
async function ensureWorktreeFile(workspaceRoot: string, input: string): Promise<void> {
  const resolved = await resolveExisting(workspaceRoot, input);
  const stats = await stat(resolved.absolute).catch((error: unknown) => {
    throw mapFsError(error, input);
  });
  if (stats.isDirectory())
    throw new ToolError('IS_DIRECTORY', `is a directory: ${input}`, { details: { path: input } });
}

interface CommitInfo {
  author: string;
  author_email: string;
  author_time: string;
  summary: string;
}

/**
 * Parses `git blame --porcelain`: per line a header `<sha> <orig> <final> [<count>]`,
 * the commit's fields the first time that commit appears, then TAB + content.
 * A line cut short by the output cap is dropped.
 */
export function parseBlame(text: string): GitBlameLine[] {
  const rows = text.split('\n');
  // Complete output ends with a newline: the last piece is empty, or partial when git was stopped.
  rows.pop();
  const commits = new Map<string, CommitInfo>();
  const lines: GitBlameLine[] = [];
  let sha = '';
  let lineNumber = 0;
  let fields: Record<string, string> = {};
  for (const row of rows) {
    if (row.startsWith('\t')) {
      let info = commits.get(sha);
      if (info === undefined) {
        info = {
          author: fields.author ?? '',
          author_email: (fields['author-mail'] ?? '').replace(/^<(.*)>$/, '$1'),
          author_time: isoTime(fields['author-time'], fields['author-tz']),
          summary: clip(fields.summary ?? '', 8192),
        };
        commits.set(sha, info);
      }
      lines.push({ line_number: lineNumber, sha, ...info, content: clip(row.slice(1), MAX_CONTENT_CHARS) });
      continue;
    }
    const header = /^([0-9a-f]{40,64}) \d+ (\d+)(?: \d+)?$/.exec(row);
    if (header) {
      sha = header[1] as string;
      lineNumber = Number(header[2]);
      fields = {};
      continue;
    }
    const space = row.indexOf(' ');
    if (space > 0) fields[row.slice(0, space)] = row.slice(space + 1);
  }
  return lines;
}

/** Epoch seconds and a `+hhmm` zone as ISO 8601 in that zone. */
export function isoTime(epochSeconds: string | undefined, zone: string | undefined): string {
  const seconds = Number(epochSeconds);
  if (!Number.isFinite(seconds)) return '';
  const match = /^([+-])(\d\d)(\d\d)$/.exec(zone ?? '');
  if (!match) return new Date(seconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
  const offsetMinutes = (match[1] === '-' ? -1 : 1) * (Number(match[2]) * 60 + Number(match[3]));
  const local = new Date((seconds + offsetMinutes * 60) * 1000).toISOString().slice(0, 19);
  return `${local}${match[1]}${match[2]}:${match[3]}`;
}

function blameSummary(result: GitBlameOutput): string {
  const at = result.rev === null ? '' : ` at ${result.rev}`;
  if (result.lines.length === 0) return `${result.path}${at}: no lines in range`;
  const first = result.lines[0]?.line_number;
  const last = result.lines[result.lines.length - 1]?.line_number;
  const more = result.truncated ? `; more lines follow (start_line=${(last ?? 0) + 1})` : '';
  const head = `Blame of ${result.path}${at}, lines ${first}-${last}${more}`;
  const body = result.lines
    .map(
      (line) =>
        `${line.sha.slice(0, 8)} ${line.author_time.slice(0, 10)} ${line.author} ${line.line_number}) ${line.content}`,
    )
    .join('\n');
  return summarize(head, body);
}
