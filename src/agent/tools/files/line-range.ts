import { cutUtf8 } from '../utf8.ts';
import type { FileReader } from './file-access.ts';

const NEWLINE = 0x0a;
const CHUNK_BYTES = 64 * 1024;

export interface LineRangeRequest {
  /** First line wanted, 1-based. */
  startLine: number;
  /** Last line wanted, inclusive; Infinity for the end of the file. */
  lastLine: number;
  /** Most bytes of content; only whole lines, unless the first line alone does not fit. */
  maxBytes: number;
  /** Keep counting lines after the range only while the file offset is below this. */
  countBudgetBytes: number;
}

export interface LineRange {
  /** Raw bytes of the returned lines, line terminators included. */
  content: Buffer<ArrayBufferLike>;
  /** Last line returned; startLine - 1 when none. */
  endLine: number;
  /** Lines in the file, or null when counting stopped at the budget. */
  totalLines: number | null;
  /** max_bytes stopped the range early. */
  isByteLimited: boolean;
  /** The one returned line was longer than maxBytes and was cut. */
  isLineCut: boolean;
  /** Whether the file has lines after endLine (true when unknown but bytes remain). */
  hasMoreLines: boolean;
}

type Phase = 'skip' | 'collect' | 'count';

/**
 * Streams a file in chunks to pull out a range of lines without holding more
 * than the range (and one chunk) in memory. Line boundaries are found on raw
 * bytes: a 0x0A byte is never part of a multi-byte UTF-8 character.
 */
export async function readLineRange(handle: FileReader, request: LineRangeRequest): Promise<LineRange> {
  const chunk = Buffer.allocUnsafe(CHUNK_BYTES);
  const parts: Buffer[] = [];
  let collected = 0;
  let lineStartCollected = 0;
  let line = 1;
  let position = 0;
  let lastByte = NEWLINE;
  let endLine = request.startLine - 1;
  let isByteLimited = false;
  let isLineCut = false;
  let isCountCut = false;
  let phase: Phase = request.startLine === 1 ? 'collect' : 'skip';

  while (true) {
    const { bytesRead } = await handle.read(chunk, 0, CHUNK_BYTES, position);
    if (bytesRead === 0) break;
    if (phase === 'count' && position >= request.countBudgetBytes) {
      isCountCut = true;
      break;
    }
    const view = chunk.subarray(0, bytesRead);
    position += bytesRead;
    lastByte = view[bytesRead - 1] as number;
    let offset = 0;
    while (offset < bytesRead) {
      if (phase === 'count') {
        for (let next = view.indexOf(NEWLINE, offset); next !== -1; next = view.indexOf(NEWLINE, next + 1))
          line++;
        break;
      }
      const newline = view.indexOf(NEWLINE, offset);
      const segmentEnd = newline === -1 ? bytesRead : newline + 1;
      if (phase === 'collect') {
        const segment = view.subarray(offset, segmentEnd);
        if (collected + segment.length > request.maxBytes) {
          isByteLimited = true;
          if (line === request.startLine) {
            // The first line alone does not fit: return its head rather than nothing. One byte
            // past the budget is kept so cutUtf8 can tell whether the cut splits a character.
            const head = segment.subarray(0, request.maxBytes - collected + 1);
            parts.push(Buffer.from(head));
            collected += head.length;
            isLineCut = true;
            endLine = line;
          } else {
            collected = lineStartCollected;
          }
          phase = 'count';
          continue; // the rest of this line is counted from the same offset
        }
        parts.push(Buffer.from(segment));
        collected += segment.length;
        if (newline !== -1) {
          endLine = line;
          lineStartCollected = collected;
          if (line >= request.lastLine) phase = 'count';
        }
      }
      if (newline === -1) break;
      line++;
      offset = segmentEnd;
      if (phase === 'skip' && line === request.startLine) phase = 'collect';
    }
  }

  const isAtEof = !isCountCut;
  // A last line without a trailing newline still counts as a line.
  const totalLines = isAtEof ? (position === 0 ? 0 : lastByte === NEWLINE ? line - 1 : line) : null;
  if (isAtEof && phase === 'collect' && collected > lineStartCollected) endLine = line;
  const joined = Buffer.concat(parts, collected);
  const content = isLineCut ? cutUtf8(joined, request.maxBytes) : joined;
  const hasMoreLines = totalLines === null ? true : endLine < totalLines;
  return { content, endLine, totalLines, isByteLimited, isLineCut, hasMoreLines };
}
