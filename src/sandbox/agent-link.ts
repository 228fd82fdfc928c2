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
import {
  encodeLine,
  type Line,
  type LineLimits,
  LineSplitter,
  LineTooLongError,
  MAX_LINE_BYTES,
} from '../protocol/framing.ts';
import { MAX_JSON_DEPTH } from '../protocol/json-shape.ts';
import { ErrorResponse, Notification, SuccessResponse } from '../protocol/jsonrpc.ts';
import type { AgentLimits } from '../protocol/limits.ts';
import { type ReplyBudget, widerBudget } from '../protocol/reply-budget.ts';
import { TokenBucket } from './token-bucket.ts';
import { WarningLimiter } from './warning-limiter.ts';

interface Pending {
  method: AgentMethod;
  budget: ReplyBudget;
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
  /**
   * 'tcp': no socket of its own; the agent port (agent-port.ts) hands over the
   * connections that proved they are this sandbox's. 'unix' by default.
   */
  transport?: 'unix' | 'tcp';
}

export interface CallOptions {
  timeoutMs?: number;
}

const DEFAULT_CALL_TIMEOUT_MS = 60_000;
/** Connections that have not said hello yet, per sandbox. */
const MAX_GREETING_CONNECTIONS = 4;
const HELLO_TIMEOUT_MS = 10_000;
/** A hello is a notification with six small params. */
const HELLO_LIMITS: LineLimits = { maxBytes: 64 * 1024, maxDepth: MAX_JSON_DEPTH, maxElements: 64 };
/**
 * Connections a sandbox's socket admits at once, and a second after that; a
 * message the protocol does not allow costs as much as four. With none left
 * the socket is closed until there is one again, so a workload that dials in a
 * loop makes its own connect() fail with ENOENT and costs the control plane
 * nothing (refusing each accepted connection instead cost 8 µs: half a CPU at
 * the 65 000 dials a second one Python loop made here). An honest agent dials
 * once per control-plane start or cut connection.
 */
const DIAL_BURST = 16;
const DIALS_PER_SECOND = 4;
const VIOLATION_COST = 4;
/**
 * After a sandbox's replies have made it parse this much in one read, its
 * socket waits for the next turn of the event loop, so one sandbox's replies
 * never run back to back while its neighbours' wait.
 */
const YIELD_AFTER_BYTES = 256 * 1024;
/**
 * Requests the agent has not read yet, in bytes: over this, calls fail at once
 * instead of queueing in the control plane's memory (an agent stopped with
 * SIGSTOP reads nothing). One maximal line, as the other way.
 */
const MAX_UNSENT_BYTES = MAX_LINE_BYTES;
/** Timed-out requests whose late replies are still read and ignored, per connection. */
const MAX_ABANDONED = 64;
const CONFIGURE_TIMEOUT_MS = 10_000;

/**
 * The control plane's end of one sandbox's agent connection. It listens on the
 * sandbox's own Unix socket, so the socket a connection arrives on says which
 * sandbox it is. Everything the agent sends is untrusted: each reply must
 * answer a request we made, is measured against that request's budget as it
 * arrives (reply-budget.ts) and only then parsed with the shared schemas.
 *
 * Events: 'ready' (hello + configure done), 'disconnect'.
 */
