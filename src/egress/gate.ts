import { rm } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import type { Logger } from 'pino';
import type { EgressAllowList } from '../policy/egress.ts';
import {
  EGRESS_SOCKET_NAME,
  MAX_TUNNEL_REQUEST_BYTES,
  TUNNEL_REQUEST_TIMEOUT_MS,
  TunnelRequest,
} from '../protocol/egress.ts';
import { readFirstLine } from '../protocol/framing.ts';
import { LargeReads } from '../protocol/large-reads.ts';
import { RelayStarts } from '../protocol/relay.ts';
import { listenOnSocketFile } from '../protocol/socket-file.ts';
import { canonicalAddress } from './addresses.ts';
import { type EgressRecord, logEgress } from './audit.ts';
import { ByteBudget } from './budget.ts';
import { checkName, pickAddress, type Refused, refused } from './decide.ts';
import type { Lookup } from './resolve.ts';
import { meteredSplice } from './splice.ts';

/**
 * Opens a TCP connection to an address that has been checked; never to a name.
 * `onread` (given by the gate) makes the destination's bytes arrive in large reads.
 */
export type Connect = (address: string, port: number, onread?: net.OnReadOpts) => net.Socket;

const connectTcp: Connect = (address, port, onread) =>
  net.connect({
    host: address,
    port,
    allowHalfOpen: true,
    noDelay: true,
    ...(onread === undefined ? {} : { onread }),
  });

/** Connections that have not sent their request line yet, per sandbox: the rest are closed at once. */
export const MAX_PENDING_REQUESTS = 16;
export const CONNECT_TIMEOUT_MS = 10_000;

export interface EgressGateOptions {
  sandboxId: string;
  socketDir: string;
  /** null: egress is off (no socket listens). */
  allowList: EgressAllowList | null;
  lookup: Lookup;
  log: Logger;
  /** Every connection's audit record, when it ends. */
  onRecord?: (record: EgressRecord) => void;
  /** Each allowed tunnel's set-up time: request read → destination connected. */
  onOpen?: (setupMs: number) => void;
  connect?: Connect;
  /** How long a connection may take to send its request line (tests shorten it). */
  requestTimeoutMs?: number;
  /** The control plane's relay binary, when there is one: tunnels' bulk bytes go through it (splice.ts). */
  relay?: () => string | undefined;
  /** 'tcp': no egress.sock; the agent port hands over this sandbox's tunnels (acceptConnection). */
  transport?: 'unix' | 'tcp';
}

function errorCode(error: unknown): string {
  return (error as NodeJS.ErrnoException).code ?? (error as Error).message;
}

/**
 * A sandbox's door out. It listens on egress.sock in the sandbox's socket
 * directory while the sandbox may reach anything; each connection asks for one
 * host:port. The gate checks the name against the allow-list, resolves it here
 * on the host, refuses inward addresses, connects to the address it checked (no
 * second lookup), then splices bytes both ways within the sandbox's limits. The
 * sandbox chooses nothing but host and port.
 */
export class EgressGate {
  readonly socketPath: string;
  readonly #options: EgressGateOptions;
  readonly #budget: ByteBudget;
  readonly #relayStarts = new RelayStarts();
  readonly #pending = new Set<net.Socket>();
  /** Tunnels accepted and not yet closed: resolving, connecting or carrying bytes. */
  readonly #open = new Set<net.Socket>();
  #allowList: EgressAllowList | null;
  #server: net.Server | undefined;
  #isClosed = false;

  constructor(options: EgressGateOptions) {
    this.#options = options;
    this.socketPath = path.join(options.socketDir, EGRESS_SOCKET_NAME);
    this.#allowList = options.allowList;
    this.#budget = new ByteBudget(options.allowList?.limits ?? { connections: 1 });
  }

  get allowList(): EgressAllowList | null {
    return this.#allowList;
  }

  get activeConnections(): number {
    return this.#open.size;
  }

