import type { MiddlewareHandler } from 'hono';
import { RPC_ERROR, rpcErrorResponse } from './rpc-error.ts';

/**
 * The origin a browser sends, as a URL, or undefined for anything that is not
 * exactly a serialized http(s) origin: a path, a query, user info, an upper-case
 * or default-port spelling and `null` all fail, because a browser never sends
 * them and a loose parse is how `http://localhost@evil.example` passes as localhost.
 */
export function parseOrigin(header: string): URL | undefined {
  let url: URL;
  try {
    url = new URL(header);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
  return url.origin === header ? url : undefined;
}

/**
 * Whether a browser origin may call: an allow-list entry is either a host name
 * (any scheme and port on that host: `localhost`, `[::1]`) or a whole origin
 * (`https://app.example.com`), and either must match exactly.
 */
export function isAllowedOrigin(header: string, allowed: readonly string[]): boolean {
  const url = parseOrigin(header);
  if (url === undefined) return false;
  return allowed.some((entry) =>
    entry.includes('://') ? parseOrigin(entry)?.origin === url.origin : entry === url.hostname,
  );
}

/** The host name of a Host header (`localhost:8080`, `[::1]:8080`), or undefined if it is not one. */
export function hostNameOf(header: string): string | undefined {
  if (!/^[A-Za-z0-9.\-[\]:]+$/.test(header)) return undefined;
  try {
    return new URL(`http://${header}`).hostname;
  } catch {
    return undefined;
  }
}

const forbidden = (message: string) => rpcErrorResponse(403, RPC_ERROR.invalidRequest, message);

/** DNS-rebinding protection: a Host outside the allow-list is refused before anything else runs. */
export function allowedHosts(allowed: readonly string[]): MiddlewareHandler {
  return async (c, next) => {
    // Over HTTP/2 the authority arrives in the URL rather than in a Host header.
    const header = c.req.header('host') ?? new URL(c.req.url).host;
    const host = hostNameOf(header);
    if (host === undefined || !allowed.includes(host))
      return forbidden(`Forbidden: Host ${header} is not allowed`);
    return next();
  };
}

/**
 * A browser request (it carries Origin) from an origin outside the allow-list
 * is refused: MCP 2026-07-28, Streamable HTTP § Security & Endpoint (403).
 */
export function allowedOrigins(allowed: readonly string[]): MiddlewareHandler {
  return async (c, next) => {
    const origin = c.req.header('origin');
    if (origin !== undefined && !isAllowedOrigin(origin, allowed))
      return forbidden(`Forbidden: Origin ${origin} is not allowed`);
    return next();
  };
}
