import http from 'node:http';
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import { MAX_TUNNEL_REPLY_BYTES, type TunnelReply, TunnelReply as TunnelReplySchema } from '#protocol/egress';
import { readFirstLine } from '#protocol/framing';
import { endToEndHeaders } from '#protocol/http-headers';
import { LargeReads } from '#protocol/large-reads';
import type { Dialer } from './dial.ts';
import type { AgentLog } from './log.ts';
import { relaySplice } from './relay.ts';

/** The control plane resolves (≤ 5 s) and connects (≤ 10 s) before it answers. */
const TUNNEL_REPLY_TIMEOUT_MS = 30_000;
/** A kept-alive tunnel for plain HTTP that carries nothing for this long is closed. */
const FREE_TUNNEL_TIMEOUT_MS = 15_000;

type Refusal = Extract<TunnelReply, { ok: false }>;

export interface EgressProxyOptions {
  /** How a tunnel reaches the control plane: its egress socket, or the agent port over TCP. */
  dialer: Dialer;
  log: AgentLog;
  /** Told the proxy's URL when it starts listening, undefined when it stops. */
  onChange: (url: string | undefined) => void;
}

/**
 * Asks the control plane for a tunnel to host:port over a connection of its own.
 * The control plane decides; this only relays its answer. With `reads`, the
 * tunnel's bytes arrive in large reads (a CONNECT splice), else as a plain stream.
 */
async function openTunnel(
  dialer: Dialer,
  host: string,
  port: number,
  reads?: LargeReads,
): Promise<{ socket: net.Socket } | { refusal: Refusal }> {
  const { socket } = dialer.dial('egress', {
    allowHalfOpen: true,
    ...(reads === undefined ? {} : { onread: reads.options }),
  });
  reads?.attach(socket);
  const failed = (message: string): { refusal: Refusal } => {
    socket.destroy();
    return { refusal: { ok: false, status: 502, rule: 'connect-failed', message } };
  };
  let socketError: string | undefined;
  socket.once('error', (error: NodeJS.ErrnoException) => {
    socketError = error.code ?? error.message;
  });
  socket.write(`${JSON.stringify({ host, port })}\n`);
  const limits = { maxBytes: MAX_TUNNEL_REPLY_BYTES, timeoutMs: TUNNEL_REPLY_TIMEOUT_MS };
  const line = await (reads === undefined ? readFirstLine(socket, limits) : reads.firstLine(limits));
  if (line === undefined) {
    return failed(
      socketError === undefined
        ? 'the control plane did not answer the tunnel request'
        : `cannot reach the control plane's egress socket (${socketError})`,
    );
  }
  let reply: TunnelReply;
  try {
    reply = TunnelReplySchema.parse(JSON.parse(line));
  } catch {
    return failed('the control plane sent a reply that is not a tunnel reply');
  }
  if (!reply.ok) {
    socket.destroy();
    return { refusal: reply };
  }
  socket.on('error', () => socket.destroy());
  return { socket };
}

/** The reason phrase carries the rule: npm, pip and others print it with the status. */
function refusalReason(refusal: Refusal): string {
  return `${http.STATUS_CODES[refusal.status] ?? 'Error'} (sandboxd egress: ${refusal.rule})`;
}

function refusalBody(refusal: Refusal, what: string): string {
  return `sandboxd egress proxy: ${what} refused (rule ${refusal.rule})\n${refusal.message}\n`;
}

/** A tunnel the control plane refused, as the error a request over TunnelAgent fails with. */
class TunnelRefused extends Error {
  readonly refusal: Refusal;

  constructor(refusal: Refusal) {
    super(refusal.message);
    this.refusal = refusal;
  }
}

/**
 * Plain HTTP requests ride tunnels kept alive per host:port, as a client keeps
 * connections to one origin: a package manager's hundred small GETs then cost
 * a few tunnels, not a hundred (each a name check, lookup and connect).
 */
class TunnelAgent extends http.Agent {
  readonly #dialer: Dialer;

  constructor(dialer: Dialer) {
    super({ keepAlive: true, maxSockets: 16, maxFreeSockets: 4, timeout: FREE_TUNNEL_TIMEOUT_MS });
    this.#dialer = dialer;
  }

  /** Node's Agent takes the socket from the callback when this returns nothing. */
  override createConnection(
    options: http.ClientRequestArgs,
    callback?: (error: Error | null, socket: Duplex) => void,
  ): undefined {
    void openTunnel(this.#dialer, options.host ?? '', Number(options.port)).then((result) => {
      if ('refusal' in result) callback?.(new TunnelRefused(result.refusal), undefined as never);
      else callback?.(null, result.socket.resume());
    });
    return undefined;
  }
}

/** A response written by hand on a CONNECT socket, which has no http.ServerResponse. */
function writeRawResponse(socket: net.Socket, status: number, body: string, refusal?: Refusal): void {
  const headers = [
    `HTTP/1.1 ${status} ${refusal === undefined ? (http.STATUS_CODES[status] ?? 'Error') : refusalReason(refusal)}`,
    'Content-Type: text/plain; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(body)}`,
    ...(refusal === undefined ? [] : [`X-Sandboxd-Egress-Rule: ${refusal.rule}`]),
    'Connection: close',
  ];
  socket.end(`${headers.join('\r\n')}\r\n\r\n${body}`);
}

