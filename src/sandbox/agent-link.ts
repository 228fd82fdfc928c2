import { EventEmitter } from 'node:events';
import { chmod, mkdir, rm } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import type { Logger } from 'pino';
import {
  AGENT_SOCKET_NAME,
  type AgentMethod,
  type AgentParams,
  type AgentResult,
  agentMethods,
  Hello,
  PROTOCOL_VERSION,
} from '../protocol/agent-api.ts';
import { ToolError } from '../protocol/errors.ts';
import { encodeLine, LineSplitter, MAX_LINE_BYTES } from '../protocol/framing.ts';
import { ErrorResponse, Notification, SuccessResponse } from '../protocol/jsonrpc.ts';
import type { AgentLimits } from '../protocol/limits.ts';

interface Pending {
  method: AgentMethod;
  resolve: (value: unknown) => void;
  reject: (error: ToolError) => void;
  timer: NodeJS.Timeout;
}

export interface AgentLinkOptions {
  sandboxId: string;
  socketDir: string;
  limits: AgentLimits;
  log: Logger;
  /** Whether the agent should serve the egress proxy; asked at every configure. */
  serveEgressProxy?: () => boolean;
  /** Bound on one agent message; an agent that sends more is disconnected. */
  maxMessageBytes?: number;
}

export interface CallOptions {
  timeoutMs?: number;
}

const DEFAULT_CALL_TIMEOUT_MS = 60_000;
/** Connections that have not said hello yet, per sandbox. */
const MAX_GREETING_CONNECTIONS = 4;
const HELLO_TIMEOUT_MS = 10_000;
const MAX_HELLO_BYTES = 64 * 1024;
const CONFIGURE_TIMEOUT_MS = 10_000;

/**
 * The control plane's end of one sandbox's agent connection. It listens on the
 * sandbox's own Unix socket, so the socket a connection arrives on says which
 * sandbox it is. Everything the agent sends is untrusted: it is size-bounded,
 * parsed with the shared schemas, and matched to a request we made.
 *
 * Events: 'ready' (hello + configure done), 'disconnect'.
 */
export class AgentLink extends EventEmitter {
  readonly socketPath: string;
  readonly #options: AgentLinkOptions;
  readonly #server: net.Server;
  readonly #pending = new Map<number, Pending>();
  readonly #greeting = new Set<net.Socket>();
  #socket: net.Socket | undefined;
  #nextId = 1;
  #isClosed = false;
  #isConfigured = false;
  hello: Hello | undefined;
  connections = 0;

  constructor(options: AgentLinkOptions) {
    super();
    this.#options = options;
    this.socketPath = path.join(options.socketDir, AGENT_SOCKET_NAME);
    this.#server = net.createServer((socket) => this.#accept(socket));
  }

  get isReady(): boolean {
    return this.#socket !== undefined && this.#isConfigured && !this.#socket.destroyed;
  }

