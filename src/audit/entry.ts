import { z } from 'zod';

/**
 * Who made a call: the operator token (or a dashboard session, which it opened),
 * a sandbox's own token, the local stdio client, or the control plane itself
 * (the reaper, reconcile, a pool).
 */
export const AuditPrincipal = z.enum(['operator', 'sandbox', 'stdio', 'system']);
export type AuditPrincipal = z.infer<typeof AuditPrincipal>;

/**
 * tool_call: one MCP tool call; lifecycle: a sandbox changed state; command: a
 * command started or ended (seen in a tool result); egress: a connection out,
 * allowed or refused; operator: a change made through /v1 or the dashboard;
 * preview: a preview grant given, opened (by a browser), revoked or expired, or a
 * capability refused at the preview door.
 */
export const AuditKind = z.enum(['tool_call', 'lifecycle', 'command', 'egress', 'operator', 'preview']);
export type AuditKind = z.infer<typeof AuditKind>;

/** One row of the audit log, as /v1/audit and the events stream give it. */
export const AuditEntry = z.object({
  id: z.number().int().positive(),
  at: z.iso.datetime(),
  kind: AuditKind,
  sandbox: z.string().nullable(),
  principal: AuditPrincipal,
  /** The tool, the new state, the command event (started, exited) or the operator's action. */
  action: z.string(),
  outcome: z.string(),
  errorCode: z.string().nullable(),
  durationMs: z.number().nullable(),
  /** Argument summary, transition fields or egress record: never file contents, output or tokens. */
  detail: z.record(z.string(), z.unknown()),
});
export type AuditEntry = z.infer<typeof AuditEntry>;

/** What a recorder hands the log; the log gives it an id and a time. */
export type AuditInput = Omit<AuditEntry, 'id' | 'at'> & { at?: number };
