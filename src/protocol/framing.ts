import type { Socket } from 'node:net';
import { JsonShape } from './json-shape.ts';

/**
 * Newline-delimited JSON with a hard cap on the length of one line. Both ends
 * use it; on the control plane it is the ceiling of every reply budget
 * (reply-budget.ts), which bound an untrusted agent's replies call by call.
 */
export const MAX_LINE_BYTES = 32 * 1024 * 1024;

/** What one line may be. Shape limits, when set, are checked as the bytes arrive, before any parse. */
export interface LineLimits {
  maxBytes: number;
  maxDepth?: number;
  maxElements?: number;
}

/** One complete line and what it measured. */
export interface Line {
  text: string;
  bytes: number;
  /** JSON elements in it (see JsonShape); 0 when no shape limit was checked. */
  elements: number;
}

/** A line broke its limits; the rest of it is never buffered. */
export class LineRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LineRefusedError';
  }
}

export class LineTooLongError extends LineRefusedError {
  readonly limitBytes: number;

  constructor(limitBytes: number) {
    super(`a message exceeded ${limitBytes} bytes`);
    this.name = 'LineTooLongError';
    this.limitBytes = limitBytes;
  }
}

/**
 * Splits a byte stream into lines without ever holding more than the limit of
 * an unfinished line, and with shape limits, without passing on JSON that is
 * too deep or has too many elements to parse cheaply. Feed chunks with `push`;
 * complete lines come back. The limits are asked for once per chunk, so a
 * reader may change them as it goes.
 */
export class LineSplitter {
  readonly #limits: () => LineLimits;
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  #shape = new JsonShape();

  constructor(limits: LineLimits | (() => LineLimits) = { maxBytes: MAX_LINE_BYTES }) {
    this.#limits = typeof limits === 'function' ? limits : () => limits;
  }

  push(chunk: Buffer): Line[] {
    const limits = this.#limits();
    const lines: Line[] = [];
    let start = 0;
    while (start < chunk.length) {
      const newline = chunk.indexOf(10, start);
      const end = newline === -1 ? chunk.length : newline;
      this.#take(chunk, start, end, limits);
      if (newline === -1) break;
      lines.push(this.#finish(limits));
      start = newline + 1;
    }
    return lines;
  }

  #take(chunk: Buffer, start: number, end: number, limits: LineLimits): void {
    if (this.#pendingBytes + end - start > limits.maxBytes)
      this.#refuse(new LineTooLongError(limits.maxBytes));
    if (limits.maxDepth !== undefined || limits.maxElements !== undefined) {
      this.#shape.scan(chunk, start, end);
      if (this.#shape.deepest > (limits.maxDepth ?? Number.POSITIVE_INFINITY)) {
        this.#refuse(new LineRefusedError(`a message nested deeper than ${limits.maxDepth} levels`));
      }
      if (this.#shape.elements > (limits.maxElements ?? Number.POSITIVE_INFINITY)) {
        this.#refuse(new LineRefusedError(`a message with more than ${limits.maxElements} elements`));
      }
    }
    if (end === start) return;
    this.#pending.push(chunk.subarray(start, end));
    this.#pendingBytes += end - start;
  }

  #finish(limits: LineLimits): Line {
    const bytes = this.#pendingBytes;
    const pieces = this.#pending;
    const text = (pieces.length === 1 ? (pieces[0] as Buffer) : Buffer.concat(pieces, bytes)).toString(
      'utf8',
    );
    const isShaped = limits.maxDepth !== undefined || limits.maxElements !== undefined;
    const line = { text, bytes, elements: isShaped ? this.#shape.elements : 0 };
    this.#reset();
    return line;
  }

  #refuse(error: LineRefusedError): never {
    this.#reset();
    throw error;
  }

  #reset(): void {
    this.#pending = [];
    this.#pendingBytes = 0;
    this.#shape = new JsonShape();
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
