import { Configure, ToolCall, type ToolReply } from '../protocol/agent-api.ts';
import { ToolError } from '../protocol/errors.ts';
import type { AgentLimits } from '../protocol/limits.ts';
import type { ToolContext } from './tools/context.ts';
import type { ToolRegistry } from './tools/registry.ts';

function invalid(what: string, issues: { path: PropertyKey[]; message: string }[]): ToolError {
  const first = issues[0];
  const where = first && first.path.length > 0 ? `${first.path.map(String).join('.')}: ` : '';
  return new ToolError('INVALID_ARGUMENT', `${what}: ${where}${first?.message ?? 'invalid'}`, {
    details: {
      issues: issues.slice(0, 10).map((issue) => ({ path: issue.path.map(String), message: issue.message })),
    },
  });
}

/** Turns one request from the control plane into a result, or throws a ToolError. */
export class Dispatcher {
  readonly #registry: ToolRegistry;
  readonly #context: ToolContext;
  readonly #startedAt = Date.now();
  sandboxId: string | undefined;

  constructor(registry: ToolRegistry, context: ToolContext) {
    this.#registry = registry;
    this.#context = context;
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
        if (!parsed.success) throw invalid('configure', parsed.error.issues);
        this.sandboxId = parsed.data.sandboxId;
        this.#context.limits = parsed.data.limits;
        return {};
      }
      case 'tool':
        return this.#callTool(params);
      default:
        throw new ToolError('INVALID_ARGUMENT', `unknown method ${method}`);
    }
  }

  async #callTool(params: unknown): Promise<ToolReply> {
    const call = ToolCall.safeParse(params);
    if (!call.success) throw invalid('tool call', call.error.issues);
    const tool = this.#registry.tools.get(call.data.name);
    if (tool === undefined) throw new ToolError('INVALID_ARGUMENT', `unknown tool ${call.data.name}`);
    const input = tool.spec.input.safeParse(call.data.input ?? {});
    if (!input.success) throw invalid(call.data.name, input.error.issues);
    const outcome = await tool.handler(this.#context, input.data);
    return { summary: outcome.summary, result: outcome.result as Record<string, unknown> };
  }
}
