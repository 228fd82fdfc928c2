import type { z } from 'zod';
import { type AgentMethod, agentMethods, Configure, ToolCall, type ToolReply } from '#protocol/agent-api';
import { invalidArgument, ToolError } from '#protocol/errors';
import type { AgentLimits } from '#protocol/limits';
import type { PreviewOpen } from '#protocol/preview';
import { ArchiveStreams } from './archive.ts';
import type { ToolContext } from './tools/context.ts';
import type { ToolRegistry } from './tools/registry.ts';

/** The params of `method`, validated with its schema from the shared protocol. */
function parse<M extends AgentMethod>(
  method: M,
  params: unknown,
): z.output<(typeof agentMethods)[M]['params']> {
  const parsed = agentMethods[method].params.safeParse(params ?? {});
  if (!parsed.success) throw invalidArgument(method, parsed.error.issues);
  return parsed.data as z.output<(typeof agentMethods)[M]['params']>;
}

/** Turns one request from the control plane into a result, or throws a ToolError. */
export class Dispatcher {
  readonly #registry: ToolRegistry;
  readonly #context: ToolContext;
  readonly #archives: ArchiveStreams;
  readonly #startedAt = Date.now();
  readonly #onConfigured: (() => void) | undefined;
  readonly #egressProxy: { setEnabled(isEnabled: boolean): Promise<void> } | undefined;
  readonly #previews: { open(params: PreviewOpen): Promise<Record<string, never>> } | undefined;
  sandboxId: string | undefined;

  /**
   * `onConfigured` runs after each `configure` is handled (the agent is ready then);
   * `egressProxy` is started or stopped by each `configure` before it answers.
   */
  constructor(
    registry: ToolRegistry,
    context: ToolContext,
    options: {
      onConfigured?: () => void;
      egressProxy?: { setEnabled(isEnabled: boolean): Promise<void> };
      previews?: { open(params: PreviewOpen): Promise<Record<string, never>> };
    } = {},
  ) {
    this.#registry = registry;
    this.#context = context;
    this.#onConfigured = options.onConfigured;
    this.#egressProxy = options.egressProxy;
    this.#previews = options.previews;
    this.#archives = new ArchiveStreams(() => context.workspaceRoot);
  }

  get limits(): AgentLimits {
    return this.#context.limits;
  }

  async handle(method: string, params: unknown): Promise<unknown> {
    switch (method) {
      case 'ping':
        return {
          uptimeMs: Date.now() - this.#startedAt,
          activeCommands: this.#registry.commands.activeCount,
        };
      case 'configure': {
        const parsed = Configure.safeParse(params);
        if (!parsed.success) throw invalidArgument('configure', parsed.error.issues);
        this.sandboxId = parsed.data.sandboxId;
        this.#context.limits = parsed.data.limits;
        await this.#egressProxy?.setEnabled(parsed.data.serveEgressProxy);
        this.#onConfigured?.();
        return {};
      }
      case 'tool':
        return this.#callTool(params);
      case 'archive.export.open':
        return this.#archives.openExport(parse(method, params).path);
      case 'archive.read': {
        const { streamId, maxBytes } = parse(method, params);
        return this.#archives.read(streamId, maxBytes);
      }
      case 'archive.import.open':
        return this.#archives.openImport(parse(method, params).path);
      case 'archive.write': {
        const { streamId, data } = parse(method, params);
        return this.#archives.write(streamId, Buffer.from(data, 'base64'));
      }
      case 'archive.import.finish':
        return this.#archives.finish(parse(method, params).streamId);
      case 'archive.close':
        return this.#archives.close(parse(method, params).streamId);
      case 'preview.open': {
        if (this.#previews === undefined)
          throw new ToolError('INVALID_ARGUMENT', 'this agent serves no previews');
        return this.#previews.open(parse(method, params));
      }
      default:
        throw new ToolError('INVALID_ARGUMENT', `unknown method ${method}`);
    }
  }

  async #callTool(params: unknown): Promise<ToolReply> {
    const call = ToolCall.safeParse(params);
    if (!call.success) throw invalidArgument('tool call', call.error.issues);
    const tool = this.#registry.tools.get(call.data.name);
    if (tool === undefined) throw new ToolError('INVALID_ARGUMENT', `unknown tool ${call.data.name}`);
    const input = tool.spec.input.safeParse(call.data.input ?? {});
    if (!input.success) throw invalidArgument(call.data.name, input.error.issues);
    const outcome = await tool.handler(this.#context, input.data);
    return { summary: outcome.summary, result: outcome.result as Record<string, unknown> };
  }
}
