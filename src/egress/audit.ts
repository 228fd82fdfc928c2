import type { Logger } from 'pino';
import { z } from 'zod';

/**
 * One egress connection, allowed or refused: what the audit log keeps. Today it is
 * one pino line per connection (message `egress`, these fields at the top level);
 * the audit database stores exactly this record. Never payload bytes, never a token.
 */
export const EgressRecord = z.object({
  sandboxId: z.string(),
  /** The host as the sandbox asked for it, canonical when it was valid; null before a valid request. */
  host: z.string().nullable(),
  port: z.number().int().nullable(),
  /** The address connected to (or refused); null when none was chosen. */
  address: z.string().nullable(),
  /** Bytes from the sandbox to the destination. */
  bytesSent: z.number().int().nonnegative(),
  /** Bytes from the destination to the sandbox. */
  bytesReceived: z.number().int().nonnegative(),
  durationMs: z.number().int().nonnegative(),
  /** allowed: the tunnel was opened; refused: a rule said no; failed: allowed but unreachable. */
  decision: z.enum(['allowed', 'refused', 'failed']),
  /** For allowed: the entries that let it through (`host:…`, `pattern:…`, `cidr:…`); otherwise the refusing rule. */
  rule: z.string(),
});
export type EgressRecord = z.infer<typeof EgressRecord>;

export function logEgress(log: Logger, record: EgressRecord): void {
  if (record.decision === 'allowed') log.info(record, 'egress');
  else log.warn(record, 'egress');
}
