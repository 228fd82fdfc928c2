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
