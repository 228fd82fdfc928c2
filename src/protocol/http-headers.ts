/** Headers that belong to one hop, never forwarded (RFC 9110 §7.6.1), plus a proxy's own. */
const HOP_BY_HOP = new Set([
  'connection',
  'proxy-connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/**
 * Raw headers (name, value, name, value…) minus the hop-by-hop ones, any the
 * Connection header names, and `drop` (lower-case names). Node frames the
 * forwarded message itself (Content-Length or chunked), so Transfer-Encoding
 * never passes: a message can only be read one way on each side of a proxy.
 */
export function endToEndHeaders(
  rawHeaders: readonly string[],
  drop: ReadonlySet<string> = new Set(),
): string[] {
  const named = new Set([...HOP_BY_HOP, ...drop]);
  for (let index = 0; index < rawHeaders.length; index += 2) {
    if (rawHeaders[index]?.toLowerCase() === 'connection') {
      for (const token of (rawHeaders[index + 1] ?? '').split(',')) named.add(token.trim().toLowerCase());
    }
  }
  const kept: string[] = [];
  for (let index = 0; index < rawHeaders.length; index += 2) {
    const name = rawHeaders[index] as string;
    if (!named.has(name.toLowerCase())) kept.push(name, rawHeaders[index + 1] as string);
  }
  return kept;
}
