import { ToolError } from '#protocol/errors';

/**
 * Parser of the `*** Begin Patch` envelope. Pure: text in, operations out.
 *
 * Tolerated because models do it and it cannot change the meaning: CRLF in the
 * patch, trailing whitespace on marker lines, a missing final newline, blank lines
 * around the envelope or between sections, a heredoc wrapper (`<<'EOF' … EOF`), a
 * first hunk without its `@@` line, a unified-diff range in the `@@` line, and a
 * blank line inside a hunk read as an empty context line.
 * Refused because guessing could edit the wrong thing: a missing `*** End Patch`
 * (the patch may have been cut off), unknown markers, and any hunk line that does
 * not start with ' ', '-' or '+'.
 */

export type HunkLineKind = 'context' | 'remove' | 'add';

export interface HunkLine {
  kind: HunkLineKind;
  text: string;
}

export interface Hunk {
  /** Texts of the `@@` lines before the hunk, outermost first; each narrows the search. */
  anchors: string[];
  lines: HunkLine[];
  /** The hunk ends with `*** End of File`: it must sit at the end of the file. */
  isEndOfFile: boolean;
  /** 1-based line of the patch where the hunk starts, for error messages. */
  patchLine: number;
}

export type FileOperation =
  | { kind: 'add'; path: string; lines: string[]; patchLine: number }
  | { kind: 'delete'; path: string; patchLine: number }
  | { kind: 'update'; path: string; moveTo: string | undefined; hunks: Hunk[]; patchLine: number };

export interface ParsedPatch {
  operations: FileOperation[];
}

