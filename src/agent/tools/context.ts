import type { z } from 'zod';
import type { AgentLimits } from '#protocol/limits';
import type { ToolOutcome, ToolSpec } from '#protocol/tool-spec';

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
