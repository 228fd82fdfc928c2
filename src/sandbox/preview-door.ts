import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { ByteBudget } from '../egress/budget.ts';
import type { Policy } from '../policy/schema.ts';
import { ToolError } from '../protocol/errors.ts';
import { readFirstLine } from '../protocol/framing.ts';
import { MAX_PREVIEW_HELLO_BYTES, PREVIEW_SOCKET_NAME, PreviewTunnelHello } from '../protocol/preview.ts';
import { RelayStarts } from '../protocol/relay.ts';
import { listenOnSocketFile } from '../protocol/socket-file.ts';
import type { AgentLink } from './agent-link.ts';

/** Connections that have not named their tunnel yet; more are closed unread. */
const MAX_UNNAMED = 16;
/** The agent names its tunnel within this after it answered preview.open. */
const TUNNEL_ARRIVAL_TIMEOUT_MS = 10_000;
/** preview.open: the agent's local connect is bounded at 5 s on its side. */
const OPEN_TIMEOUT_MS = 10_000;
/** A request that comes while the agent redials (right after a control-plane restart) waits this long for it. */
const AGENT_WAIT_MS = 10_000;
/** A kept-alive tunnel that carries no request for this long is closed. */
const FREE_TUNNEL_TIMEOUT_MS = 15_000;

/** A policy's `preview` section. */
export type PreviewLimits = Policy['preview'];

/**
 * A sandbox's door in: preview.sock in its socket directory, where the agent
 * brings each tunnel the control plane asked for. `open(port)` gives a stream
 * to the server on that port of the sandbox's loopback.
 */
export class PreviewDoor {
  readonly socketPath: string;
  readonly budget: ByteBudget;
  /** How often this sandbox's previews may start the control plane's relay. */
  readonly relayStarts = new RelayStarts();
  /** Pools tunnels per port for plain HTTP (keep-alive); open() keeps the connection limit. */
  readonly httpAgent: http.Agent;
  readonly #sandboxId: string;
  readonly #link: AgentLink;
  readonly #log: Logger;
  readonly #limits: PreviewLimits;
  readonly #transport: 'unix' | 'tcp';
  readonly #waiting = new Map<string, (socket: net.Socket) => void>();
  readonly #unnamed = new Set<net.Socket>();
  readonly #open = new Set<net.Socket>();
  #server: net.Server | undefined;
  #listening: Promise<void> | undefined;
  #isClosed = false;
  readonly #isAgentExpected: () => boolean;
  /** One wait for the agent that every request coming meanwhile shares; ended by close(). */
  #agentArrival: Promise<void> | undefined;
  readonly #closing = new AbortController();

  constructor(options: {
    sandboxId: string;
    socketDir: string;
    link: AgentLink;
    log: Logger;
    limits: PreviewLimits;
    /** 'tcp': no preview.sock; the agent port hands over this sandbox's tunnels (acceptConnection). */
    transport?: 'unix' | 'tcp';
    /** Whether an agent that is not connected is coming (a container starting, adopted or reconnecting). */
    isAgentExpected?: () => boolean;
  }) {
    this.#transport = options.transport ?? 'unix';
    this.#isAgentExpected = options.isAgentExpected ?? (() => true);
    this.socketPath = path.join(options.socketDir, PREVIEW_SOCKET_NAME);
    this.#sandboxId = options.sandboxId;
    this.#link = options.link;
    this.#log = options.log;
    this.#limits = options.limits;
    this.budget = new ByteBudget(options.limits);
    const door = this;
    this.httpAgent = new (class extends http.Agent {
      override createConnection(
        connectOptions: http.ClientRequestArgs,
        callback?: (error: Error | null, socket: Duplex) => void,
      ): undefined {
        door.open(Number(connectOptions.port)).then(
          // Paused since its first line was read: the HTTP client reads it from now on.
          (socket) => callback?.(null, socket.resume()),
          (error: unknown) => callback?.(error as Error, undefined as never),
        );
        return undefined;
      }
    })({
      keepAlive: true,
      // No queue in the Agent: past the door's own limit a request is answered 503 at once.
      maxSockets: Number.POSITIVE_INFINITY,
      maxFreeSockets: 8,
      timeout: FREE_TUNNEL_TIMEOUT_MS,
    });
  }

  get limits(): PreviewLimits {
    return this.#limits;
  }

  /** Tunnels open now, and those being opened. */
  get activeConnections(): number {
    return this.#open.size + this.#waiting.size;
  }

