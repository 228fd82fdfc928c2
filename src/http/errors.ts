import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { type ErrorCode, ToolError } from '../protocol/errors.ts';

const STATUS: Partial<Record<ErrorCode, ContentfulStatusCode>> = {
  INVALID_ARGUMENT: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  SANDBOX_NOT_FOUND: 404,
  NOT_FOUND: 404,
  ALREADY_EXISTS: 409,
  QUOTA_EXCEEDED: 429,
  OUTPUT_TOO_LARGE: 413,
  SANDBOX_UNAVAILABLE: 503,
  SANDBOX_STARTING: 503,
  TIMEOUT: 504,
};

/** A REST error: `{error: {code, message}}` with the status that code means. */
export function restError(c: Context, error: unknown) {
  const toolError = ToolError.from(error);
  const status = STATUS[toolError.code] ?? 500;
  const message = status === 500 ? 'internal error' : toolError.message;
  return c.json({ error: { code: toolError.code, message, retryable: toolError.retryable } }, status);
}
