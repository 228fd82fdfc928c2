import { MAX_SUMMARY_BYTES } from '#protocol/reply-budget';
import { cutAtLine } from './utf8.ts';

/**
 * The model-facing summary of every tool, trimmed in one way with one marker:
 * whatever does not fit in MAX_SUMMARY_BYTES (the control plane refuses a longer
 * one) is left out at a line end, and the last line says how much and where the
 * rest is.
 */

/** Bytes kept free below the limit for the marker line. */
const MARKER_ROOM = 256;

/** The one line that says part of a summary was left out. */
export function cutMarker(leftOut: string): string {
  return `… [${leftOut} not shown; the structured result has all of it]`;
}

/** A head and an optional body (after `gap`), cut at a line end to fit the summary limit. */
export function summarize(head: string, body = '', gap = '\n\n', maxBytes = MAX_SUMMARY_BYTES): string {
  const text = body === '' ? head : `${head}${gap}${body}`;
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= maxBytes) return text;
  const cut = cutAtLine(bytes, maxBytes - MARKER_ROOM);
  return `${cut.text.replace(/\n$/, '')}\n${cutMarker(`${bytes.length - cut.bytes} of ${bytes.length} bytes`)}`;
}

/** A head line, then as many of `lines` as fit in the summary limit. */
export function summarizeLines(head: string, lines: readonly string[], maxBytes = MAX_SUMMARY_BYTES): string {
  let used = Buffer.byteLength(head);
  const kept: string[] = [head];
  for (let index = 0; index < lines.length; index++) {
    const line = lines[index] as string;
    const size = Buffer.byteLength(line) + 1;
    if (used + size > maxBytes - MARKER_ROOM) {
      const rest = lines.length - index;
      kept.push(cutMarker(`${rest} more line${rest === 1 ? '' : 's'}`));
      break;
    }
    kept.push(line);
    used += size;
  }
  return kept.join('\n');
}

/** A list inside a summary: at most maxLines of it, then how many of `total` were left out. */
export function listLines(lines: readonly string[], total: number, maxLines = 200): string {
  const shown = lines.slice(0, maxLines);
  const rest = total - shown.length;
  return rest > 0 ? `${shown.join('\n')}\n${cutMarker(`${rest} more`)}` : shown.join('\n');
}
