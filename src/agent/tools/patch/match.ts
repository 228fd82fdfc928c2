import { ToolError } from '#protocol/errors';
import type { Hunk } from './parse.ts';

/**
 * Locating hunks in a file. Pure: lines in, positions out.
 *
 * A hunk's "old lines" (context and removed lines) must match exactly one place.
 * With `@@` anchors, a place counts when it is the first match at or after an
 * occurrence of the anchor; if the anchor occurs several times and those lead to
 * different places, the hunk is ambiguous. Lines are compared exactly (CR already
 * removed); only when nothing matches exactly is trailing whitespace ignored, and
 * the result must still be unique.
 */

export interface Placement {
  hunk: Hunk;
  /** 0-based index of the hunk within its file section. */
  hunkIndex: number;
  /** 0-based index of the first file line the hunk's old lines cover. */
  start: number;
  /** Number of file lines the hunk replaces (context plus removed). */
  oldLength: number;
  /** Matched only after ignoring trailing whitespace. */
  isWhitespaceTolerant: boolean;
}

type Compare = (fileLine: string, patchLine: string) => boolean;

const exact: Compare = (fileLine, patchLine) => fileLine === patchLine;
const ignoringTrailingSpace: Compare = (fileLine, patchLine) => fileLine.trimEnd() === patchLine.trimEnd();

/** How an `@@` anchor finds its line, tried in order until one finds something. */
const anchorTiers: Compare[] = [
  (fileLine, anchor) => fileLine.trimEnd() === anchor,
  (fileLine, anchor) => fileLine.trim() === anchor.trim(),
  (fileLine, anchor) => anchor.trim() !== '' && fileLine.includes(anchor.trim()),
];

const MAX_REPORTED_CANDIDATES = 5;

/** Finds where every hunk of one file applies; returns them sorted by position. */
export function locateHunks(lines: readonly string[], hunks: readonly Hunk[], path: string): Placement[] {
  const placements = hunks.map((hunk, index) => locateHunk(lines, hunk, index, path));
  placements.sort((a, b) => a.start - b.start || a.oldLength - b.oldLength);
  for (let index = 1; index < placements.length; index++) {
    const before = placements[index - 1] as Placement;
    const after = placements[index] as Placement;
    const isSameInsertion = before.start === after.start && before.oldLength === 0 && after.oldLength === 0;
    if (before.start + before.oldLength > after.start || isSameInsertion) {
      const first = Math.min(before.hunkIndex, after.hunkIndex) + 1;
      const second = Math.max(before.hunkIndex, after.hunkIndex) + 1;
      throw new ToolError(
        'PATCH_HUNKS_OVERLAP',
        `hunks ${first} and ${second} of ${path} cover the same lines (from line ${after.start + 1}); merge them into one hunk`,
        { details: { path, hunks: [first, second], line: after.start + 1 } },
      );
    }
  }
  return placements;
}

/** Rebuilds a file's lines with the hunks applied: context lines keep the file's own version. */
export function spliceHunks<T>(
  lines: readonly T[],
  placements: readonly Placement[],
  added: (text: string) => T,
): T[] {
  const result: T[] = [];
  let cursor = 0;
  for (const placement of placements) {
    while (cursor < placement.start) result.push(lines[cursor++] as T);
    for (const line of placement.hunk.lines) {
      if (line.kind === 'context') result.push(lines[cursor++] as T);
      else if (line.kind === 'remove') cursor++;
      else result.push(added(line.text));
    }
  }
  while (cursor < lines.length) result.push(lines[cursor++] as T);
  return result;
}

