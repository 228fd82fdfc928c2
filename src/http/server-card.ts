import { createHash } from 'node:crypto';
import { type Context, Hono } from 'hono';
import { PROTOCOL_VERSIONS } from '../mcp/protocol-versions.ts';
import { packageVersion } from '../policy/package-files.ts';

/**
 * Discovery before connecting: the MCP Server Card (SEP-2127, the
 * experimental server-card extension's v1 schema) at the location MCP
 * reserves for it, `<streamable-http-url>/server-card`, and the same document
 * at `/.well-known/mcp.json`, the domain-level name SEP-2575 refers to. Both
 * are public by design: identity, endpoints and protocol versions, never a
 * token or a workspace.
 */

export const SERVER_CARD_SCHEMA = 'https://static.modelcontextprotocol.io/schemas/v1/server-card.schema.json';
export const SERVER_CARD_MEDIA_TYPE = 'application/mcp-server-card+json';

/** JSON-RPC methods the endpoint answers, by era (2026-07-28 dropped ping and initialize). */
export const ENDPOINT_METHODS = {
  '2026-07-28': ['server/discover', 'tools/list', 'tools/call'],
  legacy: ['initialize', 'notifications/initialized', 'ping', 'tools/list', 'tools/call'],
} as const;

export interface ServerCardOptions {
  /** scheme://host[:port] the client reached us at. */
  origin: string;
  isAuthRequired: boolean;
}

/** The card for a control plane reached at `origin`. */
export function serverCard({ origin, isAuthRequired }: ServerCardOptions): Record<string, unknown> {
  const headers = isAuthRequired
    ? [
        {
          name: 'Authorization',
          description: 'Bearer token: the operator token, or a sandbox token for its /s/<id>/mcp endpoint',
          isRequired: true,
          isSecret: true,
        },
      ]
    : [];
  const remote = (url: string, extra: Record<string, unknown> = {}) => ({
    type: 'streamable-http',
    url,
    ...extra,
    ...(headers.length > 0 ? { headers } : {}),
    supportedProtocolVersions: [...PROTOCOL_VERSIONS],
  });
  return {
    $schema: SERVER_CARD_SCHEMA,
    name: 'io.sandboxd/sandboxd',
    version: packageVersion(),
    title: 'sandboxd',
    description:
      'Coding tools (files, patches, commands, git) that run in a hardened container per workspace',
    remotes: [
      remote(`${origin}/mcp`),
      remote(`${origin}/w/{workspace}/mcp`, {
        variables: { workspace: { description: 'Name of a named workspace', isRequired: true } },
      }),
    ],
    _meta: {
      'io.sandboxd/endpoint': { httpMethods: ['POST'], methods: ENDPOINT_METHODS },
    },
  };
}

/** Cacheable, readable from any origin (the card is public), revalidated by ETag. */
function serveCard(c: Context, isAuthRequired: boolean, mediaType: string): Response {
  const body = JSON.stringify(serverCard({ origin: new URL(c.req.url).origin, isAuthRequired }));
  const etag = `"${createHash('sha256').update(body).digest('base64url')}"`;
  const headers = {
    'Access-Control-Allow-Origin': '*',
    'Access-Control-Expose-Headers': 'ETag',
    'Cache-Control': 'public, max-age=3600',
    ETag: etag,
  };
  if (c.req.header('if-none-match') === etag) return new Response(null, { status: 304, headers });
  return new Response(body, { status: 200, headers: { ...headers, 'Content-Type': mediaType } });
}

const preflight = () =>
  new Response(null, {
    status: 204,
    headers: {
      'Access-Control-Allow-Origin': '*',
      'Access-Control-Allow-Methods': 'GET',
      'Access-Control-Allow-Headers': 'Content-Type, If-None-Match',
    },
  });

export function discoveryRoutes(options: { isAuthRequired: boolean }): Hono {
  const routes = new Hono();
  for (const [path, mediaType] of [
    ['/mcp/server-card', SERVER_CARD_MEDIA_TYPE],
    ['/.well-known/mcp.json', 'application/json'],
  ] as const) {
    routes.get(path, (c) => serveCard(c, options.isAuthRequired, mediaType));
    routes.options(path, preflight);
  }
  return routes;
}
