import type { z } from 'zod';
import { ToolError } from '#protocol/errors';
import type { ContextLine, SearchMatch, SearchTextResult, SearchTextTool } from '#protocol/tools/files';
import { checkRelativePath, resolveExisting } from '../../paths.ts';
import type { ToolHandler } from '../context.ts';
import { summarizeLines } from '../summary.ts';
import { boundText, cutUtf8, utf8CharStart } from '../utf8.ts';
import { baseArgs, globArgs, globsOf, ripgrepFailure, runRipgrep, workspacePath } from './ripgrep.ts';

type Line = z.infer<typeof ContextLine>;

/** Text or, for bytes that are not UTF-8, base64: how rg --json spells paths and lines. */
interface RgText {
  text?: string;
  bytes?: string;
}

interface RgEvent {
  type: string;
  data?: {
    path?: RgText;
    lines?: RgText;
    line_number?: number | null;
    submatches?: { start: number; end: number }[];
  };
}

interface SearchLimits {
  maxResults: number;
  maxPreviewBytes: number;
  contextLines: number;
}

/**
 * search_text: `rg --json` read event by event. ripgrep is killed as soon as one
 * match more than max_results has been seen, so a query that matches a million
 * lines costs about as much as one that matches max_results + 1.
 */
export const searchText: ToolHandler<typeof SearchTextTool> = async (context, input) => {
  if (/[\n\r\0]/.test(input.query)) {
    throw new ToolError('INVALID_ARGUMENT', 'query must be one line: no newline or NUL characters');
  }
  const displayPath = checkRelativePath(input.path);
  const start = await resolveExisting(context.workspaceRoot, input.path);
  const limits: SearchLimits = {
    maxResults: Math.min(input.max_results, context.limits.maxResults),
    maxPreviewBytes: input.max_preview_bytes,
    contextLines: input.context_lines,
  };
  const args = [
    '--json',
    ...baseArgs(false, false),
    '--sort=path',
    input.case_sensitive ? '--case-sensitive' : '--ignore-case',
    ...(input.regex ? [] : ['--fixed-strings']),
    ...(limits.contextLines > 0 ? [`--context=${limits.contextLines}`] : []),
    ...globArgs(globsOf(input.include_globs, input.glob), globsOf(input.exclude_globs), false),
    '--regexp',
    input.query,
    '--',
    start.relative,
  ];

  const collector = new MatchCollector(limits);
  const exit = await runRipgrep({
    cwd: context.workspaceRoot,
    args,
    delimiter: 0x0a,
    onRecord: (record) => collector.accept(JSON.parse(record.toString('utf8')) as RgEvent),
  });
  if (exit.exitCode === 2 && collector.eventCount === 0) throw ripgrepFailure(exit);

  const warnings: string[] = [];
  if (exit.hasTimedOut) warnings.push('search stopped at the time limit; narrow path or globs');
  if (exit.oversizedRecords > 0)
    warnings.push(`${exit.oversizedRecords} lines too long to report were skipped`);
  if (exit.exitCode === 2 && exit.stderr !== '') warnings.push(exit.stderr);
  const result: z.input<typeof SearchTextResult> = {
    query: input.query,
    path: displayPath,
    matches: collector.matches,
    total_matches_seen: collector.totalSeen,
    truncated: collector.isTruncated || exit.hasTimedOut,
  };
  if (warnings.length > 0) result.warnings = warnings;
  return { summary: summarize(result, limits, warnings), result };
};

/** Turns rg's event stream into matches with their context lines. */
class MatchCollector {
  readonly matches: SearchMatch[] = [];
  totalSeen = 0;
  eventCount = 0;
  isTruncated = false;
  readonly #limits: SearchLimits;
  /** Lines since the previous match of the current file: the next match's "before". */
  #recent: Line[] = [];
  #previous: SearchMatch | null = null;

  constructor(limits: SearchLimits) {
    this.#limits = limits;
  }

