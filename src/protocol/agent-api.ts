import { z } from 'zod';
import { AgentLimits } from './limits.ts';
import { PreviewOpen } from './preview.ts';
import { base64Bytes, MAX_SUMMARY_BYTES, type ReplyBudget, replyBudget } from './reply-budget.ts';
import type { AgentToolSpec } from './tool-spec.ts';
import { agentToolNamed } from './tools/index.ts';

/** Bumped whenever a message changes shape; the control plane refuses an agent that differs. */
export const PROTOCOL_VERSION = 3;

export const SandboxId = z.string().regex(/^[a-z0-9][a-z0-9-]{2,62}$/, 'a sandbox id is 3-63 of [a-z0-9-]');
export type SandboxId = z.infer<typeof SandboxId>;

/** The agent's first message on every connection (a notification). */
export const Hello = z.object({
  protocolVersion: z.number().int(),
  agentVersion: z.string().max(64),
  pid: z.number().int().positive(),
  uid: z.number().int().nonnegative(),
  gid: z.number().int().nonnegative(),
  /** Commands the agent still holds from before a reconnect. */
  activeCommands: z.number().int().nonnegative(),
});
export type Hello = z.infer<typeof Hello>;

export const Configure = z.object({
  sandboxId: SandboxId,
  limits: AgentLimits,
  /** Whether the agent serves the egress proxy on the sandbox's loopback (the policy allows egress). */
  serveEgressProxy: z.boolean().default(false),
});
export type Configure = z.infer<typeof Configure>;

export const ToolCall = z.object({
  name: z.string().min(1).max(64),
  input: z.unknown(),
});
export type ToolCall = z.infer<typeof ToolCall>;

export const ToolReply = z.object({
  summary: z.string().refine((text) => Buffer.byteLength(text) <= MAX_SUMMARY_BYTES, 'summary too long'),
  result: z.record(z.string(), z.unknown()),
});
export type ToolReply = z.infer<typeof ToolReply>;

export const Pong = z.object({ uptimeMs: z.number().nonnegative(), activeCommands: z.number().int() });

/**
 * Workspace archives (tar) travel as pull-based chunked streams: the control
 * plane asks for (or hands over) one chunk at a time, so neither side holds more
 * than a chunk and a slow reader slows the tar process down instead of filling
 * memory. A stream left idle for ARCHIVE_IDLE_TIMEOUT_MS is aborted and cleaned up.
 */
export const MAX_ARCHIVE_CHUNK_BYTES = 1024 * 1024;
export const ARCHIVE_IDLE_TIMEOUT_MS = 60_000;
const ArchiveData = z.base64().max(Math.ceil(MAX_ARCHIVE_CHUNK_BYTES / 3) * 4);
export const ArchiveStreamId = z.string().regex(/^[0-9a-f]{16}$/, 'not an archive stream id');
/** A workspace-relative directory; checked for escapes inside the agent. */
const ArchivePath = z.string().min(1).max(4096).default('.');

export const ArchiveExportOpen = z.object({ path: ArchivePath });
export const ArchiveExportOpened = z.object({
  streamId: ArchiveStreamId,
  /** What `path` is: a directory's archive holds its contents (`./…`), a file's holds that one file. */
  kind: z.enum(['directory', 'file']),
});
export const ArchiveRead = z.object({
  streamId: ArchiveStreamId,
  maxBytes: z.number().int().positive().max(MAX_ARCHIVE_CHUNK_BYTES),
});
export const ArchiveChunk = z.object({ data: ArchiveData, eof: z.boolean() });
export const ArchiveImportOpen = z.object({ path: ArchivePath });
export const ArchiveOpened = z.object({ streamId: ArchiveStreamId });
export const ArchiveWrite = z.object({ streamId: ArchiveStreamId, data: ArchiveData });
export const ArchiveStreamRef = z.object({ streamId: ArchiveStreamId });
export const ArchiveImported = z.object({
  /** Regular files written (symlinks and directories not counted). */
  files: z.number().int().nonnegative(),
  /** Their total size. */
  bytes: z.number().int().nonnegative(),
});
export type ArchiveImported = z.infer<typeof ArchiveImported>;

/** A tool call's budget: its tool's, for its input with defaults; an error's for a call the agent refuses. */
function toolReply(params: unknown, limits: AgentLimits): ReplyBudget {
  const call = ToolCall.safeParse(params);
  const spec: AgentToolSpec | undefined = call.success ? agentToolNamed(call.data.name) : undefined;
  const input = spec?.input.safeParse(call.data?.input ?? {});
  return spec !== undefined && input?.success === true ? spec.reply(input.data, limits) : replyBudget();
}

/** Replies that carry nothing but small fields, or an error. */
const smallReply = () => replyBudget();

/**
 * Every method the control plane may call on the agent, with the schema of its
 * params (checked by the agent), of its result (checked by the control plane),
 * and the largest reply the agent may send (enforced by the control plane).
 */
export const agentMethods = {
  configure: { params: Configure, result: z.object({}), reply: smallReply },
  ping: { params: z.object({}), result: Pong, reply: smallReply },
  tool: { params: ToolCall, result: ToolReply, reply: toolReply },
  'archive.export.open': { params: ArchiveExportOpen, result: ArchiveExportOpened, reply: smallReply },
  'archive.read': {
    params: ArchiveRead,
    result: ArchiveChunk,
    reply: () => replyBudget(base64Bytes(MAX_ARCHIVE_CHUNK_BYTES)),
  },
  'archive.import.open': { params: ArchiveImportOpen, result: ArchiveOpened, reply: smallReply },
  'archive.write': { params: ArchiveWrite, result: z.object({}), reply: smallReply },
  'archive.import.finish': { params: ArchiveStreamRef, result: ArchiveImported, reply: smallReply },
  'archive.close': { params: ArchiveStreamRef, result: z.object({}), reply: smallReply },
  'preview.open': { params: PreviewOpen, result: z.object({}), reply: smallReply },
} as const satisfies Record<
  string,
  { params: z.ZodType; result: z.ZodType; reply: (params: unknown, limits: AgentLimits) => ReplyBudget }
>;

export type AgentMethod = keyof typeof agentMethods;
export type AgentParams<M extends AgentMethod> = z.input<(typeof agentMethods)[M]['params']>;
export type AgentResult<M extends AgentMethod> = z.output<(typeof agentMethods)[M]['result']>;

/** Where the agent finds its socket inside the container. */
export const AGENT_SOCKET_DIR = '/run/sandboxd';
export const AGENT_SOCKET_NAME = 'control.sock';
export const AGENT_BUNDLE_PATH = '/opt/sandboxd/agent.mjs';
