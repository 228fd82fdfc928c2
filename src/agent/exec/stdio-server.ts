import { randomBytes } from 'node:crypto';
import net from 'node:net';
import type { AgentLog } from '../log.ts';

/** Which of a command's streams a connection carries: 0 stdin, 1 stdout, 2 stderr. */
export type StreamIndex = 0 | 1 | 2;
export type StreamHandler = (stream: StreamIndex, socket: net.Socket) => void;

/** "TOKEN N\n": what the launcher sends first on each connection (as in launcher.c). */
const HEADER_BYTES = 35;
const HEADER = /^([0-9a-f]{32}) ([012])\n$/;
/** The launcher writes its header in the same breath as it connects; anything slower is not the launcher. */
const HEADER_TIMEOUT_MS = 2000;
/** Connections that have not said whose stream they are; past this the oldest is dropped. */
const MAX_UNIDENTIFIED = 64;

/**
 * The agent's end of the commands' stdio: an abstract Unix socket (Linux's
 * abstract namespace, so no file to create in a read-only root, and scoped to
 * the container's network namespace) that the launcher connects to three times
 * per command. A connection becomes a command's stream only with that
 * command's token, which travels over the launcher's private control channel;
 * any other connection is closed.
 */
export class StdioServer {
  readonly name = `sandboxd-stdio-${randomBytes(8).toString('hex')}`;
  readonly listening: Promise<void>;
  readonly #server: net.Server;
  readonly #log: AgentLog;
  readonly #expected = new Map<string, { handler: StreamHandler; seen: Set<StreamIndex> }>();
  readonly #unidentified = new Set<net.Socket>();

  constructor(log: AgentLog) {
    this.#log = log;
    this.#server = net.createServer((socket) => this.#identify(socket));
    this.listening = new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(`\0${this.name}`, () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
    this.#server.on('error', (error) => log('warn', 'command stdio socket failed', { error: String(error) }));
  }

  /** Hands the three connections that carry `token` to `handler`, each once. */
  expect(token: string, handler: StreamHandler): void {
    this.#expected.set(token, { handler, seen: new Set() });
  }

  /** Stops waiting for `token`'s connections: a late one is closed like a stranger's. */
  forget(token: string): void {
    this.#expected.delete(token);
  }

  close(): void {
    this.#server.close();
    for (const socket of this.#unidentified) socket.destroy();
    this.#unidentified.clear();
    this.#expected.clear();
  }

  #identify(socket: net.Socket): void {
    socket.on('error', () => {
      // ECONNRESET and the like: whoever owns the socket sees it close.
    });
    this.#unidentified.add(socket);
    if (this.#unidentified.size > MAX_UNIDENTIFIED) {
      const oldest = this.#unidentified.values().next().value;
      oldest?.destroy();
      if (oldest !== undefined) this.#unidentified.delete(oldest);
    }
    const timer = setTimeout(() => reject('no header in time'), HEADER_TIMEOUT_MS);
    const settle = () => {
      clearTimeout(timer);
      socket.off('readable', onReadable);
      socket.off('close', onClose);
      this.#unidentified.delete(socket);
    };
    const reject = (reason: string) => {
      settle();
      socket.destroy();
      this.#log('debug', 'closed a stdio connection that is no command of ours', { reason });
    };
    const onClose = () => settle();
    // read(n) leaves whatever follows the header buffered for the stream's owner.
    const onReadable = () => {
      const header = socket.read(HEADER_BYTES) as Buffer | null;
      if (header === null) {
        if (socket.readableEnded) reject('closed before its header');
        return;
      }
      const match = HEADER.exec(header.toString('latin1'));
      const token = match?.[1] as string;
      const stream = Number(match?.[2]) as StreamIndex;
      const expected = match === null ? undefined : this.#expected.get(token);
      if (expected === undefined || expected.seen.has(stream)) {
        reject(match === null ? 'malformed header' : 'unknown token');
        return;
      }
      settle();
      expected.seen.add(stream);
      if (expected.seen.size === 3) this.#expected.delete(token);
      expected.handler(stream, socket);
    };
    socket.on('readable', onReadable);
    socket.on('close', onClose);
  }
}