/** `host:port` or `[v6]:port` of a CONNECT request. */
function parseAuthority(authority: string): { host: string; port: number } | undefined {
  const match = /^(\[[0-9A-Fa-f:.]+\]|[^\s:/[\]@]+):(\d{1,5})$/.exec(authority);
  if (match === null) return undefined;
  const port = Number(match[2]);
  if (port < 1 || port > 65_535) return undefined;
  const host = match[1] as string;
  return { host: host.startsWith('[') ? host.slice(1, -1) : host, port };
}

/**
 * The sandbox's HTTP proxy on 127.0.0.1 (a port the kernel picks): CONNECT for
 * TLS and anything else, plain HTTP forwarded in absolute form. Every tunnel is
 * a new connection to the control plane's egress socket, which decides; TLS
 * stays end to end, the proxy only sees the CONNECT host and port.
 */
export class EgressProxy {
  readonly #options: EgressProxyOptions;
  readonly #tunnels = new Set<net.Socket>();
  #server: http.Server | undefined;
  #agent: TunnelAgent | undefined;
  #change: Promise<void> = Promise.resolve();

  constructor(options: EgressProxyOptions) {
    this.#options = options;
  }

  /** Starts or stops the proxy; calls are applied one after another. */
  setEnabled(isEnabled: boolean): Promise<void> {
    this.#change = this.#change.then(() => (isEnabled ? this.#start() : this.#stop()));
    return this.#change;
  }

  async #start(): Promise<void> {
    if (this.#server !== undefined) return;
    // Uploads and downloads through the proxy may take long; the tunnel has its own idle limit.
    const server = http.createServer({ requestTimeout: 0 }, (request, response) =>
      this.#forward(request, response),
    );
    server.on('connect', (request: http.IncomingMessage, socket: net.Socket, head: Buffer) =>
      this.#connect(request, socket, head),
    );
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.#server = server;
    this.#agent = new TunnelAgent(this.#options.dialer);
    const { port } = server.address() as net.AddressInfo;
    const url = `http://127.0.0.1:${port}`;
    this.#options.log('info', 'egress proxy listening', { url });
    this.#options.onChange(url);
  }

  async #stop(): Promise<void> {
    const server = this.#server;
    if (server === undefined) return;
    this.#server = undefined;
    this.#options.onChange(undefined);
    for (const socket of this.#tunnels) socket.destroy();
    this.#agent?.destroy();
    this.#agent = undefined;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    this.#options.log('info', 'egress proxy stopped');
  }

  #connect(request: http.IncomingMessage, client: net.Socket, head: Buffer): void {
    client.on('error', () => client.destroy());
    const target = parseAuthority(request.url ?? '');
    if (target === undefined) {
      writeRawResponse(client, 400, 'sandboxd egress proxy: CONNECT needs host:port\n');
      return;
    }
    const reads = new LargeReads();
    void openTunnel(this.#options.dialer, target.host, target.port, reads).then((result) => {
      if ('refusal' in result) {
        const { refusal } = result;
        writeRawResponse(client, refusal.status, refusalBody(refusal, `CONNECT ${request.url}`), refusal);
        return;
      }
      if (client.destroyed) {
        result.socket.destroy();
        return;
      }
      this.#tunnels.add(client);
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) result.socket.write(head);
      void relaySplice(client, result.socket, reads).finally(() => this.#tunnels.delete(client));
    });
  }

  #forward(request: http.IncomingMessage, response: http.ServerResponse): void {
    let url: URL | undefined;
    try {
      url = new URL(request.url ?? '');
    } catch {
      url = undefined;
    }
    if (url === undefined || url.protocol !== 'http:') {
      response.writeHead(400, { 'content-type': 'text/plain; charset=utf-8' });
      response.end('sandboxd egress proxy: send http://host/path requests here, or CONNECT host:port\n');
      return;
    }
    const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    const port = url.port === '' ? 80 : Number(url.port);
    const path = `${url.pathname}${url.search}`;
    const refuse = (refusal: Refusal) => {
      response.writeHead(refusal.status, refusalReason(refusal), {
        'content-type': 'text/plain; charset=utf-8',
        'x-sandboxd-egress-rule': refusal.rule,
        connection: 'close',
      });
      response.end(refusalBody(refusal, `${request.method} ${url.href}`));
      request.resume();
    };
    const upstream = http.request({
      agent: this.#agent,
      host,
      port,
      method: request.method,
      path,
      headers: endToEndHeaders(request.rawHeaders),
      setHost: false,
    });
    upstream.on('response', (reply) => {
      response.writeHead(reply.statusCode ?? 502, reply.statusMessage, endToEndHeaders(reply.rawHeaders));
      reply.pipe(response);
    });
    upstream.on('error', (error) => {
      if (error instanceof TunnelRefused) refuse(error.refusal);
      else if (response.headersSent) response.destroy();
      else {
        response.writeHead(502, { 'content-type': 'text/plain; charset=utf-8', connection: 'close' });
        response.end(`sandboxd egress proxy: ${request.method} ${url.href} failed: ${error.message}\n`);
      }
    });
    response.on('close', () => {
      if (!upstream.writableFinished || !response.writableFinished) upstream.destroy();
    });
    request.pipe(upstream);
  }
}
