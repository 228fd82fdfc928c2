import {
  createMcpHandler,
  isLegacyRequest,
  type McpServer,
  WebStandardStreamableHTTPServerTransport,
} from '@modelcontextprotocol/server';
import { withSpeakableVersion } from '../mcp/protocol-versions.ts';

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

function isHandshake(body: unknown): boolean {
  const method = (body as { method?: unknown } | undefined)?.method;
  return typeof method === 'string' && HANDSHAKES.has(method);
}

function jsonRpcError(status: number, code: number, message: string): Response {
  return Response.json({ jsonrpc: '2.0', error: { code, message }, id: null }, { status });
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

  async #serveLegacy(request: Request, parsedBody: unknown): Promise<Response> {
    // Stateless: no session to open a stream on (GET) or to end (DELETE).
    if (request.method !== 'POST') return jsonRpcError(405, -32000, 'Method not allowed.');
    const withInstructions = isHandshake(parsedBody);
    let server: McpServer;
    try {
      server =
        (withInstructions ? undefined : this.#idle.pop()) ?? (await this.#factory({ withInstructions }));
    } catch (error) {
      this.#options.onerror(error as Error);
      return jsonRpcError(500, -32603, 'Internal error');
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
      return jsonRpcError(500, -32603, 'Internal error');
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
