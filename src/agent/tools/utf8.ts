/** Cutting UTF-8 bytes without splitting a character; shared by the file, git and command tools. */

/** Longest prefix of `bytes` of at most `maxBytes` that does not split a UTF-8 character. */
export function cutUtf8(bytes: Buffer, maxBytes: number): Buffer {
  if (bytes.length <= maxBytes) return bytes;
  let end = Math.max(0, maxBytes);
  // Back off over continuation bytes (10xxxxxx) to the start of the character that was cut.
  while (end > 0 && ((bytes[end] as number) & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end);
}

/** Index at or after `offset` where a UTF-8 character starts. */
export function utf8CharStart(bytes: Buffer, offset: number): number {
  let start = Math.max(0, offset);
  while (start < bytes.length && ((bytes[start] as number) & 0xc0) === 0x80) start++;
  return start;
}

/** `text` cut to at most `maxBytes` of UTF-8, and whether it was cut. */
export function boundText(text: string, maxBytes: number): { text: string; isCut: boolean } {
  if (Buffer.byteLength(text) <= maxBytes) return { text, isCut: false };
  return { text: cutUtf8(Buffer.from(text), maxBytes).toString('utf8'), isCut: true };
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
