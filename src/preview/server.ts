import http from 'node:http';
import type net from 'node:net';
import type { Logger } from 'pino';
import { meter, meteredSplice } from '../egress/splice.ts';
import { ToolError } from '../protocol/errors.ts';
import { endToEndHeaders } from '../protocol/http-headers.ts';
import type { SandboxManager } from '../sandbox/manager.ts';
import type { Sandbox } from '../sandbox/sandbox.ts';
import { relayableLength, relayBody } from './body-relay.ts';
import type { PreviewGrant, PreviewGrants } from './grants.ts';
import { type PreviewAddressing, parsePreviewHost } from './host.ts';
import { type PageKind, pageFor } from './pages.ts';

/** The query parameter that carries a one-time capability, and the cookie its session becomes. */
export const CAPABILITY_PARAM = 'sandboxd_capability';
export const SESSION_COOKIE = 'sandboxd_preview';

/** A client must send its request head within this: a slowloris holds a socket no longer. */
const HEADERS_TIMEOUT_MS = 10_000;
const KEEP_ALIVE_TIMEOUT_MS = 5000;
/** Sockets the listener holds at once, across every sandbox. */
const MAX_LISTENER_CONNECTIONS = 4096;

/** Headers a client may not set for the server in the sandbox: ours to write, or the capability's cookie. */
const REPLACED = new Set([
  'host',
  'forwarded',
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-proto',
  'x-forwarded-port',
  'cookie',
]);

export interface PreviewEvents {
  /** Every request or WebSocket served, refused or failed. */
  onRequest?(
    outcome: 'ok' | 'unauthorized' | 'not-found' | 'unreachable' | 'limit' | 'error',
    kind: 'http' | 'websocket',
  ): void;
  onBytes?(direction: 'in' | 'out', bytes: number): void;
}

export interface PreviewServerOptions {
  /** Each WebSocket let through, under the grant that admitted it (closed when that grant ends). */
  onWebSocket?(grantId: string, socket: net.Socket): void;
  manager: SandboxManager;
  grants: PreviewGrants;
  addressing: PreviewAddressing;
  log: Logger;
  events?: PreviewEvents;
}

/** Cookie values named `name`, all of them: a neighbour on the same site may have tossed one in. */
export function cookieValues(header: string | undefined, name: string): string[] {
  if (header === undefined) return [];
  const values: string[] = [];
  for (const part of header.split(';')) {
    const separator = part.indexOf('=');
    if (separator !== -1 && part.slice(0, separator).trim() === name)
      values.push(part.slice(separator + 1).trim());
  }
  return values;
}

/** The Cookie header without our session cookie: the server in the sandbox never sees it. */
function cookiesForServer(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const kept = header
    .split(';')
    .map((part) => part.trim())
    .filter((part) => part.length > 0 && !part.startsWith(`${SESSION_COOKIE}=`));
  return kept.length === 0 ? undefined : kept.join('; ');
}

/**
 * Whether a browser sent this request from another origin. Every preview shares
 * one site (`*.localhost`, or the preview domain), so SameSite lets a page of
 * preview A send B's session cookie: only a top-level navigation (a link, the
 * address bar) may come from elsewhere, and a WebSocket only from its own page.
 * Clients that send no Fetch Metadata (curl, scripts) are not browsers' pages.
 */
function isForeign(request: http.IncomingMessage, isUpgrade: boolean, ownOrigin: string): boolean {
  if (isUpgrade) {
    const origin = request.headers.origin;
    return origin !== undefined && origin !== ownOrigin;
  }
  const site = request.headers['sec-fetch-site'];
  if (site === undefined || site === 'same-origin' || site === 'none') return false;
  const isNavigation = request.headers['sec-fetch-mode'] === 'navigate';
  return !(isNavigation && (request.method === 'GET' || request.method === 'HEAD'));
}

function clientAddress(socket: net.Socket): string {
  return socket.remoteAddress ?? 'unknown';
}

interface Admitted {
  sandbox: Sandbox;
  grant: PreviewGrant;
  port: number;
  host: string;
}

type Refusal = {
  status: number;
  outcome: 'unauthorized' | 'not-found';
  page: string;
  headers?: Record<string, string>;
};

/**
 * The preview listener: its own port, so every preview has an origin of its own
 * and none is the API's or the dashboard's. The Host header says which sandbox
 * and port; a capability in the URL (once) or the session cookie it became says
 * who may see it; then the request rides a tunnel to the server in the sandbox.
 */
