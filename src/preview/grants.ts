import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
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
  /** When that sandbox was made: a later sandbox with the same id (a workspace made again) is another one. */
  readonly sandboxCreatedAt: Date;
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

const Sha256 = z.string().regex(/^[0-9a-f]{64}$/);
const IsoDate = z.iso.datetime().transform((text) => new Date(text));
/** previews.json in the state directory: the grants, with hashes of their secrets, never the secrets. */
const SavedGrants = z.object({
  grants: z
    .array(
      z.object({
        id: z.string().regex(/^pv-[0-9a-f]{12}$/),
        sandboxId: z.string().min(1).max(128),
        sandboxCreatedAt: IsoDate,
        port: z.number().int().min(1).max(65_535),
        isPublic: z.boolean(),
        grantedBy: z.enum(['operator', 'mcp']),
        createdAt: IsoDate,
        expiresAt: IsoDate,
        capabilitySha256: Sha256.nullable(),
        sessionSha256: Sha256.nullable(),
        openedAt: IsoDate.nullable(),
      }),
    )
    .max(100_000),
});

export interface GrantsFile {
  /** Where the grants are kept across restarts (0600, written whole and renamed into place). */
  file: string;
  onError(error: unknown): void;
}

/**
 * Every preview grant this control plane gave, by sandbox. With a file, they
 * outlive a restart: a preview open in a browser keeps working through
 * `docker compose restart control-plane`.
 */
export class PreviewGrants {
  readonly #bySandbox = new Map<string, Map<string, PreviewGrant>>();
  readonly #now: () => number;
  readonly #onRecord: (record: GrantRecord) => void;
  readonly #store: GrantsFile | undefined;
  /** The write running now, and the one queued behind it (which takes every change made until it starts). */
  #writing: Promise<void> = Promise.resolve();
  #queued: Promise<void> | undefined;

  constructor(
    options: { now?: () => number; onRecord?: (record: GrantRecord) => void; store?: GrantsFile } = {},
  ) {
    this.#now = options.now ?? Date.now;
    this.#onRecord = options.onRecord ?? (() => {});
    this.#store = options.store;
  }

  /**
   * Takes back the grants the file holds that are still good for a sandbox
   * `isKnown` names; the number taken. A missing file is none; one that does
   * not parse is reported to onError and read as none.
   */
  async load(isKnown: (sandboxId: string, createdAt: Date) => boolean): Promise<number> {
    if (this.#store === undefined) return 0;
    let text: string;
    try {
      text = await readFile(this.#store.file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') this.#store.onError(error);
      return 0;
    }
    let saved: z.infer<typeof SavedGrants>;
    try {
      saved = SavedGrants.parse(JSON.parse(text));
    } catch (error) {
      this.#store.onError(new Error(`${this.#store.file} is not a grants file: ${String(error)}`));
      return 0;
    }
    const now = this.#now();
    let taken = 0;
    for (const kept of saved.grants) {
      if (kept.expiresAt.getTime() <= now || !isKnown(kept.sandboxId, kept.sandboxCreatedAt)) continue;
      const grants = this.#bySandbox.get(kept.sandboxId) ?? new Map<string, PreviewGrant>();
      if (grants.size >= MAX_GRANTS_PER_SANDBOX) continue;
      grants.set(kept.id, {
        ...kept,
        capabilitySha256: kept.capabilitySha256 ?? undefined,
        sessionSha256: kept.sessionSha256 ?? undefined,
        openedAt: kept.openedAt ?? undefined,
      });
      this.#bySandbox.set(kept.sandboxId, grants);
      taken += 1;
    }
    if (taken !== saved.grants.length) this.#persist();
    return taken;
  }

  /**
   * Resolves once every change made before the call is on disk (at once without
   * a file); rejects if that write failed. Writes never overlap: a change made
   * while one runs goes into the next, which every call made meanwhile shares.
   */
  saved(): Promise<void> {
    const store = this.#store;
    if (store === undefined) return Promise.resolve();
    if (this.#queued === undefined) {
      const queued = this.#writing.then(() => {
        this.#queued = undefined;
        return this.#write(store.file);
      });
      this.#queued = queued;
      this.#writing = queued.catch(() => undefined);
    }
    return this.#queued;
  }

  /** Saves soon; a failure is reported to onError (the grants hold in memory until a restart). */
  #persist(): void {
    this.saved().catch((error: unknown) => this.#store?.onError(error));
  }

  /** The whole file anew: written to a file of its own, synced, renamed over the old one, the rename synced. */
  async #write(file: string): Promise<void> {
    const grants = [...this.#bySandbox.values()].flatMap((byId) =>
      [...byId.values()].map((grant) => ({
        ...grant,
        capabilitySha256: grant.capabilitySha256 ?? null,
        sessionSha256: grant.sessionSha256 ?? null,
        openedAt: grant.openedAt ?? null,
      })),
    );
    const directory = path.dirname(file);
    await mkdir(directory, { recursive: true, mode: 0o700 });
    const temporary = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    try {
      const handle = await open(temporary, 'wx', 0o600);
      try {
        await handle.writeFile(JSON.stringify({ grants }));
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(temporary, file);
    } catch (error) {
      await rm(temporary, { force: true });
      throw error;
    }
    const folder = await open(directory, 'r');
    try {
      await folder.sync();
    } finally {
      await folder.close();
    }
  }

  /** A new grant and, for a private one, the capability that opens it (shown once, kept only as a hash). */
  grant(options: {
    sandboxId: string;
    sandboxCreatedAt: Date;
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
      sandboxCreatedAt: options.sandboxCreatedAt,
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
    this.#persist();
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
      this.#persist();
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
    this.#persist();
    return true;
  }

  /** A removed sandbox's grants go with it. */
  forget(sandboxId: string): void {
    if (this.#bySandbox.delete(sandboxId)) this.#persist();
  }

  /** Drops expired grants. */
  sweep(): void {
    const now = this.#now();
    let dropped = 0;
    for (const [sandboxId, grants] of this.#bySandbox) {
      for (const grant of grants.values()) {
        if (grant.expiresAt.getTime() > now) continue;
        grants.delete(grant.id);
        dropped += 1;
        this.#onRecord({ action: 'expired', grant });
      }
      if (grants.size === 0) this.#bySandbox.delete(sandboxId);
    }
    if (dropped > 0) this.#persist();
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
