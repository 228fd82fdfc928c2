import type { JSONRPCMessage, Transport } from '@modelcontextprotocol/server';

/**
 * The MCP protocol versions sandboxd speaks, newest first: the per-request era
 * (2026-07-28, `server/discover`) and the handshake era (`initialize`).
 */
export const PROTOCOL_VERSIONS = ['2026-07-28', '2025-11-25', '2025-06-18'] as const;

/** The newest version of the handshake era: the answer to an `initialize` naming one we do not speak. */
export const LATEST_LEGACY_VERSION = '2025-11-25';

export function isSupportedVersion(version: string): boolean {
  return (PROTOCOL_VERSIONS as readonly string[]).includes(version);
}

/**
 * An `initialize` whose protocolVersion is not a string (a number, null, absent)
 * names a version the server does not speak, like an unknown date does: it gets
 * the same answer, the newest legacy version, instead of failing the SDK's
 * schema with an internal error. Any other message is returned as it is.
 */
export function withSpeakableVersion<M>(message: M): M {
  const request = message as { method?: unknown; params?: unknown };
  if (request?.method !== 'initialize') return message;
  const params = request.params;
  if (params === null || typeof params !== 'object' || Array.isArray(params)) return message;
  if (typeof (params as { protocolVersion?: unknown }).protocolVersion === 'string') return message;
  return { ...request, params: { ...params, protocolVersion: LATEST_LEGACY_VERSION } } as M;
}

/**
 * A transport whose inbound messages pass through `withSpeakableVersion` before
 * the server sees them: for stdio, where the SDK owns the reading loop.
 */
export class SpeakableVersionTransport implements Transport {
  onmessage?: Transport['onmessage'];
  onclose?: Transport['onclose'];
  onerror?: Transport['onerror'];
  readonly #inner: Transport;

  constructor(inner: Transport) {
    this.#inner = inner;
  }

  start(): Promise<void> {
    this.#inner.onmessage = (message, extra) => this.onmessage?.(withSpeakableVersion(message), extra);
    this.#inner.onclose = () => this.onclose?.();
    this.#inner.onerror = (error) => this.onerror?.(error);
    return this.#inner.start();
  }

  send(message: JSONRPCMessage, options?: Parameters<Transport['send']>[1]): Promise<void> {
    return this.#inner.send(message, options);
  }

  close(): Promise<void> {
    return this.#inner.close();
  }
}
