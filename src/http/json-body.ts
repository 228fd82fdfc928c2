import type { IncomingMessage } from 'node:http';
import { isJsonContentType, readRequestBody } from '@modelcontextprotocol/server';
import type { Context, MiddlewareHandler } from 'hono';
import { jsonShapeOf, MAX_JSON_DEPTH } from '../protocol/json-shape.ts';

export function rpcError(
  c: Context,
  status: 400 | 401 | 403 | 404 | 413 | 415 | 429,
  code: number,
  message: string,
) {
  return c.json({ jsonrpc: '2.0', error: { code, message }, id: null }, status);
}

/**
 * The body as text, at most `maxBytes`. Under @hono/node-server it is read off
 * Node's request stream directly: turning that into a web ReadableStream first
 * (what `c.req.raw.body` does) cost more than the rest of the read.
 */
async function readBody(
  c: Context,
  maxBytes: number,
): Promise<{ tooLarge: true } | { tooLarge: false; text: string }> {
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  if (incoming === undefined || incoming.readableDidRead) return readRequestBody(c.req.raw, maxBytes);
  if (Number(incoming.headers['content-length']) > maxBytes) return { tooLarge: true };
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
 * Reads an MCP POST body with a size cap and answers what the SDK would
 * otherwise see as garbage with JSON-RPC errors: a parse error for bad JSON,
 * an invalid request for a batch or for nesting too deep to be honest input.
 * The parsed body is handed on as `parsedBody`.
 */
export function mcpJsonBody(maxBytes: number): MiddlewareHandler {
  return async (c, next) => {
    if (c.req.method !== 'POST') return next();
    if (!isJsonContentType(c.req.header('content-type'))) {
      return rpcError(c, 415, -32000, 'Unsupported Media Type: send application/json');
    }
    const body = await readBody(c, maxBytes);
    if (body.tooLarge) return rpcError(c, 413, -32000, `Payload Too Large: the limit is ${maxBytes} bytes`);
    const text = body.text;
    if (jsonShapeOf(text).deepest > MAX_JSON_DEPTH) {
      return rpcError(c, 400, -32600, `Invalid Request: JSON nested deeper than ${MAX_JSON_DEPTH} levels`);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return rpcError(c, 400, -32700, 'Parse error: the body is not valid JSON');
    }
    if (Array.isArray(parsed)) {
      return rpcError(c, 400, -32600, 'Invalid Request: JSON-RPC batches are not supported');
    }
    if (parsed === null || typeof parsed !== 'object') {
      return rpcError(c, 400, -32600, 'Invalid Request: expected a JSON-RPC message object');
    }
    c.set('parsedBody' as never, parsed as never);
    return next();
  };
}
