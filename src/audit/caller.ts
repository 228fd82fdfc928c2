import { AsyncLocalStorage } from 'node:async_hooks';
import type { AuditPrincipal } from './entry.ts';

/**
 * Who the request being served comes from. The HTTP front door runs each
 * request inside `asCaller`, and whatever the request sets off (a tool call deep
 * in the MCP SDK, a state change) reads it here, so no handler takes a
 * principal parameter just to pass it to the log.
 */
const caller = new AsyncLocalStorage<AuditPrincipal>();

export function asCaller<T>(principal: AuditPrincipal, run: () => T): T {
  return caller.run(principal, run);
}

/** The current request's principal; `fallback` outside any request (stdio, the reaper). */
export function currentCaller(fallback: AuditPrincipal): AuditPrincipal {
  return caller.getStore() ?? fallback;
}