export function createPreviewServer(options: PreviewServerOptions): http.Server {
  const { manager, grants, addressing, log, events } = options;

  /** The sandbox, port and grant a request is for, or why it is refused. */
  const admit = (request: http.IncomingMessage, isUpgrade: boolean): Admitted | Refusal => {
    const target = parsePreviewHost(request.headers.host, addressing.domain);
    const sandbox = target === undefined ? undefined : manager.findTaskSandbox(target.sandboxId);
    if (target === undefined || sandbox === undefined || !sandbox.isLive) {
      return { status: 404, outcome: 'not-found', page: pageFor('not-found', {}) };
    }
    const sessions = cookieValues(request.headers.cookie, SESSION_COOKIE);
    const grant = grants.authorize(sessions, sandbox.id, target.port);
    if (grant === undefined) {
      return {
        status: 401,
        outcome: 'unauthorized',
        page: pageFor('unauthorized', { port: target.port, sandboxId: sandbox.id }),
      };
    }
    if (!grant.isPublic && isForeign(request, isUpgrade, `${addressing.scheme}://${request.headers.host}`)) {
      return {
        status: 403,
        outcome: 'unauthorized',
        page: pageFor('cross-site', { port: target.port, sandboxId: sandbox.id }),
      };
    }
    return { sandbox, grant, port: target.port, host: request.headers.host as string };
  };

  /** A capability in the URL: trade it for the session cookie and come back without it. */
  const redeem = (request: http.IncomingMessage, response: http.ServerResponse, url: URL): boolean => {
    const capability = url.searchParams.get(CAPABILITY_PARAM);
    if (capability === null) return false;
    const target = parsePreviewHost(request.headers.host, addressing.domain);
    // Only a sandbox that exists gets an audit line for a wrong capability: no flood of made-up ids.
    const redeemed =
      target === undefined || manager.findTaskSandbox(target.sandboxId) === undefined
        ? undefined
        : grants.redeem(capability, target.sandboxId, target.port, clientAddress(request.socket));
    if (redeemed === undefined) {
      events?.onRequest?.('unauthorized', 'http');
      send(response, 401, pageFor('capability-used', {}));
      return true;
    }
    url.searchParams.delete(CAPABILITY_PARAM);
    const maxAge = Math.max(1, Math.floor((redeemed.grant.expiresAt.getTime() - Date.now()) / 1000));
    const secure = addressing.scheme === 'https' ? '; Secure' : '';
    // The session is saved before the browser gets it: a restart after the cookie keeps it good.
    grants.saved().then(
      () => {
        response.writeHead(303, {
          // One leading slash, whatever the request had: `//evil.example` would leave the origin.
          location: `/${url.pathname.replace(/^\/+/, '')}${url.search}`,
          'set-cookie': `${SESSION_COOKIE}=${redeemed.session}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${maxAge}${secure}`,
          'cache-control': 'no-store',
          'referrer-policy': 'no-referrer',
          'content-length': '0',
        });
        response.end();
      },
      () => {
        // Not saved: the file still holds the link's unused capability; withdrawn, or a restart revives it.
        grants.revoke(redeemed.grant.sandboxId, redeemed.grant.id);
        send(response, 503, pageFor('not-saved', {}));
      },
    );
    return true;
  };

  /** What the server in the sandbox is told: its own Host, and who really asked. */
  const forwardedHeaders = (request: http.IncomingMessage, port: number): string[] => {
    const headers = endToEndHeaders(request.rawHeaders, REPLACED);
    const cookie = cookiesForServer(request.headers.cookie);
    if (cookie !== undefined) headers.push('Cookie', cookie);
    headers.push(
      'Host',
      `localhost:${port}`,
      'X-Forwarded-For',
      clientAddress(request.socket),
      'X-Forwarded-Host',
      request.headers.host ?? '',
      'X-Forwarded-Proto',
      addressing.scheme,
    );
    return headers;
  };

  const server = http.createServer(
    {
      headersTimeout: HEADERS_TIMEOUT_MS,
      // Node checks the header deadline on this tick (30 s by default, three deadlines late).
      connectionsCheckingInterval: 1000,
      requestTimeout: 0,
      keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
    },
    (request, response) => {
      const url = new URL(request.url ?? '/', 'http://preview');
      if (redeem(request, response, url)) return;
      const admitted = admit(request, false);
      if ('status' in admitted) {
        events?.onRequest?.(admitted.outcome, 'http');
        send(response, admitted.status, admitted.page);
        request.resume();
        return;
      }
      const { sandbox, port } = admitted;
      const door = sandbox.preview;
      const upstream = http.request({
        agent: door.httpAgent,
        host: 'sandbox',
        port,
        method: request.method,
        path: request.url,
        headers: forwardedHeaders(request, port),
        setHost: false,
      });
      upstream.on('response', (reply) => {
        const status = reply.statusCode ?? 0;
        const headers = endToEndHeaders(reply.rawHeaders);
        // A long body of a known length goes through the relay, and the connection ends with it.
        const relay = manager.relay;
        const relayed =
          relay === undefined
            ? undefined
            : relayableLength(request, reply, response, headers, door.relayStarts);
        if (relayed !== undefined) headers.push('Connection', 'close');
        try {
          // The sandbox's server chooses status and headers: anything Node cannot send is a 502.
          if (status < 100 || status > 599 || status === 101) throw new Error(`status ${status}`);
          response.writeHead(status, reply.statusMessage, headers);
        } catch {
          upstream.destroy();
          events?.onRequest?.('error', 'http');
          send(response, 502, pageFor('failed', { port, sandboxId: sandbox.id }));
          return;
        }
        if (relay !== undefined && relayed !== undefined) {
          void relayBody(reply, response, relayed, door.budget, relay)
            .catch((error: unknown) => {
              response.destroy();
              return { bytes: 0, error: (error as Error).message };
            })
            .then((result) => {
              events?.onBytes?.('out', result.bytes);
              events?.onRequest?.(result.error === undefined ? 'ok' : 'error', 'http');
            });
          return;
        }
        const out = meter(reply, response, door.budget, () => response.destroy());
        reply.on('end', () => {
          events?.onBytes?.('out', out.bytes);
          events?.onRequest?.('ok', 'http');
        });
      });
      upstream.on('error', (error) => {
        const toolError = ToolError.from(error);
        if (response.headersSent) {
          response.destroy();
          return;
        }
        const failure = tunnelFailure(toolError);
        events?.onRequest?.(failure.outcome, 'http');
        if (failure.outcome === 'error') {
          log.warn({ sandboxId: sandbox.id, port, code: toolError.code }, 'preview request failed');
        }
        send(
          response,
          failure.status,
          pageFor(failure.page, { port, sandboxId: sandbox.id }),
          failure.outcome === 'limit' ? { 'retry-after': '1' } : {},
        );
      });
      response.on('close', () => {
        if (!response.writableFinished) upstream.destroy();
      });
      const sent = meter(request, upstream, door.budget, () => upstream.destroy());
      request.on('end', () => events?.onBytes?.('in', sent.bytes));
    },
  );
  server.maxConnections = MAX_LISTENER_CONNECTIONS;

  // WebSockets (a dev server's hot reload): the same checks; the raw bytes flow only once the
  // server in the sandbox agreed (101), and the socket goes when its grant is revoked or expires.
  server.on('upgrade', (request: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    const admitted = admit(request, true);
    if ('status' in admitted) {
      events?.onRequest?.(admitted.outcome, 'websocket');
      writeRaw(socket, admitted.status, admitted.page);
      return;
    }
    const { sandbox, port, grant } = admitted;
    const headers = forwardedHeaders(request, port);
    headers.push('Connection', 'Upgrade', 'Upgrade', request.headers.upgrade ?? 'websocket');
    const upstream = http.request({
      agent: sandbox.preview.httpAgent,
      host: 'sandbox',
      port,
      method: request.method,
      path: request.url,
      headers,
      setHost: false,
    });
    socket.once('close', () => upstream.destroy());
    upstream.on('upgrade', (reply, tunnel, upgradeHead) => {
      if (socket.destroyed) {
        tunnel.destroy();
        return;
      }
      const lines = [`HTTP/1.1 101 ${reply.statusMessage || 'Switching Protocols'}`];
      const replyHeaders = reply.rawHeaders;
      for (let index = 0; index < replyHeaders.length; index += 2) {
        lines.push(`${replyHeaders[index]}: ${replyHeaders[index + 1]}`);
      }
      socket.write(`${lines.join('\r\n')}\r\n\r\n`);
      if (upgradeHead.length > 0) socket.write(upgradeHead);
      if (head.length > 0) tunnel.write(head);
      events?.onRequest?.('ok', 'websocket');
      options.onWebSocket?.(grant.id, socket);
      void meteredSplice(tunnel, socket, sandbox.preview.budget).then((result) => {
        events?.onBytes?.('in', result.bytesReceived);
        events?.onBytes?.('out', result.bytesSent);
      });
    });
    upstream.on('response', (reply) => {
      // No upgrade: the server's answer goes back as it is, and this connection ends with it.
      reply.resume();
      events?.onRequest?.('error', 'websocket');
      writeRaw(socket, 502, pageFor('no-upgrade', { port, sandboxId: sandbox.id }));
    });
    upstream.on('error', (error: unknown) => {
      const failure = tunnelFailure(ToolError.from(error));
      events?.onRequest?.(failure.outcome, 'websocket');
      writeRaw(socket, failure.status, pageFor(failure.page, { port, sandboxId: sandbox.id }));
    });
    upstream.end();
  });
  return server;
}

/** How a request whose tunnel could not be opened is answered: its metric outcome, status and page. */
function tunnelFailure(error: ToolError): {
  outcome: 'unreachable' | 'limit' | 'error';
  status: number;
  page: PageKind;
} {
  if (error.code === 'PORT_NOT_LISTENING')
    return { outcome: 'unreachable', status: 502, page: 'not-listening' };
  if (error.code === 'QUOTA_EXCEEDED') return { outcome: 'limit', status: 503, page: 'limit' };
  return { outcome: 'error', status: 502, page: 'failed' };
}

function send(
  response: http.ServerResponse,
  status: number,
  page: string,
  headers: Record<string, string> = {},
): void {
  response.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'content-length': Buffer.byteLength(page),
    'cache-control': 'no-store',
    'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'",
    ...headers,
  });
  response.end(page);
}

function writeRaw(socket: net.Socket, status: number, page: string): void {
  socket.end(
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? 'Error'}\r\n` +
      `Content-Type: text/html; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(page)}\r\nConnection: close\r\n\r\n${page}`,
  );
}
