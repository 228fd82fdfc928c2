import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { Logger } from 'pino';
import { type ErrorCode, ToolError } from '../protocol/errors.ts';

/**
 * The HTTP status of every error code: adding a code without one fails to
 * compile. A refused path (SYMLINK_ESCAPE, PATH_OUTSIDE_WORKSPACE, …) from an
 * archive request is the caller's fault, a 400, not a 500 with its message hidden.
 */
export const STATUS: Record<ErrorCode, ContentfulStatusCode> = {
  ABSOLUTE_PATH_DENIED: 400,
  BINARY_FILE: 400,
  COMMAND_CLOSED: 409,
  COMMAND_LIMIT_REACHED: 500,
  COMMAND_NOT_FOUND: 404,
  ELICITATION_UNSUPPORTED: 403,
  GIT_ERROR: 500,
  INTERNAL_ERROR: 500,
  INVALID_ARGUMENT: 400,
  IS_DIRECTORY: 400,
  NOT_A_DIRECTORY: 400,
  NOT_FOUND: 404,
  OUTPUT_TOO_LARGE: 413,
  PATCH_CONFLICT: 409,
  PATCH_CONTEXT_AMBIGUOUS: 409,
  PATCH_CONTEXT_NOT_FOUND: 409,
  PATCH_FAILED: 500,
  PATCH_HUNKS_OVERLAP: 400,
  PATCH_ROLLBACK_FAILED: 500,
  PATH_OUTSIDE_WORKSPACE: 400,
  PERMISSION_REQUIRED: 403,
  SANDBOX_UNAVAILABLE: 503,
  SYMLINK_ESCAPE: 400,
  TTY_UNSUPPORTED: 500,
  UNSUPPORTED_ENCODING: 400,
  ALREADY_EXISTS: 409,
  SANDBOX_STARTING: 503,
  SANDBOX_NOT_FOUND: 404,
  QUOTA_EXCEEDED: 429,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  AGENT_PROTOCOL_ERROR: 500,
  TIMEOUT: 504,
  PORT_NOT_LISTENING: 502,
  PREVIEW_UNAVAILABLE: 501,
  SNAPSHOT_IN_USE: 409,
  UNSUPPORTED_MEDIA_TYPE: 415,
};

/**
 * The one REST error answer: `{error: {code, message, retryable}}` with the
 * status of its code. A 500 hides its message (it may name host internals)
 * and is logged instead; a 401 says which scheme to use.
 */
export function restError(c: Context, error: unknown, log?: Logger) {
  const toolError = ToolError.from(error);
  const status = STATUS[toolError.code];
  if (status === 500) log?.error({ error: toolError.message, path: c.req.path }, 'HTTP request failed');
  if (status === 401) c.header('WWW-Authenticate', 'Bearer realm="sandboxd"');
  const message = status === 500 ? 'internal error' : toolError.message;
  return c.json({ error: { code: toolError.code, message, retryable: toolError.retryable } }, status);
}
