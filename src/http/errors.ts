import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { type ErrorCategory, type ErrorCode, ToolError } from '../protocol/errors.ts';

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
  PORT_NOT_LISTENING: 502,
  PREVIEW_UNAVAILABLE: 501,
};

/**
 * Codes without a status of their own get one from their category: a refused
 * path (SYMLINK_ESCAPE, PATH_OUTSIDE_WORKSPACE, …) from an archive request is the
 * caller's fault, not a 500 with its message hidden.
 */
const CATEGORY_STATUS: Partial<Record<ErrorCategory, ContentfulStatusCode>> = {
  validation: 400,
  security: 400,
  permission: 403,
  not_found: 404,
  conflict: 409,
};

/** A REST error: `{error: {code, message}}` with the status that code means. */
export function restError(c: Context, error: unknown) {
  const toolError = ToolError.from(error);
  const status = STATUS[toolError.code] ?? CATEGORY_STATUS[toolError.category] ?? 500;
  const message = status === 500 ? 'internal error' : toolError.message;
  return c.json({ error: { code: toolError.code, message, retryable: toolError.retryable } }, status);
}
