import { z } from 'zod';
import type { AgentLimits } from './limits.ts';
import type { ReplyBudget } from './reply-budget.ts';

/**
 * One tool of the runtime contract, defined once and imported by both ends:
 * the control plane validates the MCP input with `input` before it reaches the
 * agent and validates the agent's reply with `output` (Sandbox.call, and the
 * MCP envelope again as a whole); the agent validates the input again before it acts.
 */
export interface ToolSpec<
  I extends z.ZodType = z.ZodType,
  O extends z.ZodType = z.ZodType,
  N extends string = string,
> {
  name: N;
  title: string;
  description: string;
  /** Truthful MCP annotation: the tool changes nothing in the workspace. */
  isReadOnly: boolean;
  input: I;
  output: O;
}

export function defineTool<I extends z.ZodType, O extends z.ZodType, N extends string>(
  spec: ToolSpec<I, O, N>,
): ToolSpec<I, O, N> {
  return spec;
}

/** How long the control plane waits for a tool's reply beyond the tool's own waiting. */
export const REPLY_TIMEOUT_MARGIN_MS = 30_000;
/** How long it waits for a tool that does not wait by itself. */
export const DEFAULT_REPLY_TIMEOUT_MS = 120_000;

/** A tool that runs inside the sandbox, through the agent. */
export interface AgentToolSpec<
  I extends z.ZodType = z.ZodType,
  O extends z.ZodType = z.ZodType,
  N extends string = string,
> extends ToolSpec<I, O, N> {
  /**
   * The largest reply the agent may send for this input under these limits
   * (see reply-budget.ts): the control plane drops a connection that sends more.
   */
  reply(input: z.output<I>, limits: AgentLimits): ReplyBudget;
  /** How long the control plane waits for the reply to this (parsed) input. */
  replyTimeoutMs(input: z.output<I>): number;
}

export function defineAgentTool<I extends z.ZodType, O extends z.ZodType, N extends string>(
  spec: Omit<AgentToolSpec<I, O, N>, 'replyTimeoutMs'> &
    Partial<Pick<AgentToolSpec<I, O, N>, 'replyTimeoutMs'>>,
): AgentToolSpec<I, O, N> {
  return { replyTimeoutMs: () => DEFAULT_REPLY_TIMEOUT_MS, ...spec };
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
