import type net from 'node:net';
import type { Hello } from '#protocol/agent-api';
import { ToolError } from '#protocol/errors';
import { encodeLine, type Line, LineSplitter } from '#protocol/framing';
import { isRequest, Message, RpcErrorCode } from '#protocol/jsonrpc';
import type { Dialer } from './dial.ts';
import type { Dispatcher } from './dispatch.ts';
import type { AgentLog } from './log.ts';

export interface LinkOptions {
  dialer: Dialer;
  hello: () => Hello;
  dispatcher: Dispatcher;
  log: AgentLog;
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

/**
 * The agent's connection home. It dials the control plane's socket, says hello,
 * serves requests, and when the connection drops (control-plane restart, cut
 * socket) dials again with capped backoff, forever: commands keep running meanwhile.
 */
export class Link {
  readonly #options: LinkOptions;
  #socket: net.Socket | undefined;
  #backoffMs: number;
  #isClosed = false;
  #retry: NodeJS.Timeout | undefined;
  connections = 0;

  constructor(options: LinkOptions) {
    this.#options = options;
    this.#backoffMs = options.minBackoffMs ?? 20;
  }

  start(): void {
    this.#dial();
  }

  close(): void {
    this.#isClosed = true;
    clearTimeout(this.#retry);
    this.#socket?.destroy();
  }

  #dial(): void {
    const { dialer, log } = this.#options;
    const { socket, connectEvent } = dialer.dial('link');
    this.#socket = socket;
    const splitter = new LineSplitter();
    socket.setNoDelay?.(true);
    socket.on(connectEvent, () => {
      this.connections++;
      log('info', 'connected to control plane', { target: dialer.target, connection: this.connections });
      socket.write(encodeLine({ jsonrpc: '2.0', method: 'hello', params: this.#options.hello() }));
    });
    socket.on('data', (chunk: Buffer) => {
      // Only a control plane that talks back resets the backoff: an agent port that
      // accepts and closes (a refused token) is dialled ever more slowly.
      this.#backoffMs = this.#options.minBackoffMs ?? 20;
      let lines: Line[];
      try {
        lines = splitter.push(chunk);
      } catch (error) {
        log('warn', 'dropping connection: oversized message', { error: String(error) });
        socket.destroy();
        return;
      }
      for (const line of lines) this.#onLine(socket, line.text);
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (this.connections === 0 || error.code !== 'ENOENT') log('debug', 'link error', { code: error.code });
    });
    socket.on('close', () => {
      if (this.#socket === socket) this.#socket = undefined;
      if (this.#isClosed) return;
      this.#retry = setTimeout(() => this.#dial(), this.#backoffMs);
      this.#backoffMs = Math.min(this.#backoffMs * 2, this.#options.maxBackoffMs ?? 1000);
    });
  }

  #onLine(socket: net.Socket, line: string): void {
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      this.#send(socket, {
        jsonrpc: '2.0',
        id: null,
        error: { code: RpcErrorCode.parseError, message: 'parse error' },
      });
      return;
    }
    const message = Message.safeParse(parsed);
    if (!message.success || !isRequest(message.data)) {
      this.#send(socket, {
        jsonrpc: '2.0',
        id: null,
        error: { code: RpcErrorCode.invalidRequest, message: 'expected a JSON-RPC request' },
      });
      return;
    }
    const { id, method, params } = message.data;
    this.#options.dispatcher.handle(method, params).then(
      (result) => this.#send(socket, { jsonrpc: '2.0', id, result }),
      (error: unknown) => {
        const toolError = ToolError.from(error);
        if (toolError.code === 'INTERNAL_ERROR') {
          this.#options.log('error', 'request failed', { method, error: String(error) });
        }
        this.#send(socket, {
          jsonrpc: '2.0',
          id,
          error: { code: RpcErrorCode.toolError, message: toolError.message, data: toolError.toWire() },
        });
      },
    );
  }

  #send(socket: net.Socket, message: unknown): void {
    // A reply for a connection that has since dropped is lost; the caller sees the drop and may retry.
    if (!socket.destroyed) socket.write(encodeLine(message));
  }
}
