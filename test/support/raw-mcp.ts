import type http from 'node:http';
import type { ControlPlane } from './control-plane.ts';
import { httpRequest } from './http.ts';

/**
 * MCP spoken by hand, as a client without our SDK speaks it: JSON-RPC bodies
 * and headers written out, answers read as they come.
 */

export const MODERN = '2026-07-28';
export const LEGACY = '2025-11-25';

export const modernMeta = {
  'io.modelcontextprotocol/protocolVersion': MODERN,
  'io.modelcontextprotocol/clientInfo': { name: 'raw-client', version: '1.0.0' },
  'io.modelcontextprotocol/clientCapabilities': {},
};

export interface RpcAnswer {
  status: number;
  headers: Headers;
  body: {
    jsonrpc?: string;
    id?: unknown;
    result?: Record<string, unknown>;
    error?: { code: number; message: string; data?: unknown };
  };
}

let nextId = 1;

/** POSTs `body` (an object, or text sent as it is) to `path` with the operator token. */
export async function post(
  plane: ControlPlane,
  body: unknown,
  headers: Record<string, string> = {},
  path = '/mcp',
): Promise<RpcAnswer> {
  const response = await plane.fetch(path, {
    method: 'POST',
    body: typeof body === 'string' ? body : JSON.stringify(body),
    headers: { accept: 'application/json, text/event-stream', ...headers },
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text === '' ? {} : JSON.parse(text) };
}

/** A 2025-era request: no envelope, the negotiated version in MCP-Protocol-Version. */
export function legacyRequest(plane: ControlPlane, method: string, params: Record<string, unknown> = {}) {
  return post(plane, { jsonrpc: '2.0', id: nextId++, method, params }, { 'mcp-protocol-version': LEGACY });
}

/** A 2026-07-28 request with its envelope and every header SEP-2243 asks for, unless `headers` overrides them. */
export function modernRequest(
  plane: ControlPlane,
  method: string,
  params: Record<string, unknown> = {},
  headers: Record<string, string> = {},
) {
  const name = typeof params.name === 'string' ? { 'mcp-name': params.name } : {};
  return post(
    plane,
    { jsonrpc: '2.0', id: nextId++, method, params: { ...params, _meta: modernMeta } },
    { 'mcp-protocol-version': MODERN, 'mcp-method': method, ...name, ...headers },
  );
}

/** A tools/call over the 2025-era wire, answered with the result (or a JSON-RPC error). */
export async function callTool(plane: ControlPlane, name: string, args: Record<string, unknown>) {
  const answer = await legacyRequest(plane, 'tools/call', { name, arguments: args });
  if (answer.body.error !== undefined) throw new Error(`${name}: ${JSON.stringify(answer.body.error)}`);
  return answer.body.result as {
    content: { type: string; text?: string }[];
    structuredContent: Record<string, unknown> & { ok: boolean };
    isError: boolean;
  };
}

/**
 * A request through node:http, for what fetch will not send: repeated headers
 * (an array value is sent as one header line per element), a forged Host.
 */
export async function rawRequest(
  plane: ControlPlane,
  options: { method: string; path?: string; headers: Record<string, string | string[]>; body?: string },
): Promise<{ status: number; headers: http.IncomingHttpHeaders; text: string }> {
  const url = new URL(plane.baseUrl);
  const reply = await httpRequest(
    {
      host: url.hostname,
      port: url.port,
      method: options.method,
      path: options.path ?? '/mcp',
      headers: { authorization: `Bearer ${plane.token}`, ...options.headers },
    },
    options.body,
  );
  return { status: reply.status, headers: reply.headers, text: reply.body.toString('utf8') };
}
