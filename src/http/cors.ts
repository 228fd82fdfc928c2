import type { MiddlewareHandler } from 'hono';

/**
 * What a browser client must be allowed to send to an MCP endpoint: the body's
 * type, the token, and the request metadata headers of MCP 2026-07-28
 * (Streamable HTTP § Request Metadata).
 */
export const MCP_REQUEST_HEADERS = [
  'Content-Type',
  'Authorization',
  'MCP-Protocol-Version',
  'Mcp-Method',
  'Mcp-Name',
] as const;

/** How long a browser may cache a preflight answer (Chromium caps it at 2 h). */
const PREFLIGHT_MAX_AGE_SECONDS = 600;

/**
 * CORS for the MCP endpoints. It runs after the Origin check, so any origin
 * it sees is allowed, and before authentication, because a preflight never
 * carries the token. The preflight is answered 204 with the methods and
 * headers a client needs; every other answer (errors included, so a browser
 * can read a 401) names the origin it is for.
 */
export function mcpCors(): MiddlewareHandler {
  return async (c, next) => {
    const origin = c.req.header('origin');
    if (origin === undefined) return next();
    if (c.req.method === 'OPTIONS' && c.req.header('access-control-request-method') !== undefined) {
      return new Response(null, {
        status: 204,
        headers: {
          'Access-Control-Allow-Origin': origin,
          'Access-Control-Allow-Methods': 'POST',
          'Access-Control-Allow-Headers': MCP_REQUEST_HEADERS.join(', '),
          'Access-Control-Max-Age': String(PREFLIGHT_MAX_AGE_SECONDS),
          Vary: 'Origin',
        },
      });
    }
    await next();
    c.header('Access-Control-Allow-Origin', origin);
    c.header('Access-Control-Expose-Headers', 'WWW-Authenticate');
    c.header('Vary', 'Origin', { append: true });
  };
}
