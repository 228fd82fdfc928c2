import type { OnReadOpts, Socket } from 'node:net';

/** One read of a relay's heavy direction takes up to this much (Node's own reads take 64 KiB). */
export const LARGE_READ_BYTES = 256 * 1024;

/**
 * Reads of a client socket into large buffers (net.connect's `onread`), for
 * the direction of a tunnel that carries downloads. A relay's cost is per read:
 * a chain of two Node relays with a Unix hop moved 330 MiB/s with 64 KiB reads,
 * 580 MiB/s with 256 KiB ones and no more with 1 MiB (the 2-core bench machine). Pass
 * `options` to net.connect, then take the bytes with `firstLine` and `pipeTo`.
 * Reading stops while nothing takes the bytes, and while the destination is full.
 * A chunk is a view of its read's buffer, not a copy: the buffer is read into
 * again only once the destination took the chunk whole at its write (the
 * kernel has the bytes then), else the next read gets a new buffer.
 */
export class LargeReads {
  readonly options: OnReadOpts;
  #socket: Socket | undefined;
  #pending: Buffer[] = [];
  #sink: ((chunk: Buffer) => boolean) | undefined;
  /** A read buffer no chunk refers to any more. */
  #spare: Buffer | undefined;
  /** Bytes handed to `pipeTo`'s destination so far. */
  piped = 0;
  /** Called after each chunk `pipeTo` wrote (the agent's relay hand-over watches it). */
  onPiped: (() => void) | undefined;

  constructor() {
    this.options = {
      buffer: () => {
        const buffer = this.#spare ?? Buffer.allocUnsafe(LARGE_READ_BYTES);
        this.#spare = undefined;
        return buffer;
      },
      callback: (bytes: number, buffer: Uint8Array) =>
        this.#onRead(Buffer.from(buffer.buffer, buffer.byteOffset, bytes)),
    };
  }

  /** The socket made with `options`. */
  attach(socket: Socket): Socket {
    this.#socket = socket;
    return socket;
  }

  #onRead(chunk: Buffer): boolean {
    if (this.#sink === undefined) {
      this.#pending.push(chunk);
      return false;
    }
    return this.#sink(chunk);
  }

  /** As framing.ts readFirstLine, over these reads: bytes after the newline stay for pipeTo. */
  firstLine(options: { maxBytes: number; timeoutMs: number }): Promise<string | undefined> {
    const socket = this.#socket as Socket;
    return new Promise((resolve) => {
      const chunks: Buffer[] = [];
      let length = 0;
      const done = (line: string | undefined, rest?: Buffer) => {
        clearTimeout(timer);
        socket.off('end', onEnd);
        socket.off('close', onEnd);
        this.#sink = undefined;
        if (rest !== undefined && rest.length > 0) this.#pending.unshift(rest);
        resolve(line);
      };
      const onEnd = () => done(undefined);
      const timer = setTimeout(onEnd, options.timeoutMs);
      socket.once('end', onEnd);
      socket.once('close', onEnd);
      this.#sink = (chunk) => {
        const newline = chunk.indexOf(10);
        if (newline === -1 || length + newline > options.maxBytes) {
          chunks.push(chunk);
          length += chunk.length;
          if (newline !== -1 || length > options.maxBytes) done(undefined);
          return this.#sink !== undefined;
        }
        chunks.push(chunk.subarray(0, newline));
        done(Buffer.concat(chunks).toString('utf8'), chunk.subarray(newline + 1));
        return false;
      };
      this.#drain();
      socket.resume();
    });
  }

  /**
   * Writes everything read from now on into `destination`, ends it at the
   * socket's end. `admit` (optional) is asked about each chunk: how many
   * milliseconds to hold it first (reading stops meanwhile), or undefined to
   * drop it and stop reading (the caller is closing the tunnel).
   */
  pipeTo(destination: Socket, admit?: (bytes: number) => number | undefined): void {
    const socket = this.#socket as Socket;
    // Bytes read before pipeTo go first; then the socket reads again.
    const resume = () => {
      if (this.#drain()) socket.resume();
    };
    /** Whether reading may go on at once. */
    const write = (chunk: Buffer): boolean => {
      if (destination.destroyed) return false;
      this.piped += chunk.length;
      const isReady = destination.write(chunk);
      // Nothing queued: the kernel has the bytes, and a chunk that began its read frees the buffer.
      if (
        destination.writableLength === 0 &&
        chunk.byteOffset === 0 &&
        chunk.buffer.byteLength === LARGE_READ_BYTES
      ) {
        this.#spare = Buffer.from(chunk.buffer);
      }
      this.onPiped?.();
      if (isReady) return this.#sink !== undefined;
      destination.once('drain', resume);
      return false;
    };
    this.#sink = (chunk) => {
      const holdMs = admit === undefined ? 0 : admit(chunk.length);
      if (holdMs === undefined) return false;
      if (holdMs === 0) return write(chunk);
      setTimeout(() => {
        if (write(chunk)) resume();
      }, holdMs);
      return false;
    };
    if (socket.readableEnded) destination.end();
    else socket.once('end', () => destination.end());
    if (this.#drain()) socket.resume();
  }

  /**
   * Stops `pipeTo`: the socket reads nothing more (its reads stop at once), and
   * what was read and not yet written is returned, for whoever carries on.
   */
  detach(): Buffer[] {
    this.#sink = undefined;
    this.#socket?.pause();
    return this.#pending.splice(0);
  }

  /** Hands bytes read before a sink was there to it; whether reading may go on. */
  #drain(): boolean {
    while (this.#pending.length > 0 && this.#sink !== undefined) {
      if (!this.#sink(this.#pending.shift() as Buffer)) return false;
    }
    return this.#sink !== undefined;
  }
}