export class AgentLink extends EventEmitter {
  readonly socketPath: string;
  readonly #options: AgentLinkOptions;
  readonly #pending = new Map<number, Pending>();
  /** Requests that timed out on this connection: a late reply is read within its budget and ignored. */
  readonly #abandoned = new Map<number, ReplyBudget>();
  readonly #greeting = new Set<net.Socket>();
  readonly #dials = new TokenBucket({ capacity: DIAL_BURST, perSecond: DIALS_PER_SECOND });
  readonly #warnings: WarningLimiter;
  #server: net.Server | undefined;
  #reopenTimer: NodeJS.Timeout | undefined;
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
    this.#warnings = new WarningLimiter(options.log);
  }

  get isReady(): boolean {
    return this.#socket !== undefined && this.#isConfigured && !this.#socket.destroyed;
  }

  /** Creates the socket directory (root-owned, 0755) and listens; a stale socket is replaced. */
  async listen(): Promise<void> {
    await mkdir(this.#options.socketDir, { recursive: true, mode: 0o755 });
    await chmod(this.#options.socketDir, 0o755);
    if (this.#options.transport !== 'tcp') await this.#open();
  }

  /**
   * A connection from the agent port that proved it is this sandbox's (TCP
   * transport). Its dials are counted as on the Unix socket; while they are
   * spent, connections are closed on arrival instead of the socket being closed.
   */
  acceptConnection(socket: net.Socket): void {
    if (this.#dials.tokens < 1) {
      this.#dials.take(1);
      socket.destroy();
      return;
    }
    this.#accept(socket);
    // The agent port paused it after reading the dial hello (and put back what followed).
    socket.resume();
  }

  async #open(): Promise<void> {
    await rm(this.socketPath, { force: true });
    const server = net.createServer((socket) => this.#accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      // The agent runs as an unprivileged user; only this container mounts the directory.
      // Made writable in the same tick as it starts listening: an agent that dials the
      // reopened socket at once (see #chargeDials) must not meet EACCES.
      server.listen({ path: this.socketPath, readableAll: true, writableAll: true }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.#server = server;
    if (this.#isClosed) server.close();
    // Exactly 0666 (listen added to the umask's mode).
    else await chmod(this.socketPath, 0o666);
  }

  /** Takes dials from the socket's budget; with none left, closes the socket until there is one again. */
  #chargeDials(count: number): void {
    if (this.#dials.take(count) >= 1 || this.#server === undefined) return;
    // Closing a listening Unix socket removes its file: dials fail in the container's own kernel.
    this.#server.close();
    this.#server = undefined;
    this.#warnings.warn(
      { sandboxId: this.#options.sandboxId, closedForMs: this.#dials.msUntil(1) },
      'too many agent connections or bad messages: closing the socket for a while',
    );
    this.#reopenWhenDue();
  }

  #reopenWhenDue(): void {
    this.#reopenTimer = setTimeout(() => {
      this.#reopenTimer = undefined;
      if (this.#isClosed) return;
      // Connections dropped while it was closed may have added to the debt.
      if (this.#dials.msUntil(1) > 0) {
        this.#reopenWhenDue();
        return;
      }
      this.#open().catch((error: unknown) => {
        this.#options.log.error(
          { sandboxId: this.#options.sandboxId, error: String(error) },
          'could not reopen the agent socket',
        );
      });
    }, this.#dials.msUntil(1));
  }

  /** Resolves once an agent has said hello and been configured; rejects after `timeoutMs`. */
  waitReady(timeoutMs: number, signal?: AbortSignal): Promise<void> {
    if (this.isReady) return Promise.resolve();
    if (signal?.aborted) return Promise.reject(signal.reason ?? new Error('aborted'));
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
    if (socket.writableLength > MAX_UNSENT_BYTES) {
      return Promise.reject(
        new ToolError('SANDBOX_UNAVAILABLE', 'the sandbox agent is not reading its requests', {
          details: { sandboxId: this.#options.sandboxId, unsentBytes: socket.writableLength },
        }),
      );
    }
    const id = this.#nextId++;
    const timeoutMs = options.timeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
    const reply = agentMethods[method].reply as (params: unknown, limits: AgentLimits) => ReplyBudget;
    const budget = reply(params, this.#options.limits);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        if (this.#socket === socket) this.#abandon(id, budget);
        reject(new ToolError('TIMEOUT', `the agent did not answer ${method} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(id, { method, budget, resolve: resolve as (value: unknown) => void, reject, timer });
      socket.write(encodeLine({ jsonrpc: '2.0', id, method, params }));
    });
  }

  #abandon(id: number, budget: ReplyBudget): void {
    this.#abandoned.set(id, budget);
    for (const oldest of this.#abandoned.keys()) {
      if (this.#abandoned.size <= MAX_ABANDONED) break;
      this.#abandoned.delete(oldest);
    }
  }

  /**
   * What the current connection's next line may be: the widest budget of the
   * requests it may be answering. With none pending, not even a byte.
   */
  #replyLimits(): LineLimits {
    let widest: ReplyBudget = { maxBytes: 0, maxElements: 0 };
    for (const pending of this.#pending.values()) widest = widerBudget(widest, pending.budget);
    for (const budget of this.#abandoned.values()) widest = widerBudget(widest, budget);
    return { maxBytes: widest.maxBytes, maxDepth: MAX_JSON_DEPTH, maxElements: widest.maxElements };
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
    clearTimeout(this.#reopenTimer);
    this.#socket?.destroy();
    for (const socket of this.#greeting) socket.destroy();
    const server = this.#server;
    this.#server = undefined;
    if (server !== undefined) await new Promise<void>((resolve) => server.close(() => resolve()));
    this.#failPending('the sandbox is shutting down');
  }

  #accept(socket: net.Socket): void {
    if (this.#isClosed) {
      socket.destroy();
      return;
    }
    this.#chargeDials(1);
    if (this.#greeting.size >= MAX_GREETING_CONNECTIONS) {
      // Anything in the container can connect; never let it hold many host descriptors.
      socket.destroy();
      return;
    }
    this.#greeting.add(socket);
    socket.setNoDelay(true);
    const helloTimer = setTimeout(() => this.#drop(socket, 'no hello in time'), HELLO_TIMEOUT_MS);
    // Asked at every chunk: a line is checked against the requests pending when its bytes arrive.
    const splitter = new LineSplitter(() => (this.#socket === socket ? this.#replyLimits() : HELLO_LIMITS));
    socket.on('data', (chunk: Buffer) => {
      let lines: Line[];
      try {
        lines = splitter.push(chunk);
      } catch (error) {
        const isUnasked = error instanceof LineTooLongError && error.limitBytes === 0;
        this.#drop(socket, isUnasked ? 'a message while no request was pending' : (error as Error).message);
        return;
      }
      let parsedBytes = 0;
      for (const line of lines) {
        if (socket.destroyed) return;
        if (this.#socket === socket) this.#onLine(socket, line);
        else if (this.#onHello(socket, line.text)) clearTimeout(helloTimer);
        parsedBytes += line.bytes;
      }
      if (parsedBytes >= YIELD_AFTER_BYTES && !socket.destroyed) {
        socket.pause();
        setImmediate(() => socket.resume());
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
      this.#abandoned.clear();
      this.#failPending('the agent connection closed');
      this.emit('disconnect');
    });
  }

  /**
   * After hello the agent may send nothing but replies to requests we made,
   * each within its request's budget; anything else (a notification, an error
   * without an id, a reply to nothing) drops the connection.
   */
  #onLine(socket: net.Socket, line: Line): void {
    let message: unknown;
    try {
      message = JSON.parse(line.text);
    } catch {
      this.#drop(socket, 'a message that is not JSON');
      return;
    }
    const success = SuccessResponse.safeParse(message);
    const failure = success.success ? undefined : ErrorResponse.safeParse(message);
    const id = success.success ? success.data.id : failure?.success ? failure.data.id : null;
    if (id === null) {
      this.#drop(socket, 'a message that is not a reply to a request');
      return;
    }
    if (this.#abandoned.delete(id)) return; // a late reply to a request that timed out
    const pending = this.#pending.get(id);
    if (pending === undefined) {
      this.#drop(socket, `a reply to request ${id}, which is not pending`);
      return;
    }
    if (line.bytes > pending.budget.maxBytes || line.elements > pending.budget.maxElements) {
      this.#drop(
        socket,
        `a ${pending.method} reply of ${line.bytes} bytes and ${line.elements} elements, over its budget of ${pending.budget.maxBytes} and ${pending.budget.maxElements}`,
      );
      return;
    }
    this.#pending.delete(id);
    clearTimeout(pending.timer);
    if (success.success) {
      const result = agentMethods[pending.method].result.safeParse(success.data.result);
      if (result.success) pending.resolve(result.data);
      else
        pending.reject(
          new ToolError('AGENT_PROTOCOL_ERROR', `invalid ${pending.method} result from the agent`),
        );
      return;
    }
    const wire = failure?.data?.error.data;
    pending.reject(
      wire === undefined
        ? new ToolError('AGENT_PROTOCOL_ERROR', `agent error: ${failure?.data?.error.message}`)
        : ToolError.fromWire(wire),
    );
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
    this.#abandoned.clear();
    if (previous !== undefined) {
      this.#warnings.warn(
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

  /** Drops a connection that broke the protocol; it costs the sandbox dials (see DIAL_BURST). */
  #drop(socket: net.Socket, reason: string): void {
    if (socket.destroyed) return;
    this.#warnings.warn({ sandboxId: this.#options.sandboxId, reason }, 'dropping agent connection');
    socket.destroy();
    this.#chargeDials(VIOLATION_COST);
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