const BEGIN = '*** Begin Patch';
const END = '*** End Patch';
const END_OF_FILE = '*** End of File';
const MOVE_TO = '*** Move to:';
const FILE_MARKERS = [
  ['*** Add File:', 'add'],
  ['*** Update File:', 'update'],
  ['*** Delete File:', 'delete'],
] as const;
const HEREDOC_OPEN = /^(?:apply_patch\s+)?<<-?\s*(['"]?)(\w+)\1\s*$/;
const UNIFIED_RANGE = /^@@ -\d+(?:,\d+)? \+\d+(?:,\d+)? @@ ?/;

interface PatchLine {
  text: string;
  number: number;
}

export function invalidPatch(line: PatchLine | number, message: string): ToolError {
  const number = typeof line === 'number' ? line : line.number;
  const details: Record<string, unknown> = { line: number };
  if (typeof line !== 'number') details.text = line.text.slice(0, 200);
  return new ToolError('INVALID_ARGUMENT', `invalid patch at line ${number}: ${message}`, { details });
}

export function parsePatch(text: string): ParsedPatch {
  const lines = envelopeBody(text);
  const operations: FileOperation[] = [];
  let index = 0;
  while (index < lines.length) {
    const line = lines[index] as PatchLine;
    if (line.text.trim() === '') {
      index++;
      continue;
    }
    const marker = fileMarker(line);
    if (marker === undefined) {
      if (line.text.trimEnd() === END) throw invalidPatch(line, `'${END}' before the end of the patch`);
      throw invalidPatch(line, "expected '*** Add File:', '*** Update File:' or '*** Delete File:'");
    }
    index++;
    if (marker.kind === 'delete') {
      operations.push({ kind: 'delete', path: marker.path, patchLine: line.number });
    } else if (marker.kind === 'add') {
      const section = takeSection(lines, index);
      index = section.next;
      const content = dropTrailingBlanks(section.lines, false).map((entry) => {
        if (entry.text === '') return '';
        if (!entry.text.startsWith('+'))
          throw invalidPatch(entry, "every line of an added file starts with '+'");
        return entry.text.slice(1);
      });
      operations.push({ kind: 'add', path: marker.path, lines: content, patchLine: line.number });
    } else {
      let moveTo: string | undefined;
      const next = lines[index];
      if (next?.text.startsWith(MOVE_TO)) {
        moveTo = markerPath(next, next.text.slice(MOVE_TO.length));
        index++;
      }
      const section = takeSection(lines, index);
      index = section.next;
      const hunks = parseHunks(section.lines);
      if (hunks.length === 0 && moveTo === undefined) {
        throw invalidPatch(line, `'*** Update File: ${marker.path}' has no hunks`);
      }
      operations.push({ kind: 'update', path: marker.path, moveTo, hunks, patchLine: line.number });
    }
  }
  if (operations.length === 0) throw invalidPatch(1, 'the patch contains no file operations');
  return { operations };
}

/** Lines between `*** Begin Patch` and `*** End Patch`, numbered as in the input. */
function envelopeBody(text: string): PatchLine[] {
  let lines = text.split('\n').map((raw, index) => ({
    text: raw.endsWith('\r') ? raw.slice(0, -1) : raw,
    number: index + 1,
  }));
  const isBlank = (line: PatchLine | undefined) => line !== undefined && line.text.trim() === '';
  while (isBlank(lines[0])) lines = lines.slice(1);
  while (isBlank(lines.at(-1))) lines = lines.slice(0, -1);
  const heredoc = HEREDOC_OPEN.exec(lines[0]?.text.trim() ?? '');
  if (heredoc !== null && lines.length > 1 && lines.at(-1)?.text.trim() === heredoc[2]) {
    lines = lines.slice(1, -1);
  }
  const first = lines[0];
  if (first === undefined || first.text.trim() !== BEGIN) {
    throw invalidPatch(first ?? 1, `the patch must start with '${BEGIN}'`);
  }
  const last = lines.at(-1) as PatchLine;
  if (lines.length < 2 || last.text.trim() !== END) {
    throw invalidPatch(last, `the patch must end with '${END}' (was it cut off?)`);
  }
  return lines.slice(1, -1);
}

function markerPath(line: PatchLine, rest: string): string {
  const path = rest.trim();
  if (path === '') throw invalidPatch(line, 'missing path after the marker');
  return path;
}

function fileMarker(line: PatchLine): { kind: 'add' | 'update' | 'delete'; path: string } | undefined {
  for (const [prefix, kind] of FILE_MARKERS) {
    if (line.text.startsWith(prefix)) return { kind, path: markerPath(line, line.text.slice(prefix.length)) };
  }
  return undefined;
}

/** The lines of one file section: up to the next file marker. */
function takeSection(lines: PatchLine[], start: number): { lines: PatchLine[]; next: number } {
  let end = start;
  while (end < lines.length && fileMarker(lines[end] as PatchLine) === undefined) {
    if ((lines[end] as PatchLine).text.trimEnd() === END) break;
    end++;
  }
  return { lines: lines.slice(start, end), next: end };
}

/**
 * Blank lines closing a section are spacing, not content. In a hunk a line of only
 * spaces is still an empty context line (' ' + ''), so only a bare or tab-led blank goes.
 */
function dropTrailingBlanks(lines: PatchLine[], isHunk: boolean): PatchLine[] {
  const isSpacing = (text: string) => text.trim() === '' && !(isHunk && text.startsWith(' '));
  let end = lines.length;
  while (end > 0 && isSpacing((lines[end - 1] as PatchLine).text)) end--;
  return lines.slice(0, end);
}

function anchorText(line: PatchLine): string {
  const range = UNIFIED_RANGE.exec(line.text);
  const rest = range === null ? line.text.slice(2) : line.text.slice(range[0].length);
  return (rest.startsWith(' ') ? rest.slice(1) : rest).trimEnd();
}

function parseHunks(lines: PatchLine[]): Hunk[] {
  const hunks: Hunk[] = [];
  let current: (Hunk & { entries: PatchLine[] }) | undefined;
  let isAfterEndOfFile = false;
  const finish = () => {
    if (current === undefined) return;
    const entries = current.isEndOfFile ? current.entries : dropTrailingBlanks(current.entries, true);
    if (entries.length === 0) throw invalidPatch(current.patchLine, 'hunk has no lines');
    current.lines = entries.map(hunkLine);
    const { entries: _entries, ...hunk } = current;
    hunks.push(hunk);
    current = undefined;
  };
  for (const line of lines) {
    if (line.text.startsWith('@@')) {
      const anchor = anchorText(line);
      if (current !== undefined && current.entries.length === 0) {
        // Consecutive `@@` lines nest: `@@ class A` then `@@ def run` means run inside A.
        if (anchor !== '') current.anchors.push(anchor);
        continue;
      }
      finish();
      isAfterEndOfFile = false;
      current = newHunk(line.number, anchor === '' ? [] : [anchor]);
    } else if (line.text.trimEnd() === END_OF_FILE) {
      if (current === undefined || current.entries.length === 0) {
        throw invalidPatch(line, `'${END_OF_FILE}' must follow the lines of a hunk`);
      }
      current.isEndOfFile = true;
      finish();
      isAfterEndOfFile = true;
    } else if (line.text.startsWith('***')) {
      throw invalidPatch(line, `unexpected marker here: '${line.text.trimEnd()}'`);
    } else {
      if (current === undefined) {
        if (isAfterEndOfFile) throw invalidPatch(line, `expected '@@' after '${END_OF_FILE}'`);
        if (hunks.length > 0) throw invalidPatch(line, "expected '@@' before the hunk");
        current = newHunk(line.number, []);
      }
      current.entries.push(line);
    }
  }
  finish();
  return hunks;
}

function newHunk(patchLine: number, anchors: string[]): Hunk & { entries: PatchLine[] } {
  return { anchors, lines: [], isEndOfFile: false, patchLine, entries: [] };
}

function hunkLine(line: PatchLine): HunkLine {
  const marker = line.text[0];
  if (line.text === '') return { kind: 'context', text: '' };
  if (marker === ' ') return { kind: 'context', text: line.text.slice(1) };
  if (marker === '-') return { kind: 'remove', text: line.text.slice(1) };
  if (marker === '+') return { kind: 'add', text: line.text.slice(1) };
  throw invalidPatch(line, "hunk lines start with ' ' (context), '-' (remove) or '+' (add)");
}
