import net from 'node:net';
import tls from 'node:tls';
import type { Logger } from 'pino';
import type { EgressGate } from '../egress/gate.ts';
import { DIAL_HELLO_TIMEOUT_MS, DialHello, MAX_DIAL_HELLO_BYTES } from '../protocol/dial.ts';
import { readFirstLine } from '../protocol/framing.ts';
import type { AgentLink } from './agent-link.ts';
import type { AgentTokens } from './agent-tokens.ts';
import type { PreviewDoor } from './preview-door.ts';
import { WarningLimiter } from './warning-limiter.ts';

/** Where a proved connection goes, by its channel. */
export interface Doors {
  link: AgentLink;
  egress: EgressGate;
  preview: PreviewDoor;
}

/** Connections that have not proved who they are yet, in all and per remote address. */
export const MAX_UNPROVEN = 256;
export const MAX_UNPROVEN_PER_ADDRESS = 8;

export interface AgentPortOptions {
  host: string;
  port: number;
  tokens: AgentTokens;
  /** The sandbox's doors, or undefined for a sandbox this control plane does not serve. */
  doors: (sandboxId: string) => Doors | undefined;
  log: Logger;
  /** PEM certificate and key: the port speaks TLS. */
  tls?: { cert: string; key: string };
}

/**
 * The control plane's agent port, for workers that share no socket directory
 * with it (a pod, or a container on a Docker network that reaches only this
 * port). Each connection's first line names a sandbox, its token and a channel;
 * a wrong token, a sandbox we do not serve or a bad line closes it without a
 * word. A proved connection is handed to the sandbox's agent link, egress gate
 * or preview door, which apply the same hello rules, budgets and limits as on their Unix sockets.
 */
export class AgentPort {
  readonly #options: AgentPortOptions;
  readonly #unproven = new Set<net.Socket>();
  readonly #perAddress = new Map<string, number>();
  readonly #warnings: WarningLimiter;
  #server: net.Server | undefined;

  constructor(options: AgentPortOptions) {
    this.#options = options;
    this.#warnings = new WarningLimiter(options.log);
  }

  /** The address it listens on (the port the kernel chose for port 0). */
  get address(): net.AddressInfo {
    return this.#server?.address() as net.AddressInfo;
  }

  async listen(): Promise<void> {
    const { tls: credentials } = this.#options;
    const onConnection = (socket: net.Socket) => this.#accept(socket);
    const server =
      credentials === undefined
        ? net.createServer({ allowHalfOpen: true, noDelay: true }, onConnection)
        : tls.createServer(
            { ...credentials, allowHalfOpen: true, handshakeTimeout: DIAL_HELLO_TIMEOUT_MS },
            onConnection,
          );
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: this.#options.host, port: this.#options.port }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.#server = server;
    this.#options.log.info(
      { address: this.address, isTls: credentials !== undefined },
      'agent port listening',
    );
  }

  async close(): Promise<void> {
    for (const socket of this.#unproven) socket.destroy();
    const server = this.#server;
    this.#server = undefined;
    if (server !== undefined) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  #accept(socket: net.Socket): void {
    socket.on('error', () => socket.destroy());
    const remote = socket.remoteAddress ?? '';
    const fromRemote = this.#perAddress.get(remote) ?? 0;
    if (this.#unproven.size >= MAX_UNPROVEN || fromRemote >= MAX_UNPROVEN_PER_ADDRESS) {
      // One sandbox dialling in a loop must not hold the slots its neighbours' agents need.
      socket.destroy();
      return;
    }
    this.#unproven.add(socket);
    this.#perAddress.set(remote, fromRemote + 1);
    void readFirstLine(socket, { maxBytes: MAX_DIAL_HELLO_BYTES, timeoutMs: DIAL_HELLO_TIMEOUT_MS })
      .finally(() => {
        this.#unproven.delete(socket);
        const left = (this.#perAddress.get(remote) ?? 1) - 1;
        if (left <= 0) this.#perAddress.delete(remote);
        else this.#perAddress.set(remote, left);
      })
      .then((line) => this.#route(socket, remote, line));
  }

  #route(socket: net.Socket, remote: string, line: string | undefined): void {
    if (socket.destroyed) return;
    const refusal = this.#prove(line);
    if (typeof refusal === 'string') {
      this.#warnings.warn({ remote, reason: refusal }, 'agent port: refusing a connection');
      socket.destroy();
      return;
    }
    const { hello, doors } = refusal;
    if (hello.channel === 'link') doors.link.acceptConnection(socket);
    else if (hello.channel === 'egress') doors.egress.acceptConnection(socket);
    else doors.preview.acceptConnection(socket);
  }

  /** The proved dial hello and the sandbox's doors, or why the connection is refused. */
  #prove(line: string | undefined): { hello: DialHello; doors: Doors } | string {
    if (line === undefined) return 'no dial hello in time, or one too long';
    let hello: DialHello;
    try {
      hello = DialHello.parse(JSON.parse(line));
    } catch {
      return 'the first line is not a dial hello';
    }
    // The token is compared whether or not we serve the sandbox: the refusal never says which exist.
    const isProved = this.#options.tokens.matches(hello.sandboxId, hello.token);
    const doors = this.#options.doors(hello.sandboxId);
    if (!isProved || doors === undefined) return `wrong token or no such sandbox (${hello.sandboxId})`;
    return { hello, doors };
  }
}
