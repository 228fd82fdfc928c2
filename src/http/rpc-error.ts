/** The JSON-RPC error codes the MCP endpoints answer with before a message reaches an MCP server. */
export const RPC_ERROR = {
  parseError: -32700,
  invalidRequest: -32600,
  methodNotFound: -32601,
  internalError: -32603,
  /** MCP 2026-07-28, Streamable HTTP § Server Validation: a mirror header is missing, malformed or disagrees. */
  headerMismatch: -32020,
  /** MCP 2026-07-28, Versioning § Protocol Version Negotiation. */
  unsupportedProtocolVersion: -32022,
} as const;

export type RequestId = string | number | null;

export interface RpcErrorOptions {
  /** null unless the request's id could be read (JSON-RPC 2.0 § 5). */
  id?: RequestId;
  data?: unknown;
  headers?: Record<string, string>;
}

/** A JSON-RPC error as an HTTP response. */
export function rpcErrorResponse(
  status: number,
  code: number,
  message: string,
  options: RpcErrorOptions = {},
): Response {
  const error = options.data === undefined ? { code, message } : { code, message, data: options.data };
  return Response.json(
    { jsonrpc: '2.0', error, id: options.id ?? null },
    { status, headers: options.headers ?? {} },
  );
}

/** The id of a request that has a valid one, for errors that answer a readable request. */
export function requestIdOf(body: unknown): RequestId {
  const id = (body as { id?: unknown } | undefined)?.id;
  return typeof id === 'string' || (typeof id === 'number' && Number.isInteger(id)) ? id : null;
}