function locateHunk(lines: readonly string[], hunk: Hunk, hunkIndex: number, path: string): Placement {
  const old = hunk.lines.filter((line) => line.kind !== 'add').map((line) => line.text);
  const where = { path, hunk: hunkIndex + 1, patch_line: hunk.patchLine };
  const anchors = hunk.anchors.length === 0 ? undefined : locateAnchors(lines, hunk.anchors, where);
  const place = (start: number, isWhitespaceTolerant: boolean): Placement => ({
    hunk,
    hunkIndex,
    start,
    oldLength: old.length,
    isWhitespaceTolerant,
  });

  if (hunk.isEndOfFile) {
    const start = lines.length - old.length;
    const isAfterAnchor = anchors === undefined || anchors.some((anchor) => anchor <= start);
    if (start >= 0 && isAfterAnchor) {
      if (matchesAt(lines, old, start, exact)) return place(start, false);
      if (matchesAt(lines, old, start, ignoringTrailingSpace)) return place(start, true);
    }
    throw notFound(where, 'at the end of the file');
  }

  if (old.length === 0) {
    // A pure insertion goes right after its anchor line, or into an empty file.
    if (anchors !== undefined) {
      if (anchors.length === 1) return place((anchors[0] as number) + 1, false);
      throw ambiguous(where, anchors, 'its @@ anchor occurs');
    }
    if (lines.length === 0) return place(0, false);
    throw new ToolError(
      'PATCH_CONTEXT_AMBIGUOUS',
      `hunk ${where.hunk} of ${path} only adds lines and has no context, @@ anchor or '*** End of File', so it could go anywhere`,
      { details: where },
    );
  }

  for (const [compare, isWhitespaceTolerant] of [
    [exact, false],
    [ignoringTrailingSpace, true],
  ] as const) {
    const matches = findAll(lines, old, compare);
    const candidates =
      anchors === undefined ? matches : distinct(anchors.map((anchor) => firstAtOrAfter(matches, anchor)));
    if (candidates.length === 1) return place(candidates[0] as number, isWhitespaceTolerant);
    if (candidates.length > 1) throw ambiguous(where, candidates, 'its context matches');
  }
  throw notFound(where, anchors === undefined ? '' : `after @@ ${hunk.anchors.join(' / ')}`);
}

/** Lines where the last anchor of a chain sits; each anchor is looked for after the one before it. */
function locateAnchors(lines: readonly string[], anchors: readonly string[], where: Where): number[] {
  let found: number[] | undefined;
  for (const anchor of anchors) {
    let next: number[] = [];
    for (const tier of anchorTiers) {
      const matches: number[] = [];
      for (let index = 0; index < lines.length; index++) {
        if (tier(lines[index] as string, anchor)) matches.push(index);
      }
      next = found === undefined ? matches : distinct(found.map((line) => firstAtOrAfter(matches, line + 1)));
      if (next.length > 0) break;
    }
    if (next.length === 0) {
      throw new ToolError(
        'PATCH_CONTEXT_NOT_FOUND',
        `hunk ${where.hunk} of ${where.path}: the @@ anchor '${anchor}' was not found`,
        { details: { ...where, anchor } },
      );
    }
    found = next;
  }
  return found ?? [];
}

function matchesAt(
  lines: readonly string[],
  old: readonly string[],
  start: number,
  compare: Compare,
): boolean {
  for (let offset = 0; offset < old.length; offset++) {
    if (!compare(lines[start + offset] as string, old[offset] as string)) return false;
  }
  return true;
}

function findAll(lines: readonly string[], old: readonly string[], compare: Compare): number[] {
  const matches: number[] = [];
  for (let start = 0; start + old.length <= lines.length; start++) {
    if (matchesAt(lines, old, start, compare)) matches.push(start);
  }
  return matches;
}

/** The first entry of a sorted list that is at least `line`. */
function firstAtOrAfter(sorted: readonly number[], line: number): number | undefined {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if ((sorted[middle] as number) < line) low = middle + 1;
    else high = middle;
  }
  return sorted[low];
}

function distinct(values: readonly (number | undefined)[]): number[] {
  return [...new Set(values.filter((value): value is number => value !== undefined))].sort((a, b) => a - b);
}

interface Where {
  path: string;
  hunk: number;
  patch_line: number;
}

function notFound(where: Where, scope: string): ToolError {
  return new ToolError(
    'PATCH_CONTEXT_NOT_FOUND',
    `hunk ${where.hunk} of ${where.path} (patch line ${where.patch_line}): context and removed lines not found${scope === '' ? '' : ` ${scope}`}; re-read the file and copy them exactly`,
    { details: { ...where } },
  );
}

function ambiguous(where: Where, candidates: readonly number[], what: string): ToolError {
  const lines = candidates.slice(0, MAX_REPORTED_CANDIDATES).map((line) => line + 1);
  return new ToolError(
    'PATCH_CONTEXT_AMBIGUOUS',
    `hunk ${where.hunk} of ${where.path} (patch line ${where.patch_line}): ${what} ${candidates.length} places (lines ${lines.join(', ')}); add context lines or an @@ anchor`,
    { details: { ...where, candidate_lines: lines } },
  );
}
