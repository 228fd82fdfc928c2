import type { IncomingMessage } from 'node:http';

/** Who is calling: the operator, the holder of one sandbox's token, or nobody (see auth.ts). */
export type Principal = { kind: 'operator' } | { kind: 'sandbox'; sandboxId: string } | { kind: 'anonymous' };

/**
 * What every route of the control plane's hono app can read from its context:
 * `c.get('principal')` set by authentication, `c.get('parsedBody')` set by the
 * MCP body reader, and `c.env.incoming`, Node's request under @hono/node-server.
 */
export interface HttpEnv {
  Variables: {
    principal: Principal;
    parsedBody: unknown;
  };
  Bindings: {
    incoming?: IncomingMessage;
  };
}
