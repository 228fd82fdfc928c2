import { MAX_SUMMARY_BYTES } from '../../../protocol/tool-spec.ts';
import { cutUtf8 } from '../utf8.ts';

/** Git's own test for binary content: a NUL byte in the first 8000 bytes. */
export function looksBinary(bytes: Buffer): boolean {
  return bytes.subarray(0, 8000).includes(0);
}

export interface CutText {
  text: string;
  bytes: number;
  truncated: boolean;
}

/**
 * The first maxBytes of `bytes` as text, cut after the last complete line when
 * one ends in the second half of the budget, else at a character boundary.
 */
export function cutAtLine(bytes: Buffer, maxBytes: number): CutText {
  if (bytes.length <= maxBytes)
    return { text: bytes.toString('utf8'), bytes: bytes.length, truncated: false };
  const lastNewline = bytes.subarray(0, maxBytes).lastIndexOf(0x0a);
  const end = lastNewline >= maxBytes / 2 ? lastNewline + 1 : cutUtf8(bytes, maxBytes).length;
  return { text: bytes.subarray(0, end).toString('utf8'), bytes: end, truncated: true };
}

/** A string cut to at most maxChars characters, marked with an ellipsis. */
export function clip(text: string, maxChars: number): string {
  return text.length <= maxChars ? text : `${text.slice(0, maxChars - 1)}…`;
}

/** The model-facing text: a head and an optional body, cut to the summary limit with a note saying so. */
export function summarize(head: string, body = ''): string {
  const text = body === '' ? head : `${head}\n\n${body}`;
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= MAX_SUMMARY_BYTES) return text;
  const cut = cutAtLine(bytes, MAX_SUMMARY_BYTES - 256);
  return `${cut.text}\n… [text cut at ${cut.bytes} of ${bytes.length} bytes; the structured result holds the rest]`;
}

/** Lines for a summary list, at most maxLines, then a count of the rest. */
export function listLines(lines: readonly string[], total: number, maxLines = 200): string {
  const shown = lines.slice(0, maxLines);
  const rest = total - shown.length;
  return rest > 0 ? `${shown.join('\n')}\n… and ${rest} more` : shown.join('\n');
}
