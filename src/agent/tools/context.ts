import type { z } from 'zod';
import type { AgentLimits } from '#protocol/limits';
import type { ToolOutcome, ToolSpec } from '#protocol/tool-spec';
import {
  type AgentTool,
  type AgentToolName,
  type AgentToolNamed,
  agentToolNamed,
} from '#protocol/tools/index';

/** What every agent-side tool receives besides its validated input. */
export interface ToolContext {
  /** Real path of the workspace root inside the container ('/workspace'). */
  workspaceRoot: string;
  /** Limits from the sandbox's policy, sent by the control plane after hello. */
  limits: AgentLimits;
}

/** An agent-side tool: validated input in, a summary and the structured result out. */
export type ToolHandler<S extends ToolSpec> = (
  context: ToolContext,
  input: z.output<S['input']>,
) => Promise<ToolOutcome<z.input<S['output']>>>;

/** Each agent tool's handler, by its descriptor's name: a descriptor without a handler fails to compile. */
export type AgentHandlers = { [N in AgentToolName]: ToolHandler<AgentToolNamed<N>> };

/** Handlers, each beside the descriptor its name picks from the protocol's one list. */
export type BoundTools<H extends Partial<AgentHandlers>> = {
  [N in keyof H & AgentToolName]: { spec: AgentToolNamed<N>; handler: H[N] };
};

/** Pairs each handler with its tool's descriptor, found by name in the protocol's list. */
export function bindTools<H extends Partial<AgentHandlers>>(handlers: H): BoundTools<H> {
  const bound: Record<string, { spec: AgentTool; handler: unknown }> = {};
  for (const [name, handler] of Object.entries(handlers)) {
    const spec = agentToolNamed(name);
    if (spec === undefined) throw new Error(`no agent tool ${name} in protocol/tools`);
    bound[name] = { spec, handler };
  }
  return bound as BoundTools<H>;
}
