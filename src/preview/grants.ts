import { randomBytes } from 'node:crypto';
import { sha256Hex, tokenMatches } from '../sandbox/tokens.ts';

/** A grant lives at most this long; a browser session with it no longer. */
export const MAX_PREVIEW_TTL_SECONDS = 7 * 24 * 3600;
export const DEFAULT_PREVIEW_TTL_SECONDS = 3600;
/** Open grants per sandbox: a token holder cannot fill the control plane's memory with them. */
export const MAX_GRANTS_PER_SANDBOX = 64;

/** Session cookies read from one request: the right one, beside a few a neighbour may have tossed in. */
export const MAX_SESSIONS_READ = 4;

/** Who asked for a grant: the operator over /v1, or a sandbox's own MCP session. */
export type GrantedBy = 'operator' | 'mcp';

/**
 * The right to open one port of one sandbox in a browser until it expires.
 * A private grant is opened with a one-time capability (in the URL), which
 * becomes a session (an HttpOnly cookie on that preview's host alone); a
 * public one (operator only) serves anyone who has the URL.
 */
export interface PreviewGrant {
  readonly id: string;
  readonly sandboxId: string;
  readonly port: number;
  readonly isPublic: boolean;
  readonly grantedBy: GrantedBy;
  readonly createdAt: Date;
  readonly expiresAt: Date;
  /** SHA-256 of the capability until it is redeemed; undefined once used (or for a public grant). */
  capabilitySha256: string | undefined;
  /** SHA-256 of the browser session made from the capability. */
  sessionSha256: string | undefined;
  openedAt: Date | undefined;
}

export type GrantRecord =
  | { action: 'granted' | 'revoked' | 'expired'; grant: PreviewGrant }
  | { action: 'opened'; grant: PreviewGrant; client: string }
  | { action: 'refused'; sandboxId: string; port: number; client: string; reason: string };

/** What a log line or an audit row says of a grant: never its capability or session. */
export function grantFacts(grant: PreviewGrant) {
  return {
    previewId: grant.id,
    port: grant.port,
    public: grant.isPublic,
    grantedBy: grant.grantedBy,
    expiresAt: grant.expiresAt.toISOString(),
  };
}

const newSecret = () => randomBytes(32).toString('base64url');

/** Every preview grant this control plane gave, by sandbox. Held in memory: a restart revokes them all. */
export class PreviewGrants {
  readonly #bySandbox = new Map<string, Map<string, PreviewGrant>>();
  readonly #now: () => number;
  readonly #onRecord: (record: GrantRecord) => void;

  constructor(options: { now?: () => number; onRecord?: (record: GrantRecord) => void } = {}) {
    this.#now = options.now ?? Date.now;
    this.#onRecord = options.onRecord ?? (() => {});
  }

  /** A new grant and, for a private one, the capability that opens it (shown once, kept only as a hash). */
  grant(options: {
    sandboxId: string;
    port: number;
    ttlSeconds: number;
    isPublic: boolean;
    grantedBy: GrantedBy;
  }): { grant: PreviewGrant; capability: string | undefined } {
    this.sweep();
    const grants = this.#bySandbox.get(options.sandboxId) ?? new Map<string, PreviewGrant>();
    if (grants.size >= MAX_GRANTS_PER_SANDBOX) {
      throw new GrantLimitError(MAX_GRANTS_PER_SANDBOX);
    }
    const capability = options.isPublic ? undefined : newSecret();
    const now = this.#now();
    const grant: PreviewGrant = {
      id: `pv-${randomBytes(6).toString('hex')}`,
      sandboxId: options.sandboxId,
      port: options.port,
      isPublic: options.isPublic,
      grantedBy: options.grantedBy,
      createdAt: new Date(now),
      expiresAt: new Date(now + Math.min(options.ttlSeconds, MAX_PREVIEW_TTL_SECONDS) * 1000),
      capabilitySha256: capability === undefined ? undefined : sha256Hex(capability),
      sessionSha256: undefined,
      openedAt: undefined,
    };
    grants.set(grant.id, grant);
    this.#bySandbox.set(options.sandboxId, grants);
    this.#onRecord({ action: 'granted', grant });
    return { grant, capability };
  }

  /**
   * Trades a capability for a session on the host it was made for, once: a
   * used, expired, revoked or foreign capability gives nothing.
   */
  redeem(
    capability: string,
    sandboxId: string,
    port: number,
    client: string,
  ): { grant: PreviewGrant; session: string } | undefined {
    for (const grant of this.#live(sandboxId)) {
      if (grant.port !== port || grant.capabilitySha256 === undefined) continue;
      if (!tokenMatches(capability, grant.capabilitySha256)) continue;
      const session = newSecret();
      grant.capabilitySha256 = undefined;
      grant.sessionSha256 = sha256Hex(session);
      grant.openedAt = new Date(this.#now());
      this.#onRecord({ action: 'opened', grant, client });
      return { grant, session };
    }
    this.#onRecord({ action: 'refused', sandboxId, port, client, reason: 'capability not valid here' });
    return undefined;
  }

  /**
   * The grant that lets this request in: a public one for the port, or one of
   * whose sessions it carries. Only the first MAX_SESSIONS_READ cookies count,
   * each hashed once: a header stuffed with cookies costs no more than a few.
   */
  authorize(sessions: readonly string[], sandboxId: string, port: number): PreviewGrant | undefined {
    const presented = new Set(sessions.slice(0, MAX_SESSIONS_READ).map(sha256Hex));
    for (const grant of this.#live(sandboxId)) {
      if (grant.port !== port) continue;
      if (grant.isPublic) return grant;
      // Digests of 256-bit secrets: comparing them leaks nothing about a session.
      if (grant.sessionSha256 !== undefined && presented.has(grant.sessionSha256)) return grant;
    }
    return undefined;
  }

  list(sandboxId: string): PreviewGrant[] {
    return [...this.#live(sandboxId)];
  }

  /** Ends a grant at once: its sessions stop working, its WebSockets are closed (Previews does that). */
  revoke(sandboxId: string, grantId: string): boolean {
    const grant = this.#bySandbox.get(sandboxId)?.get(grantId);
    if (grant === undefined) return false;
    this.#bySandbox.get(sandboxId)?.delete(grantId);
    this.#onRecord({ action: 'revoked', grant });
    return true;
  }

  /** A removed sandbox's grants go with it. */
  forget(sandboxId: string): void {
    this.#bySandbox.delete(sandboxId);
  }

  /** Drops expired grants. */
  sweep(): void {
    const now = this.#now();
    for (const [sandboxId, grants] of this.#bySandbox) {
      for (const grant of grants.values()) {
        if (grant.expiresAt.getTime() > now) continue;
        grants.delete(grant.id);
        this.#onRecord({ action: 'expired', grant });
      }
      if (grants.size === 0) this.#bySandbox.delete(sandboxId);
    }
  }

  *#live(sandboxId: string): Iterable<PreviewGrant> {
    const now = this.#now();
    for (const grant of this.#bySandbox.get(sandboxId)?.values() ?? []) {
      if (grant.expiresAt.getTime() > now) yield grant;
    }
  }
}

export class GrantLimitError extends Error {
  constructor(limit: number) {
    super(`this sandbox already has ${limit} open previews; revoke one first`);
    this.name = 'GrantLimitError';
  }
}