  /** Creates the socket directory (root-owned, 0755) and listens; a stale socket is replaced. */
  async listen(): Promise<void> {
    await mkdir(this.#options.socketDir, { recursive: true, mode: 0o755 });
    await chmod(this.#options.socketDir, 0o755);
    await rm(this.socketPath, { force: true });
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.socketPath, () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
    // The agent runs as an unprivileged user; only this container mounts the directory.
    await chmod(this.socketPath, 0o666);
  }

  /** Resolves once an agent has said hello and been configured; rejects after `timeoutMs`. */
  waitReady(timeoutMs: number, signal?: AbortSignal): Promise<void> {
    if (this.isReady) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const cleanup = () => {
        clearTimeout(timer);
        this.off('ready', onReady);
        signal?.removeEventListener('abort', onAbort);
      };
      const onReady = () => {
        cleanup();
        resolve();
      };
      const onAbort = () => {
        cleanup();
        reject(signal?.reason ?? new Error('aborted'));
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(
          new ToolError('SANDBOX_UNAVAILABLE', `the sandbox agent did not connect within ${timeoutMs} ms`, {
            details: { sandboxId: this.#options.sandboxId, timeoutMs },
          }),
        );
      }, timeoutMs);
      this.on('ready', onReady);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Calls a method on the agent; the result is validated against the method's schema. */
  call<M extends AgentMethod>(
    method: M,
    params: AgentParams<M>,
    options: CallOptions = {},
  ): Promise<AgentResult<M>> {
    const socket = this.#socket;
    if (socket === undefined || socket.destroyed || (!this.#isConfigured && method !== 'configure')) {
      return Promise.reject(
        new ToolError('SANDBOX_UNAVAILABLE', 'the sandbox agent is not connected', {
          details: { sandboxId: this.#options.sandboxId },
        }),
      );
    }
    const id = this.#nextId++;
    const timeoutMs = options.timeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new ToolError('TIMEOUT', `the agent did not answer ${method} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(id, { method, resolve: resolve as (value: unknown) => void, reject, timer });
      socket.write(encodeLine({ jsonrpc: '2.0', id, method, params }));
    });
  }

  /** Sends the configuration again (egress turned on or off); the next hello gets it anyway. */
  async reconfigure(): Promise<void> {
    if (!this.isReady) return;
    await this.call('configure', this.#configuration(), { timeoutMs: CONFIGURE_TIMEOUT_MS });
  }

  #configuration(): AgentParams<'configure'> {
    return {
      sandboxId: this.#options.sandboxId,
      limits: this.#options.limits,
      serveEgressProxy: this.#options.serveEgressProxy?.() ?? false,
    };
  }

  /** Cuts the current agent connection (tests use it to prove the agent redials). */
  disconnect(): void {
    this.#socket?.destroy();
  }

  async close(): Promise<void> {
    this.#isClosed = true;
    this.#socket?.destroy();
    for (const socket of this.#greeting) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#failPending('the sandbox is shutting down');
  }

  #accept(socket: net.Socket): void {
    if (this.#isClosed || this.#greeting.size >= MAX_GREETING_CONNECTIONS) {
      // Anything in the container can connect; never let it hold many host descriptors.
      socket.destroy();
      return;
    }
    this.#greeting.add(socket);
    socket.setNoDelay(true);
    const helloTimer = setTimeout(() => this.#drop(socket, 'no hello in time'), HELLO_TIMEOUT_MS);
    let splitter = new LineSplitter(MAX_HELLO_BYTES);
    socket.on('data', (chunk: Buffer) => {
      let lines: string[];
      try {
        lines = splitter.push(chunk);
      } catch (error) {
        this.#drop(socket, `oversized message: ${(error as Error).message}`);
        return;
      }
      for (const line of lines) {
        if (socket.destroyed) return;
        if (this.#socket === socket) {
          this.#onLine(socket, line);
        } else if (this.#onHello(socket, line)) {
          clearTimeout(helloTimer);
          splitter = new LineSplitter(this.#options.maxMessageBytes ?? MAX_LINE_BYTES);
        }
      }
    });
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      clearTimeout(helloTimer);
      this.#greeting.delete(socket);
      if (this.#socket !== socket) return;
      this.#socket = undefined;
      this.hello = undefined;
      this.#isConfigured = false;
      this.#failPending('the agent connection closed');
      this.emit('disconnect');
    });
  }

  #onLine(socket: net.Socket, line: string): void {
    let message: unknown;
    try {
      message = JSON.parse(line);
    } catch {
      this.#drop(socket, 'a message that is not JSON');
      return;
    }
    const success = SuccessResponse.safeParse(message);
    if (success.success) {
      this.#settle(socket, success.data.id, (pending) => {
        const result = agentMethods[pending.method].result.safeParse(success.data.result);
        if (result.success) pending.resolve(result.data);
        else
          pending.reject(
            new ToolError('AGENT_PROTOCOL_ERROR', `invalid ${pending.method} result from the agent`),
          );
      });
      return;
    }
    const failure = ErrorResponse.safeParse(message);
    if (failure.success && failure.data.id !== null) {
      this.#settle(socket, failure.data.id, (pending) => {
        const wire = failure.data.error.data;
        pending.reject(
          wire === undefined
            ? new ToolError('AGENT_PROTOCOL_ERROR', `agent error: ${failure.data.error.message}`)
            : ToolError.fromWire(wire),
        );
      });
      return;
    }
    if (failure.success || Notification.safeParse(message).success) return;
    this.#drop(socket, 'a message that is not JSON-RPC');
  }

  /**
   * A connection becomes the agent's only after a valid hello; until then it
   * cannot displace the current one. Returns whether the hello was accepted.
   */
  #onHello(socket: net.Socket, line: string): boolean {
    let message: unknown;
    try {
      message = JSON.parse(line);
    } catch {
      this.#drop(socket, 'a hello that is not JSON');
      return false;
    }
    const notification = Notification.safeParse(message);
    const hello =
      notification.success && notification.data.method === 'hello'
        ? Hello.safeParse(notification.data.params)
        : undefined;
    if (hello === undefined || !hello.success) {
      this.#drop(socket, 'the first message was not a valid hello');
      return false;
    }
    if (hello.data.protocolVersion !== PROTOCOL_VERSION) {
      this.#drop(socket, `agent speaks protocol ${hello.data.protocolVersion}, expected ${PROTOCOL_VERSION}`);
      return false;
    }
    this.#greeting.delete(socket);
    const previous = this.#socket;
    this.#socket = socket;
    this.hello = hello.data;
    this.#isConfigured = false;
    this.connections++;
    if (previous !== undefined) {
      this.#options.log.warn(
        { sandboxId: this.#options.sandboxId },
        'a new agent connection replaces the current one',
      );
      previous.destroy();
      this.#failPending('the agent connection was replaced');
    }
    this.call('configure', this.#configuration(), { timeoutMs: CONFIGURE_TIMEOUT_MS }).then(
      () => {
        if (this.#socket !== socket) return;
        this.#isConfigured = true;
        this.#options.log.debug(
          { sandboxId: this.#options.sandboxId, connection: this.connections, agentPid: hello.data.pid },
          'agent ready',
        );
        this.emit('ready');
      },
      (error: unknown) => this.#drop(socket, `configure failed: ${(error as Error).message}`),
    );
    return true;
  }

  #settle(socket: net.Socket, id: number, handle: (pending: Pending) => void): void {
    const pending = this.#pending.get(id);
    if (pending === undefined) {
      this.#drop(socket, `a reply to request ${id}, which is not pending`);
      return;
    }
    this.#pending.delete(id);
    clearTimeout(pending.timer);
    handle(pending);
  }

  #drop(socket: net.Socket, reason: string): void {
    this.#options.log.warn({ sandboxId: this.#options.sandboxId, reason }, 'dropping agent connection');
    socket.destroy();
  }

  #failPending(reason: string): void {
    for (const [id, pending] of this.#pending) {
      clearTimeout(pending.timer);
      pending.reject(
        new ToolError('SANDBOX_UNAVAILABLE', reason, { details: { sandboxId: this.#options.sandboxId } }),
      );
      this.#pending.delete(id);
    }
  }
}
