import type { Socket } from 'node:net';

/**
 * Newline-delimited JSON with a hard cap on the length of one line. Both ends
 * use it; on the control plane it is what bounds an untrusted agent's replies.
 */
export const MAX_LINE_BYTES = 32 * 1024 * 1024;

export class LineTooLongError extends Error {
  readonly limitBytes: number;

  constructor(limitBytes: number) {
    super(`a message exceeded ${limitBytes} bytes`);
    this.name = 'LineTooLongError';
    this.limitBytes = limitBytes;
  }
}

/**
 * Splits a byte stream into lines without ever holding more than `maxLineBytes`
 * of an unfinished line. Feed chunks with `push`; complete lines come back.
 */
export class LineSplitter {
  readonly #maxLineBytes: number;
  #pending: Buffer[] = [];
  #pendingBytes = 0;

  constructor(maxLineBytes = MAX_LINE_BYTES) {
    this.#maxLineBytes = maxLineBytes;
  }

  push(chunk: Buffer): string[] {
    const lines: string[] = [];
    let start = 0;
    for (let newline = chunk.indexOf(10); newline !== -1; newline = chunk.indexOf(10, start)) {
      const piece = chunk.subarray(start, newline);
      this.#ensureRoom(piece.length);
      this.#pending.push(piece);
      lines.push(Buffer.concat(this.#pending).toString('utf8'));
      this.#pending = [];
      this.#pendingBytes = 0;
      start = newline + 1;
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start);
      this.#ensureRoom(rest.length);
      this.#pending.push(rest);
      this.#pendingBytes += rest.length;
    }
    return lines;
  }

  #ensureRoom(extraBytes: number): void {
    if (this.#pendingBytes + extraBytes > this.#maxLineBytes) {
      this.#pending = [];
      this.#pendingBytes = 0;
      throw new LineTooLongError(this.#maxLineBytes);
    }
  }
}

/** One message as a line on the wire. */
export function encodeLine(message: unknown): string {
  return `${JSON.stringify(message)}\n`;
}

/**
 * The first line of a stream socket (a tunnel's request or reply), read without
 * ever holding more than `maxBytes`. Undefined when the line is longer, does not
 * come within `timeoutMs`, or the connection ends first. Bytes after the newline
 * are put back and the socket is left paused, so they go on to whoever pipes it.
 */
export function readFirstLine(
  socket: Socket,
  options: { maxBytes: number; timeoutMs: number },
): Promise<string | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let length = 0;
    const done = (line: string | undefined) => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('close', onEnd);
      socket.pause();
      resolve(line);
    };
    const onData = (chunk: Buffer) => {
      const newline = chunk.indexOf(10);
      if (newline === -1 || length + newline > options.maxBytes) {
        chunks.push(chunk);
        length += chunk.length;
        if (newline !== -1 || length > options.maxBytes) done(undefined);
        return;
      }
      chunks.push(chunk.subarray(0, newline));
      const rest = chunk.subarray(newline + 1);
      done(Buffer.concat(chunks).toString('utf8'));
      if (rest.length > 0) socket.unshift(rest);
    };
    const onEnd = () => done(undefined);
    const timer = setTimeout(onEnd, options.timeoutMs);
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('close', onEnd);
    socket.resume();
  });
}