  /** A new tunnel to `port` on the sandbox's loopback; PORT_NOT_LISTENING when nothing accepts there. */
  async open(port: number): Promise<net.Socket> {
    if (this.#isClosed)
      throw new ToolError('SANDBOX_UNAVAILABLE', `sandbox ${this.#sandboxId} is going away`);
    if (this.activeConnections >= this.#limits.connections) {
      throw new ToolError(
        'QUOTA_EXCEEDED',
        `sandbox ${this.#sandboxId} already has ${this.#limits.connections} preview connections open (its limit)`,
        { details: { limit: 'previewConnections', value: this.#limits.connections } },
      );
    }
    const tunnelId = randomBytes(16).toString('hex');
    let arrive: (socket: net.Socket) => void = () => {};
    const arrived = new Promise<net.Socket>((resolve) => {
      arrive = resolve;
    });
    // Counted from here on, so a burst of opens cannot pass the limit while the socket binds.
    this.#waiting.set(tunnelId, (socket) => arrive(socket));
    let timer: NodeJS.Timeout | undefined;
    try {
      await this.#listen();
      // A browser that reloads a preview during a restart gets its page a moment later, not an error.
      if (!this.#link.isReady && this.#isAgentExpected()) await this.#agentArrived();
      await this.#link.call('preview.open', { port, tunnelId }, { timeoutMs: OPEN_TIMEOUT_MS });
      // The agent answered: its tunnel is on its way (or it lies, and the wait ends the call).
      const socket = await Promise.race([
        arrived,
        new Promise<never>((_resolve, reject) => {
          timer = setTimeout(
            () => reject(new ToolError('TIMEOUT', 'the sandbox agent did not bring the preview tunnel')),
            TUNNEL_ARRIVAL_TIMEOUT_MS,
          );
        }),
      ]);
      if (this.#isClosed) {
        socket.destroy();
        throw new ToolError('SANDBOX_UNAVAILABLE', `sandbox ${this.#sandboxId} is going away`);
      }
      this.#open.add(socket);
      socket.once('close', () => this.#open.delete(socket));
      return socket;
    } finally {
      clearTimeout(timer);
      this.#waiting.delete(tunnelId);
    }
  }

  #agentArrived(): Promise<void> {
    this.#agentArrival ??= this.#link.waitReady(AGENT_WAIT_MS, this.#closing.signal).finally(() => {
      this.#agentArrival = undefined;
    });
    return this.#agentArrival;
  }

  async close(): Promise<void> {
    this.#isClosed = true;
    this.#closing.abort(new ToolError('SANDBOX_UNAVAILABLE', `sandbox ${this.#sandboxId} is going away`));
    this.httpAgent.destroy();
    for (const socket of [...this.#unnamed, ...this.#open]) socket.destroy();
    const server = this.#server;
    this.#server = undefined;
    if (server !== undefined) {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(this.socketPath, { force: true });
    }
  }

  /** A tunnel from the agent port that proved it is this sandbox's (TCP transport). */
  acceptConnection(socket: net.Socket): void {
    this.#accept(socket);
  }

  /** Listens on preview.sock from the first preview on (a stale socket is replaced). */
  #listen(): Promise<void> {
    if (this.#transport === 'tcp') return Promise.resolve();
    this.#listening ??= (async () => {
      const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (socket) =>
        this.#accept(socket),
      );
      await listenOnSocketFile(server, this.socketPath);
      if (this.#isClosed) {
        server.close();
        await rm(this.socketPath, { force: true });
        throw new ToolError('SANDBOX_UNAVAILABLE', `sandbox ${this.#sandboxId} is going away`);
      }
      this.#server = server;
    })().catch((error: unknown) => {
      this.#listening = undefined;
      throw error;
    });
    return this.#listening;
  }

  #accept(socket: net.Socket): void {
    socket.on('error', () => socket.destroy());
    if (this.#isClosed || this.#unnamed.size >= MAX_UNNAMED || this.#waiting.size === 0) {
      socket.destroy();
      return;
    }
    this.#unnamed.add(socket);
    void readFirstLine(socket, { maxBytes: MAX_PREVIEW_HELLO_BYTES, timeoutMs: TUNNEL_ARRIVAL_TIMEOUT_MS })
      .finally(() => this.#unnamed.delete(socket))
      .then((line) => {
        const resolve = line === undefined ? undefined : this.#waiting.get(tunnelIdOf(line) ?? '');
        if (resolve === undefined) {
          this.#log.warn(
            { sandboxId: this.#sandboxId },
            'a preview tunnel connection named no tunnel we wait for',
          );
          socket.destroy();
          return;
        }
        this.#waiting.delete(tunnelIdOf(line as string) as string);
        resolve(socket);
      });
  }
}

function tunnelIdOf(line: string): string | undefined {
  try {
    const parsed = PreviewTunnelHello.safeParse(JSON.parse(line));
    return parsed.success ? parsed.data.tunnel : undefined;
  } catch {
    return undefined;
  }
}
