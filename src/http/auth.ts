import type { Context, MiddlewareHandler } from 'hono';
import { ToolError } from '../protocol/errors.ts';
import type { SandboxManager } from '../sandbox/manager.ts';
import { tokenMatches } from '../sandbox/tokens.ts';
import type { HttpEnv, Principal } from './context.ts';
import { bearerToken } from './tokens.ts';

const SANDBOX_MCP_PATH = /^\/s\/([a-z0-9][a-z0-9-]{2,62})\/mcp\/?$/;

export interface AuthOptions {
  operatorSha256: string;
  manager: SandboxManager;
  /** Only with --no-auth on a loopback address. */
  isDisabled: boolean;
}

/**
 * Who is calling: the operator (every endpoint), a sandbox token (that
 * sandbox's MCP endpoint only), or nobody. Tokens travel only in the
 * Authorization header; one in the query string is refused so it never lands
 * in a proxy's access log.
 */
export function authenticate(options: AuthOptions): MiddlewareHandler<HttpEnv> {
  return async (c, next) => {
    const query = new URL(c.req.url).searchParams;
    if (query.has('token') || query.has('access_token')) {
      throw new ToolError('INVALID_ARGUMENT', 'send the token in the Authorization header, never in the URL');
    }
    const presented = bearerToken(c.req.header('authorization'));
    let principal: Principal = { kind: 'anonymous' };
    if (options.isDisabled) {
      principal = { kind: 'operator' };
    } else if (presented !== undefined) {
      if (tokenMatches(presented, options.operatorSha256)) {
        principal = { kind: 'operator' };
      } else {
        // A sandbox token is only ever checked against the sandbox its path names.
        const id = SANDBOX_MCP_PATH.exec(c.req.path)?.[1];
        const sandbox = id === undefined ? undefined : options.manager.find(id);
        if (sandbox?.tokenSha256 !== undefined && tokenMatches(presented, sandbox.tokenSha256)) {
          principal = { kind: 'sandbox', sandboxId: sandbox.id };
        }
      }
    }
    c.set('principal', principal);
    return next();
  };
}

export function principalOf(c: Context<HttpEnv>): Principal {
  return c.get('principal') ?? { kind: 'anonymous' };
}

/** Lets the operator through, or (with `sandboxParam`) the token of that one sandbox. */
export function requireAccess(allowSandboxToken: boolean): MiddlewareHandler<HttpEnv> {
  return async (c, next) => {
    const principal = principalOf(c);
    if (principal.kind === 'operator') return next();
    if (allowSandboxToken && principal.kind === 'sandbox' && principal.sandboxId === c.req.param('id'))
      return next();
    if (principal.kind === 'anonymous') {
      const hasToken = c.req.header('authorization') !== undefined;
      throw new ToolError(
        'UNAUTHORIZED',
        hasToken ? 'the token is not valid here' : 'a bearer token is required',
      );
    }
    throw new ToolError('FORBIDDEN', 'this token reaches only its own sandbox');
  };
}
