import { isUtf8 } from 'node:buffer';
import { ToolError } from '#protocol/errors';

/**
 * What "binary" means to every tool (read_file, git_show, apply_patch): a NUL
 * byte, or bytes that are not UTF-8. A Latin-1 or Shift-JIS file counts: shown
 * as text it would come back with U+FFFD in place of its bytes, and a patch
 * written back from that would corrupt it.
 */

/** How much of the start of a file decides whether it is binary, when only its head is read. */
export const SNIFF_BYTES = 8 * 1024;

/** Whether `bytes` is binary; `isHead` tolerates a character cut at the end (the rest of the file follows). */
export function isBinary(bytes: Buffer, isHead = false): boolean {
  if (bytes.includes(0)) return true;
  if (!isHead) return !isUtf8(bytes);
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(bytes, { stream: true });
    return false;
  } catch {
    return true;
  }
}

/** The error every tool answers binary content with; `hint` says what to use instead. */
export function binaryFileError(
  path: string,
  hint: string,
  details: Record<string, unknown> = { path },
): ToolError {
  return new ToolError('BINARY_FILE', `${path} is not UTF-8 text; ${hint}`, { details });
}
