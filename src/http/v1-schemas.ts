import { z } from 'zod';
import { EgressAllowList } from '../policy/egress.ts';
import { Runtime } from '../policy/schema.ts';
import { ErrorCode } from '../protocol/errors.ts';
import { AgentLimits } from '../protocol/limits.ts';

/** A preview grant as /v1 shows it (preview/service.ts `PreviewView`): never its capability or session. */
export const PreviewInfo = z.object({
  id: z.string(),
  port: z.number().int(),
  url: z.string(),
  public: z.boolean(),
  grantedBy: z.enum(['operator', 'mcp']),
  createdAt: z.iso.datetime(),
  expiresAt: z.iso.datetime(),
  openedAt: z.iso.datetime().nullable(),
});

/**
 * What /v1 answers about a sandbox: `describe` in v1.ts is typed by it, and the
 * OpenAPI document is made from it, so the two cannot drift.
 */
export const SandboxView = z.object({
  id: z.string(),
  state: z.enum(['creating', 'ready', 'idle', 'stopped', 'removed', 'failed']),
  mcpUrl: z.string(),
  image: z.string(),
  runtime: Runtime,
  /** The seccomp profile in force: the policy's, or the runtime's default where a node lacked ours (Kubernetes). */
  seccomp: z.enum(['policy', 'runtime-default']),
  policy: z.string(),
  workspace: z.union([
    z.object({ volume: z.string() }).strict(),
    z.object({ hostPath: z.string() }).strict(),
  ]),
  labels: z.record(z.string(), z.string()),
  egress: EgressAllowList.extend({
    usage: z.object({ activeConnections: z.number().int(), bytes: z.number().int() }),
  }).nullable(),
  /** Open previews (grants) of the sandbox's ports; never a capability or session. */
  previews: z.array(PreviewInfo),
  createdAt: z.iso.datetime(),
  expiresAt: z.iso.datetime().nullable(),
  limits: AgentLimits.extend({ cpus: z.number(), memoryBytes: z.number().int(), pids: z.number().int() }),
  usage: z.object({
    lastUsedAt: z.iso.datetime(),
    callsInFlight: z.number().int(),
    agentConnections: z.number().int(),
  }),
});
export type SandboxView = z.infer<typeof SandboxView>;

/** POST /v1/sandboxes answers the view and, once, the sandbox's own token. */
export const CreatedSandbox = SandboxView.extend({ token: z.string() });

export const SandboxList = z.object({ sandboxes: z.array(SandboxView) });

/** POST /v1/sandboxes/:id/previews: the grant and the URL that opens it, with its one-time capability unless public. */
export const NewPreviewInfo = PreviewInfo.extend({
  openUrl: z.string(),
  /** Whether something accepted a connection on the port when the grant was made. */
  listening: z.boolean(),
});
export type NewPreviewInfo = z.infer<typeof NewPreviewInfo>;

export const PreviewList = z.object({ previews: z.array(PreviewInfo) });
export type PreviewList = z.infer<typeof PreviewList>;

/** A snapshot as /v1 shows it: `describeSnapshot` in snapshot-routes.ts is typed by it. */
export const SnapshotInfo = z.object({
  snapshotId: z.string(),
  sandboxId: z.string(),
  label: z.string().nullable(),
  bytes: z.number().int(),
  files: z.number().int(),
  createdAt: z.iso.datetime(),
  expiresAt: z.iso.datetime(),
  /** Sandboxes whose files lie on it now: while any exists it cannot be deleted. */
  forks: z.array(z.string()),
});
export type SnapshotInfo = z.infer<typeof SnapshotInfo>;

export const SnapshotList = z.object({ snapshots: z.array(SnapshotInfo) });
export type SnapshotList = z.infer<typeof SnapshotList>;

/** POST /v1/sandboxes/:id/restore: what was put back, and the sandbox's state after. */
export const RestoredSnapshot = z.object({
  snapshotId: z.string(),
  sandboxId: z.string(),
  /** Commands that were running and were stopped by the restore. */
  stoppedCommands: z.number().int(),
  files: z.number().int(),
  bytes: z.number().int(),
  ms: z.number(),
  state: SandboxView.shape.state,
});
export type RestoredSnapshot = z.infer<typeof RestoredSnapshot>;

/** A fork: the snapshot under it and the new sandboxes, each with its token (shown only here). */
export const ForkedSandboxes = z.object({ snapshotId: z.string(), sandboxes: z.array(CreatedSandbox) });
export type ForkedSandboxes = z.infer<typeof ForkedSandboxes>;

/** Every /v1 error: `restError` in errors.ts writes it (auth.ts writes its codes the same way). */
export const ErrorBody = z.object({
  error: z.object({
    code: ErrorCode,
    message: z.string(),
    retryable: z.boolean().optional(),
  }),
});

/**
 * What the Host and Origin checks in front of every route answer (403): the
 * JSON-RPC error shape of `rpcErrorResponse`, because the same checks guard MCP.
 */
export const GuardErrorBody = z.object({
  jsonrpc: z.literal('2.0'),
  error: z.object({ code: z.number().int(), message: z.string() }),
  id: z.null(),
});
