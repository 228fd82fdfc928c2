import { z } from 'zod';
import type { AgentLimits } from './limits.ts';
import type { ReplyBudget } from './reply-budget.ts';

/**
 * One tool of the runtime contract, defined once and imported by both ends:
 * the control plane validates the MCP input with `input` before it reaches the
 * agent and validates the agent's reply with `output`; the agent validates the
 * input again before it acts.
 */
export interface ToolSpec<I extends z.ZodType = z.ZodType, O extends z.ZodType = z.ZodType> {
  name: string;
  title: string;
  description: string;
  /** Truthful MCP annotation: the tool changes nothing in the workspace. */
  isReadOnly: boolean;
  input: I;
  output: O;
}

export function defineTool<I extends z.ZodType, O extends z.ZodType>(spec: ToolSpec<I, O>): ToolSpec<I, O> {
  return spec;
}

/** A tool that runs inside the sandbox, through the agent. */
export interface AgentToolSpec<I extends z.ZodType = z.ZodType, O extends z.ZodType = z.ZodType>
  extends ToolSpec<I, O> {
  /**
   * The largest reply the agent may send for this input under these limits
   * (see reply-budget.ts): the control plane drops a connection that sends more.
   */
  reply(input: z.output<I>, limits: AgentLimits): ReplyBudget;
}

export function defineAgentTool<I extends z.ZodType, O extends z.ZodType>(
  spec: AgentToolSpec<I, O>,
): AgentToolSpec<I, O> {
  return spec;
}

/** What an agent-side tool returns: a short text for the model and the complete structured result. */
export interface ToolOutcome<O> {
  summary: string;
  result: O;
}

/** Bounded integers that every tool uses for caps and offsets. */
export const nonNegativeInt = (max = Number.MAX_SAFE_INTEGER) => z.number().int().min(0).max(max);
export const positiveInt = (max = Number.MAX_SAFE_INTEGER) => z.number().int().min(1).max(max);

/** A workspace-relative path as a tool input. Checked for escapes inside the agent. */
export const PathInput = z.string().max(4096);
