import { isJsonContentType, readRequestBody } from '@modelcontextprotocol/server';
import type { Context, MiddlewareHandler } from 'hono';
import { jsonShapeOf, MAX_JSON_DEPTH } from '../protocol/json-shape.ts';
import type { HttpEnv } from './context.ts';
import { RPC_ERROR, requestIdOf, rpcErrorResponse } from './rpc-error.ts';

/**
 * The body as text, at most `maxBytes`. Under @hono/node-server it is read off
 * Node's request stream directly: turning that into a web ReadableStream first
 * (what `c.req.raw.body` does) cost more than the rest of the read.
 */
async function readBody(
  c: Context<HttpEnv>,
  maxBytes: number,
): Promise<{ tooLarge: true } | { tooLarge: false; text: string }> {
  // c.env is undefined outside @hono/node-server (app.request() in tests).
  const incoming = c.env?.incoming;
  if (incoming === undefined || incoming.readableDidRead) return readRequestBody(c.req.raw, maxBytes);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    const onData = (chunk: Buffer) => {
      received += chunk.length;
      if (received <= maxBytes) {
        chunks.push(chunk);
        return;
      }
      // Too large: stop keeping it, but let the rest drain so the 413 can still be answered.
      incoming.off('data', onData);
      incoming.resume();
      resolve({ tooLarge: true });
    };
    incoming.on('data', onData);
    incoming.once('error', reject);
    incoming.once('end', () => resolve({ tooLarge: false, text: Buffer.concat(chunks).toString('utf8') }));
  });
}

/**
 * What makes a parsed body something other than one JSON-RPC request or
 * notification as MCP defines them (MCP 2025-11-25, Basic § Messages: an id is
 * a string or an integer, never null; params are an object). Responses are
 * refused too: this server never sends a request a client could answer.
 */
export function messageShapeError(body: unknown): string | undefined {
  if (Array.isArray(body)) return 'JSON-RPC batches are not supported';
  if (body === null || typeof body !== 'object') return 'expected a JSON-RPC message object';
  const message = body as Record<string, unknown>;
  if (message.jsonrpc !== '2.0') return 'jsonrpc must be "2.0"';
  if (typeof message.method !== 'string' || message.method === '') {
    return 'result' in message || 'error' in message
      ? 'this endpoint takes requests and notifications, not responses'
      : 'method must be a non-empty string';
  }
  if ('id' in message && requestIdOf(message) === null) return 'id must be a string or an integer';
  const params = message.params;
  if ('params' in message && (params === null || typeof params !== 'object' || Array.isArray(params)))
    return 'params must be an object';
  return undefined;
}

/** A Content-Length that is not a plain decimal number of bytes. */
function isMalformedLength(value: string | undefined): boolean {
  return value !== undefined && !/^\d{1,16}$/.test(value.trim());
}

/**
 * Reads an MCP POST body with a size cap and answers what the SDK would
 * otherwise see as garbage with JSON-RPC errors, all with `id: null` (the
 * request's id is not known yet, JSON-RPC 2.0 § 5): a parse error for bad
 * JSON, an invalid request for anything that is not one JSON-RPC request or
 * notification, a wrong media type (415) or a body too large (413, from the
 * Content-Length before any byte is read when it says so). The parsed body is
 * handed on as `parsedBody`.
 */
export function mcpJsonBody(maxBytes: number): MiddlewareHandler<HttpEnv> {
  const invalid = (status: number, message: string) =>
    rpcErrorResponse(status, RPC_ERROR.invalidRequest, message);
  return async (c, next) => {
    if (c.req.method !== 'POST') return next();
    if (!isJsonContentType(c.req.header('content-type'))) {
      return invalid(415, 'Unsupported Media Type: send application/json');
    }
    const length = c.req.header('content-length');
    if (isMalformedLength(length)) return invalid(400, 'Invalid Request: malformed Content-Length');
    if (Number(length) > maxBytes) return invalid(413, `Payload Too Large: the limit is ${maxBytes} bytes`);
    const body = await readBody(c, maxBytes);
    if (body.tooLarge) return invalid(413, `Payload Too Large: the limit is ${maxBytes} bytes`);
    const text = body.text;
    if (jsonShapeOf(text).deepest > MAX_JSON_DEPTH) {
      return invalid(400, `Invalid Request: JSON nested deeper than ${MAX_JSON_DEPTH} levels`);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return rpcErrorResponse(400, RPC_ERROR.parseError, 'Parse error: the body is not valid JSON');
    }
    const shapeError = messageShapeError(parsed);
    if (shapeError !== undefined) return invalid(400, `Invalid Request: ${shapeError}`);
    c.set('parsedBody', parsed);
    return next();
  };
}