  /** Takes one event; false once the result cap is exceeded and rg can stop. */
  accept(event: RgEvent): boolean {
    this.eventCount++;
    const data = event.data;
    if (event.type === 'begin') {
      this.#recent = [];
      this.#previous = null;
    } else if (event.type === 'context' && data?.line_number != null) {
      this.#remember({ line_number: data.line_number, text: this.#bounded(lineText(data.lines)) });
    } else if (event.type === 'match' && data?.line_number != null) {
      this.totalSeen++;
      if (this.matches.length >= this.#limits.maxResults) {
        this.isTruncated = true;
        return false;
      }
      this.#addMatch(
        workspacePath(decode(data.path)),
        data.line_number,
        lineText(data.lines),
        data.submatches,
      );
    }
    return true;
  }

  #addMatch(path: string, lineNumber: number, text: string, submatches: { start: number }[] = []): void {
    const matchStart = submatches[0]?.start ?? 0;
    const match: SearchMatch = {
      path,
      line_number: lineNumber,
      column: matchStart + 1,
      ...this.#preview(text, matchStart),
    };
    const span = this.#limits.contextLines;
    if (span > 0) {
      match.context_before = this.#recent.filter((line) => line.line_number >= lineNumber - span);
      match.context_after = [];
      this.#remember({ line_number: lineNumber, text: this.#bounded(text) });
    }
    this.#previous = match;
    this.matches.push(match);
  }

  /** A context line, or a match line, is "after" for the previous match when close enough. */
  #remember(line: Line): void {
    const previous = this.#previous;
    const span = this.#limits.contextLines;
    if (previous?.context_after && line.line_number > previous.line_number) {
      if (line.line_number <= previous.line_number + span) previous.context_after.push(line);
    }
    this.#recent.push(line);
    if (this.#recent.length > span) this.#recent.shift();
  }

  /** A preview of at most maxPreviewBytes, moved along a long line so the match is in it. */
  #preview(
    text: string,
    matchStart: number,
  ): Pick<SearchMatch, 'preview' | 'preview_truncated' | 'preview_offset'> {
    const bytes = Buffer.from(text);
    const max = this.#limits.maxPreviewBytes;
    if (bytes.length <= max) return { preview: text, preview_truncated: false };
    const lead = Math.floor(max / 4);
    const offset = matchStart <= max - lead ? 0 : utf8CharStart(bytes, matchStart - lead);
    const preview = cutUtf8(bytes.subarray(offset), max).toString('utf8');
    return offset === 0
      ? { preview, preview_truncated: true }
      : { preview, preview_truncated: true, preview_offset: offset };
  }

  #bounded(text: string): string {
    return boundText(text, this.#limits.maxPreviewBytes).text;
  }
}

function decode(value: RgText | undefined): string {
  if (value?.text !== undefined) return value.text;
  return value?.bytes === undefined ? '' : Buffer.from(value.bytes, 'base64').toString('utf8');
}

function lineText(value: RgText | undefined): string {
  return decode(value).replace(/\r?\n$/, '');
}

function summarize(
  result: z.input<typeof SearchTextResult>,
  limits: SearchLimits,
  warnings: string[],
): string {
  const query = JSON.stringify(result.query);
  if (result.matches.length === 0) return `No matches for ${query} in ${result.path}`;
  const count = result.matches.length === 1 ? '1 matching line' : `${result.matches.length} matching lines`;
  const cut = result.truncated ? ` (stopped at max_results ${limits.maxResults}; more exist)` : '';
  const lines: string[] = [];
  for (const match of result.matches) {
    if (limits.contextLines > 0 && lines.length > 0) lines.push('--');
    for (const line of match.context_before ?? [])
      lines.push(`${match.path}-${line.line_number}-${line.text}`);
    lines.push(`${match.path}:${match.line_number}:${match.column}: ${match.preview}`);
    for (const line of match.context_after ?? [])
      lines.push(`${match.path}-${line.line_number}-${line.text}`);
  }
  for (const warning of warnings) lines.push(`warning: ${warning}`);
  return summarizeLines(`Found ${count} for ${query} in ${result.path}${cut}`, lines);
}
