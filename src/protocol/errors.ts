import { z } from 'zod';

/** Every failure the tools can report, as the runtime contract names them, plus sandboxd's own. */
export const ErrorCode = z.enum([
  'ABSOLUTE_PATH_DENIED',
  'BINARY_FILE',
  'COMMAND_CLOSED',
  'COMMAND_LIMIT_REACHED',
  'COMMAND_NOT_FOUND',
  'ELICITATION_UNSUPPORTED',
  'GIT_ERROR',
  'INTERNAL_ERROR',
  'INVALID_ARGUMENT',
  'IS_DIRECTORY',
  'NOT_A_DIRECTORY',
  'NOT_FOUND',
  'OUTPUT_TOO_LARGE',
  'PATCH_CONFLICT',
  'PATCH_CONTEXT_AMBIGUOUS',
  'PATCH_CONTEXT_NOT_FOUND',
  'PATCH_FAILED',
  'PATCH_HUNKS_OVERLAP',
  'PATCH_ROLLBACK_FAILED',
  'PATH_OUTSIDE_WORKSPACE',
  'PERMISSION_REQUIRED',
  'SANDBOX_UNAVAILABLE',
  'SYMLINK_ESCAPE',
  'TTY_UNSUPPORTED',
  'UNSUPPORTED_ENCODING',
  // sandboxd's own
  'ALREADY_EXISTS',
  'SANDBOX_STARTING',
  'SANDBOX_NOT_FOUND',
  'QUOTA_EXCEEDED',
  'UNAUTHORIZED',
  'FORBIDDEN',
  'AGENT_PROTOCOL_ERROR',
  'TIMEOUT',
  'PORT_NOT_LISTENING',
  'PREVIEW_UNAVAILABLE',
  'SNAPSHOT_IN_USE',
  'UNSUPPORTED_MEDIA_TYPE',
]);
export type ErrorCode = z.infer<typeof ErrorCode>;

export const ErrorCategory = z.enum([
  'validation',
  'security',
  'permission',
  'runtime',
  'not_found',
  'conflict',
  'internal',
]);
export type ErrorCategory = z.infer<typeof ErrorCategory>;

/** Category and retryability each code has unless the thrower says otherwise. */
const defaults: Record<ErrorCode, { category: ErrorCategory; retryable: boolean }> = {
  ABSOLUTE_PATH_DENIED: { category: 'security', retryable: false },
  BINARY_FILE: { category: 'validation', retryable: false },
  COMMAND_CLOSED: { category: 'conflict', retryable: false },
  COMMAND_LIMIT_REACHED: { category: 'runtime', retryable: true },
  COMMAND_NOT_FOUND: { category: 'not_found', retryable: false },
  ELICITATION_UNSUPPORTED: { category: 'permission', retryable: false },
  GIT_ERROR: { category: 'runtime', retryable: false },
  INTERNAL_ERROR: { category: 'internal', retryable: true },
  INVALID_ARGUMENT: { category: 'validation', retryable: false },
  IS_DIRECTORY: { category: 'validation', retryable: false },
  NOT_A_DIRECTORY: { category: 'validation', retryable: false },
  NOT_FOUND: { category: 'not_found', retryable: false },
  OUTPUT_TOO_LARGE: { category: 'runtime', retryable: false },
  PATCH_CONFLICT: { category: 'conflict', retryable: true },
  PATCH_CONTEXT_AMBIGUOUS: { category: 'conflict', retryable: false },
  PATCH_CONTEXT_NOT_FOUND: { category: 'conflict', retryable: false },
  PATCH_FAILED: { category: 'runtime', retryable: false },
  PATCH_HUNKS_OVERLAP: { category: 'validation', retryable: false },
  PATCH_ROLLBACK_FAILED: { category: 'internal', retryable: false },
  PATH_OUTSIDE_WORKSPACE: { category: 'security', retryable: false },
  PERMISSION_REQUIRED: { category: 'permission', retryable: false },
  SANDBOX_UNAVAILABLE: { category: 'runtime', retryable: true },
  SYMLINK_ESCAPE: { category: 'security', retryable: false },
  TTY_UNSUPPORTED: { category: 'runtime', retryable: false },
  UNSUPPORTED_ENCODING: { category: 'validation', retryable: false },
  ALREADY_EXISTS: { category: 'conflict', retryable: false },
  SANDBOX_STARTING: { category: 'runtime', retryable: true },
  SANDBOX_NOT_FOUND: { category: 'not_found', retryable: false },
  QUOTA_EXCEEDED: { category: 'runtime', retryable: true },
  UNAUTHORIZED: { category: 'permission', retryable: false },
  FORBIDDEN: { category: 'permission', retryable: false },
  AGENT_PROTOCOL_ERROR: { category: 'internal', retryable: true },
  TIMEOUT: { category: 'runtime', retryable: true },
  PORT_NOT_LISTENING: { category: 'runtime', retryable: true },
  PREVIEW_UNAVAILABLE: { category: 'runtime', retryable: false },
  SNAPSHOT_IN_USE: { category: 'conflict', retryable: false },
  UNSUPPORTED_MEDIA_TYPE: { category: 'validation', retryable: false },
};

/** The error as it travels over the wire and inside the MCP envelope. */
export const WireError = z.object({
  code: ErrorCode,
  message: z.string().max(16_384),
  category: ErrorCategory,
  retryable: z.boolean(),
  details: z.record(z.string(), z.unknown()).optional(),
});
export type WireError = z.infer<typeof WireError>;

export interface ToolErrorOptions {
  category?: ErrorCategory;
  retryable?: boolean;
  details?: Record<string, unknown>;
  cause?: unknown;
}

/** A schema failure as INVALID_ARGUMENT: the first issue in the message, up to ten in the details. */
export function invalidArgument(
  what: string,
  issues: readonly { path: PropertyKey[]; message: string }[],
): ToolError {
  const first = issues[0];
  const where = first && first.path.length > 0 ? `${first.path.map(String).join('.')}: ` : '';
  return new ToolError('INVALID_ARGUMENT', `${what}: ${where}${first?.message ?? 'invalid arguments'}`, {
    details: {
      issues: issues.slice(0, 10).map((issue) => ({ path: issue.path.map(String), message: issue.message })),
    },
  });
}

/** The one error class of sandboxd: a contract code, a category and whether a retry can help. */
export class ToolError extends Error {
  readonly code: ErrorCode;
  readonly category: ErrorCategory;
  readonly retryable: boolean;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options: ToolErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ToolError';
    this.code = code;
    this.category = options.category ?? defaults[code].category;
    this.retryable = options.retryable ?? defaults[code].retryable;
    this.details = options.details;
  }

  toWire(): WireError {
    const wire: WireError = {
      code: this.code,
      message: this.message,
      category: this.category,
      retryable: this.retryable,
    };
    if (this.details !== undefined) wire.details = this.details;
    return wire;
  }

  static fromWire(wire: WireError): ToolError {
    return new ToolError(wire.code, wire.message, {
      category: wire.category,
      retryable: wire.retryable,
      ...(wire.details === undefined ? {} : { details: wire.details }),
    });
  }

  /** Any thrown value as a ToolError; unknown failures become INTERNAL_ERROR without leaking a stack. */
  static from(error: unknown): ToolError {
    if (error instanceof ToolError) return error;
    const message = error instanceof Error ? error.message : String(error);
    return new ToolError('INTERNAL_ERROR', message, { cause: error });
  }
}
