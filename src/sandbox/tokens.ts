import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Bearer secrets: the operator's, a sandbox's own, a preview capability. Only
 * their SHA-256 is kept; a presented one is compared in constant time.
 */

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** Compares a presented token with a stored SHA-256 in constant time. */
export function tokenMatches(presented: string, expectedSha256: string): boolean {
  const actual = createHash('sha256').update(presented).digest();
  const expected = Buffer.from(expectedSha256, 'hex');
  return expected.length === actual.length && timingSafeEqual(actual, expected);
}

export function newToken(): string {
  return randomBytes(32).toString('base64url');
}
