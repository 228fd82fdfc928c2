import {
  createMcpHandler,
  isLegacyRequest,
  type McpServer,
  WebStandardStreamableHTTPServerTransport,
} from '@modelcontextprotocol/server';
import { withSpeakableVersion } from '../mcp/protocol-versions.ts';
import { mirrorHeaderRejection } from './mcp-headers.ts';
import { RPC_ERROR, requestIdOf, rpcErrorResponse } from './rpc-error.ts';

/** Whether the server built for a message must carry the workspace's instructions. */
export type ServerFactory = (options: { withInstructions: boolean }) => McpServer | Promise<McpServer>;

export interface McpEndpointOptions {
  maxRequestBodySize: number;
  onerror: (error: Error) => void;
}

/** Idle 2025-era server instances one endpoint keeps for reuse. */
const MAX_IDLE_SERVERS = 8;

/** The methods whose answer carries the server's instructions: the handshakes. */
const HANDSHAKES = new Set(['initialize', 'server/discover']);

function isNotification(body: unknown): boolean {
  const message = body as { method?: unknown } | undefined;
  return typeof message?.method === 'string' && !('id' in message);
}

function isHandshake(body: unknown): boolean {
  const method = (body as { method?: unknown } | undefined)?.method;
  return typeof method === 'string' && HANDSHAKES.has(method);
}

const internalError = (body: unknown) =>
  rpcErrorResponse(500, RPC_ERROR.internalError, 'Internal error', { id: requestIdOf(body) });

/** Answers for both eras are one JSON body, so a client that accepts JSON is served. */
const ACCEPTS_JSON = /application\/json|application\/\*|\*\/\*/;

/**
 * The request as the SDK's legacy transport wants it, or undefined when the
 * client accepts no JSON. The transport insists on an Accept naming both JSON
 * and SSE even though this endpoint always answers JSON; a client that names
 * only JSON (or nothing, which means anything) has said all that matters.
 */
function acceptingBoth(request: Request): Request | undefined {
  const accept = request.headers.get('accept') ?? '';
  if (accept.includes('application/json') && accept.includes('text/event-stream')) return request;
  if (accept.trim() !== '' && !ACCEPTS_JSON.test(accept)) return undefined;
  const headers = new Headers(request.headers);
  headers.set('accept', 'application/json, text/event-stream');
  // The body is never read again: the transport gets it parsed.
  return new Request(request.url, { method: request.method, headers, signal: request.signal });
}

/**
 * One workspace's MCP endpoint, both protocol eras. 2026-07-28 traffic goes to
 * the SDK's `createMcpHandler` (a fresh instance per request, one JSON answer).
 * 2025-era traffic is served statelessly here rather than by the SDK's legacy
 * fallback, for two things on the hot path: the answer is one JSON body (the
 * fallback always opens an SSE stream: headers flushed first, then the event,
 * two socket writes and a stream to pump; no tool of ours sends anything
 * before its result), and the server instance is reused once its request is
 * done (building one registers every tool, ~0.2 ms a request). An instance is
 * reused only after a clean exchange that was not a handshake: `initialize`
 * stores the client's capabilities on the instance, so it gets a fresh one
 * that is dropped afterwards. Notifications (`initialized`, `cancelled`) leave
 * nothing behind on a stateless instance.
 */
export class McpEndpoint {
  readonly #factory: ServerFactory;
  readonly #options: McpEndpointOptions;
  readonly #modern: ReturnType<typeof createMcpHandler>;
  readonly #idle: McpServer[] = [];

  constructor(factory: ServerFactory, options: McpEndpointOptions) {
    this.#factory = factory;
    this.#options = options;
    this.#modern = createMcpHandler(
      // The SDK calls this once per modern request; only the handshake shows instructions.
      (context) => {
        const message =
          context.requestInfo === undefined ? undefined : modernMessages.get(context.requestInfo);
        return factory({ withInstructions: isHandshake(message) });
      },
      { legacy: 'reject', maxRequestBodySize: options.maxRequestBodySize, onerror: options.onerror },
    );
  }

  async fetch(request: Request, parsedBody: unknown): Promise<Response> {
    // Neither era has a stream to open (GET) or a session to end (DELETE): 2026-07-28,
    // Streamable HTTP § Earlier Streamable HTTP Revisions; RFC 9110 § 15.5.6 wants Allow.
    if (request.method !== 'POST') {
      return rpcErrorResponse(405, RPC_ERROR.invalidRequest, 'Method Not Allowed: send JSON-RPC with POST', {
        headers: { allow: 'POST' },
      });
    }
    const rejection = mirrorHeaderRejection(request.headers, parsedBody);
    if (rejection !== undefined) return rejection;
    const options = { maxRequestBodySize: this.#options.maxRequestBodySize };
    if (await isLegacyRequest(request, parsedBody, options)) {
      return this.#serveLegacy(request, withSpeakableVersion(parsedBody));
    }
    modernMessages.set(request, parsedBody);
    return this.#modern.fetch(request, parsedBody === undefined ? {} : { parsedBody });
  }

  async close(): Promise<void> {
    const idle = this.#idle.splice(0);
    await Promise.all([this.#modern.close(), ...idle.map((server) => server.close())]);
  }

  async #serveLegacy(received: Request, parsedBody: unknown): Promise<Response> {
    // A stateless server has nothing to do with a notification (initialized,
    // cancelled): it is accepted whatever the client's Accept says.
    if (isNotification(parsedBody)) return new Response(null, { status: 202 });
    const request = acceptingBoth(received);
    if (request === undefined) {
      return rpcErrorResponse(406, RPC_ERROR.invalidRequest, 'Not Acceptable: accept application/json', {
        id: requestIdOf(parsedBody),
      });
    }
    const withInstructions = isHandshake(parsedBody);
    let server: McpServer;
    try {
      server =
        (withInstructions ? undefined : this.#idle.pop()) ?? (await this.#factory({ withInstructions }));
    } catch (error) {
      this.#options.onerror(error as Error);
      return internalError(parsedBody);
    }
    const transport = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: undefined,
      enableJsonResponse: true,
      maxRequestBodySize: this.#options.maxRequestBodySize,
    });
    let isReusable = !withInstructions;
    const abandon = () => {
      isReusable = false;
      void transport.close().catch(() => {});
    };
    request.signal.addEventListener('abort', abandon, { once: true });
    try {
      await server.connect(transport);
      // A notification's 202 comes back before its handler has run; the close below waits it out.
      return await transport.handleRequest(request, parsedBody === undefined ? {} : { parsedBody });
    } catch (error) {
      isReusable = false;
      this.#options.onerror(error as Error);
      return internalError(parsedBody);
    } finally {
      request.signal.removeEventListener('abort', abandon);
      await transport.close().catch(() => {});
      if (isReusable && server.isConnected() === false && this.#idle.length < MAX_IDLE_SERVERS) {
        this.#idle.push(server);
      } else {
        void server.close().catch(() => {});
      }
    }
  }
}

/** The parsed body of each modern request, for the factory (which the SDK hands only the Request). */
const modernMessages = new WeakMap<Request, unknown>();
