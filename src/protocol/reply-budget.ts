import { MAX_LINE_BYTES } from './framing.ts';

/** Longest model-facing summary an agent may return. */
export const MAX_SUMMARY_BYTES = 64 * 1024;

/**
 * The most one agent reply may be, known before the request is sent: the
 * control plane reads at most `maxBytes` of it and parses it only if it has at
 * most `maxElements` elements (JsonShape), and drops a connection that sends
 * more. Each method and each tool derives its budget from its input and the
 * sandbox's limits, so a rogue agent can make the control plane parse no more
 * than an honest agent answering the same calls would.
 */
export interface ReplyBudget {
  maxBytes: number;
  maxElements: number;
}

/**
 * Most elements any reply may have, whatever the budget formula says. JSON.parse
 * costs about 270 ns an element at worst (16 MiB of `{},` in 1.5 s on Node 24),
 * so a million is the most one reply can stall the event loop: under 300 ms.
 */
export const MAX_REPLY_ELEMENTS = 1_000_000;

/** PATH_MAX and NAME_MAX: the longest path and file name a listing can return. */
export const PATH_MAX_BYTES = 4096;
export const NAME_MAX_BYTES = 255;

/** `chars` characters (or bytes decoded as UTF-8) as a JSON string: a control character becomes `\u0001`. */
export function textBytes(chars: number): number {
  return chars * 6 + 2;
}

/** `bytes` as a base64 JSON string. */
export function base64Bytes(bytes: number): number {
  return Math.ceil(bytes / 3) * 4 + 2;
}

/**
 * What every reply may carry besides its own content: the JSON-RPC envelope,
 * the model-facing summary and small fields; and what any error reply fits in
 * (a message of at most 16 KiB, details naming a few paths or lines).
 */
const BASE_BYTES = textBytes(MAX_SUMMARY_BYTES) + 256 * 1024;
const BASE_ELEMENTS = 1024;

/** A reply of up to `bytes` and `elements` of content, within the line and element ceilings. */
export function replyBudget(bytes = 0, elements = 0): ReplyBudget {
  return {
    maxBytes: Math.min(BASE_BYTES + Math.ceil(bytes), MAX_LINE_BYTES),
    maxElements: Math.min(BASE_ELEMENTS + Math.ceil(elements), MAX_REPLY_ELEMENTS),
  };
}

/** The larger of two budgets in each dimension. */
export function widerBudget(a: ReplyBudget, b: ReplyBudget): ReplyBudget {
  return { maxBytes: Math.max(a.maxBytes, b.maxBytes), maxElements: Math.max(a.maxElements, b.maxElements) };
}