  /** Bytes moved through this sandbox's tunnels since the control plane started serving it. */
  get usedBytes(): number {
    return this.#budget.usedBytes;
  }

  /** Changes what the sandbox may reach from now on; null closes the door and every open tunnel. */
  async setAllowList(allowList: EgressAllowList | null): Promise<void> {
    this.#allowList = allowList;
    if (allowList !== null) {
      this.#budget.limits = allowList.limits;
      await this.listen();
      return;
    }
    for (const socket of [...this.#pending, ...this.#open]) socket.destroy();
    await this.#stopListening();
  }

  /** Listens on egress.sock when egress is on (a stale socket is replaced); a no-op otherwise. */
  async listen(): Promise<void> {
    if (this.#isClosed || this.#allowList === null || this.#server !== undefined) return;
    if (this.#options.transport === 'tcp') return;
    const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (socket) =>
      this.#accept(socket),
    );
    this.#server = server;
    await listenOnSocketFile(server, this.socketPath);
  }

  /** A tunnel from the agent port that proved it is this sandbox's (TCP transport). */
  acceptConnection(socket: net.Socket): void {
    this.#accept(socket);
  }

  async close(): Promise<void> {
    this.#isClosed = true;
    for (const socket of [...this.#pending, ...this.#open]) socket.destroy();
    await this.#stopListening();
  }

  async #stopListening(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    if (server === undefined) return;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await rm(this.socketPath, { force: true });
  }

  #accept(socket: net.Socket): void {
    socket.on('error', () => socket.destroy());
    const startedAt = performance.now();
    const record = (fields: Partial<EgressRecord> & Pick<EgressRecord, 'decision' | 'rule'>) => {
      const full: EgressRecord = {
        sandboxId: this.#options.sandboxId,
        host: null,
        port: null,
        address: null,
        bytesSent: 0,
        bytesReceived: 0,
        durationMs: Math.round(performance.now() - startedAt),
        ...fields,
      };
      logEgress(this.#options.log, full);
      this.#options.onRecord?.(full);
    };
    if (this.#isClosed || this.#allowList === null || this.#pending.size >= MAX_PENDING_REQUESTS) {
      // Nothing is read from a connection over the limit: a flood costs one accept and one line each.
      socket.destroy();
      record({ decision: 'refused', rule: 'limit-connections' });
      return;
    }
    this.#pending.add(socket);
    void readFirstLine(socket, {
      maxBytes: MAX_TUNNEL_REQUEST_BYTES,
      timeoutMs: this.#options.requestTimeoutMs ?? TUNNEL_REQUEST_TIMEOUT_MS,
    })
      .finally(() => this.#pending.delete(socket))
      .then((line) => this.#serve(socket, line, record, startedAt))
      .catch((error: unknown) => {
        socket.destroy();
        this.#options.log.error(
          { sandboxId: this.#options.sandboxId, error: String(error) },
          'egress tunnel',
        );
      });
  }

  async #serve(
    socket: net.Socket,
    line: string | undefined,
    record: (fields: Partial<EgressRecord> & Pick<EgressRecord, 'decision' | 'rule'>) => void,
    startedAt: number,
  ): Promise<void> {
    const refuse = (refusal: Refused, fields: Partial<EgressRecord> = {}) => {
      socket.end(
        `${JSON.stringify({ ok: false, status: refusal.status, rule: refusal.rule, message: refusal.message })}\n`,
      );
      socket.destroySoon();
      record({ ...fields, decision: refusal.status === 502 ? 'failed' : 'refused', rule: refusal.rule });
    };
    const request = parseRequest(line);
    if (request === undefined) {
      return refuse(refused('invalid-request', 'expected one JSON line {"host": …, "port": …}'));
    }
    const allowList = this.#allowList;
    if (allowList === null) {
      return refuse(refused('egress-disabled', 'egress is off for this sandbox'), {
        host: request.host,
        port: request.port,
      });
    }
    const name = checkName(allowList, request.host, request.port);
    const host = name.isAllowed
      ? name.host.kind === 'ip'
        ? name.host.address
        : name.host.name
      : request.host;
    const fields = { host, port: request.port };
    if (!name.isAllowed) return refuse(withHint(name, this.#options.sandboxId), fields);
    const { connections } = allowList.limits;
    if (this.#open.size >= connections) {
      return refuse(
        refused(
          'limit-connections',
          `this sandbox already has ${connections} egress connections open (its limit)`,
        ),
        fields,
      );
    }
    if (this.#budget.isExhausted) {
      return refuse(
        refused(
          'limit-total-bytes',
          `this sandbox used its egress budget of ${allowList.limits.totalBytes} bytes`,
        ),
        fields,
      );
    }
    this.#open.add(socket);
    try {
      const target =
        name.host.kind === 'ip'
          ? { isAllowed: true as const, address: name.host.address, rule: name.rule }
          : await this.#resolve(allowList, name.host.name, name.rule);
      if (!target.isAllowed) {
        return refuse(withHint(target, this.#options.sandboxId), {
          ...fields,
          address: target.address ?? null,
        });
      }
      const at = { ...fields, address: target.address };
      let outside: net.Socket;
      const reads = new LargeReads();
      try {
        outside = reads.attach(
          await connectChecked(this.#options.connect ?? connectTcp, target.address, request.port, reads),
        );
      } catch (error) {
        return refuse(
          refused(
            'connect-failed',
            `could not connect to ${target.address}:${request.port} (${errorCode(error)})`,
          ),
          at,
        );
      }
      if (socket.destroyed || this.#allowList === null) {
        outside.destroy();
        return record({ ...at, decision: 'refused', rule: 'egress-disabled' });
      }
      this.#options.onOpen?.(performance.now() - startedAt);
      socket.write(`${JSON.stringify({ ok: true })}\n`);
      socket.resume();
      const binary = this.#options.relay?.();
      const result = await meteredSplice(
        socket,
        outside,
        this.#budget,
        reads,
        binary === undefined ? undefined : { binary, starts: this.#relayStarts },
      );
      record({
        ...at,
        bytesSent: result.bytesSent,
        bytesReceived: result.bytesReceived,
        decision: 'allowed',
        rule: target.rule,
      });
    } finally {
      this.#open.delete(socket);
    }
  }

  async #resolve(allowList: EgressAllowList, name: string, rule: string) {
    let addresses: string[];
    try {
      addresses = (await this.#options.lookup(name)).map(canonicalAddress);
    } catch (error) {
      return refused('resolve-failed', `${name} could not be resolved (${errorCode(error)})`);
    }
    return pickAddress(allowList, name, rule, addresses);
  }
}

function parseRequest(line: string | undefined): TunnelRequest | undefined {
  if (line === undefined) return undefined;
  try {
    const parsed = TunnelRequest.safeParse(JSON.parse(line));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** A policy refusal says where the allow-list is changed; a limit or a failure does not need to. */
function withHint(refusal: Refused, sandboxId: string): Refused {
  if (refusal.status !== 403) return refusal;
  return {
    ...refusal,
    message: `${refusal.message}. An operator can allow it in the policy's network.egress or with PATCH /v1/sandboxes/${sandboxId}.`,
  };
}

/** Connects to an address (never a name: nothing is looked up twice) within CONNECT_TIMEOUT_MS. */
function connectChecked(
  connect: Connect,
  address: string,
  port: number,
  reads: LargeReads,
): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(address, port, reads.options);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(Object.assign(new Error('connect timed out'), { code: 'ETIMEDOUT' }));
    }, CONNECT_TIMEOUT_MS);
    const onError = (error: Error) => {
      clearTimeout(timer);
      socket.destroy();
      reject(error);
    };
    socket.once('error', onError);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.off('error', onError);
      resolve(socket);
    });
  });
}
