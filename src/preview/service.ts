import type http from 'node:http';
import type net from 'node:net';
import path from 'node:path';
import type { Logger } from 'pino';
import { ToolError } from '../protocol/errors.ts';
import type { SandboxManager } from '../sandbox/manager.ts';
import type { Sandbox } from '../sandbox/sandbox.ts';
import {
  DEFAULT_PREVIEW_TTL_SECONDS,
  type GrantedBy,
  GrantLimitError,
  type GrantRecord,
  grantFacts,
  type PreviewGrant,
  PreviewGrants,
} from './grants.ts';
import { type PreviewAddressing, previewOrigin } from './host.ts';
import { CAPABILITY_PARAM, createPreviewServer, type PreviewEvents } from './server.ts';

/** How often expired grants are dropped (and their WebSockets closed). */
const SWEEP_INTERVAL_MS = 5000;
/** The grants, in the state directory. */
const PREVIEWS_FILE = 'previews.json';

/** A grant as /v1 and the MCP tool show it: never its capability or session. */
export interface PreviewView {
  id: string;
  port: number;
  url: string;
  public: boolean;
  grantedBy: GrantedBy;
  createdAt: string;
  expiresAt: string;
  openedAt: string | null;
}

/** A new grant: the view, and the URL that opens it (with the one-time capability unless public). */
export interface NewPreview extends PreviewView {
  openUrl: string;
  /** Whether something accepted a connection on the port when the grant was made. */
  listening: boolean;
}

export interface PreviewsOptions {
  manager: SandboxManager;
  addressing: PreviewAddressing;
  log: Logger;
  events?: PreviewEvents & { onGrant?(record: GrantRecord): void };
  /**
   * Whether grants are kept in the state directory across restarts (serve, the
   * default). stdio's sandbox goes with its process, and so do its grants: they
   * are not written where another stdio process on the same state directory writes.
   */
  isDurable?: boolean;
}

/**
 * Previews of servers running in sandboxes: who may open which port of which
 * sandbox (grants), the listener that serves them, and what /v1 shows of them.
 */
export class Previews {
  readonly grants: PreviewGrants;
  readonly addressing: PreviewAddressing;
  readonly #options: PreviewsOptions;
  /** Open WebSockets by the grant that admitted them: they end with it. */
  readonly #webSockets = new Map<string, Set<net.Socket>>();
  readonly #sweeper: NodeJS.Timeout;

  constructor(options: PreviewsOptions) {
    this.#options = options;
    this.addressing = options.addressing;
    this.grants = new PreviewGrants({
      ...(options.isDurable === false
        ? {}
        : {
            store: {
              file: path.join(options.manager.stateDir, PREVIEWS_FILE),
              onError: (error: unknown) =>
                options.log.warn({ error: String(error) }, 'preview grants not saved or read'),
            },
          }),
      onRecord: (record) => {
        auditLine(options.log, record);
        options.events?.onGrant?.(record);
        if (record.action === 'revoked' || record.action === 'expired')
          this.#closeWebSockets(record.grant.id);
      },
    });
    // Expiry ends WebSockets too, which make no further request to be refused at.
    this.#sweeper = setInterval(() => this.grants.sweep(), SWEEP_INTERVAL_MS);
    this.#sweeper.unref();
    options.manager.on('transition', (sandbox: { id: string }, _from: string, state: string) => {
      if (state === 'removed') this.grants.forget(sandbox.id);
    });
  }

  /** Takes back the grants an earlier control plane saved, for the sandboxes this one has; their number. */
  load(): Promise<number> {
    return this.grants.load(
      (sandboxId, createdAt) =>
        this.#options.manager.findTaskSandbox(sandboxId)?.createdAt.getTime() === createdAt.getTime(),
    );
  }

  /** Stops the expiry sweep and ends open WebSockets (the listener is closed by whoever bound it). */
  close(): void {
    clearInterval(this.#sweeper);
    for (const grantId of [...this.#webSockets.keys()]) this.#closeWebSockets(grantId);
  }

  #closeWebSockets(grantId: string): void {
    for (const socket of this.#webSockets.get(grantId) ?? []) socket.destroy();
    this.#webSockets.delete(grantId);
  }

  #trackWebSocket(grantId: string, socket: net.Socket): void {
    const sockets = this.#webSockets.get(grantId) ?? new Set<net.Socket>();
    sockets.add(socket);
    this.#webSockets.set(grantId, sockets);
    socket.once('close', () => {
      sockets.delete(socket);
      if (sockets.size === 0) this.#webSockets.delete(grantId);
    });
  }

  /** The listener; the caller binds it. */
  createServer(): http.Server {
    return createPreviewServer({
      manager: this.#options.manager,
      grants: this.grants,
      addressing: this.addressing,
      log: this.#options.log,
      onWebSocket: (grantId, socket) => this.#trackWebSocket(grantId, socket),
      ...(this.#options.events === undefined ? {} : { events: this.#options.events }),
    });
  }

  async grant(
    sandbox: Sandbox,
    options: { port: number; ttlSeconds?: number | undefined; isPublic: boolean; grantedBy: GrantedBy },
  ): Promise<NewPreview> {
    let made: ReturnType<PreviewGrants['grant']>;
    try {
      made = this.grants.grant({
        sandboxId: sandbox.id,
        sandboxCreatedAt: sandbox.createdAt,
        port: options.port,
        ttlSeconds: options.ttlSeconds ?? DEFAULT_PREVIEW_TTL_SECONDS,
        isPublic: options.isPublic,
        grantedBy: options.grantedBy,
      });
    } catch (error) {
      if (error instanceof GrantLimitError) throw new ToolError('QUOTA_EXCEEDED', error.message);
      throw error;
    }
    // Saved before the URL is handed out: a restart right after it does not revoke it.
    try {
      await this.grants.saved();
    } catch (error) {
      this.grants.revoke(sandbox.id, made.grant.id);
      throw new ToolError('INTERNAL_ERROR', 'the preview grant could not be saved in the state directory', {
        cause: error,
      });
    }
    const view = this.view(made.grant);
    const openUrl =
      made.capability === undefined ? view.url : `${view.url}?${CAPABILITY_PARAM}=${made.capability}`;
    return { ...view, openUrl, listening: await isListening(sandbox, options.port) };
  }

  /** preview_url, for a sandbox's own MCP session: a private grant of one of its ports. */
  readonly grantForSession = (sandbox: Sandbox, port: number, ttlSeconds: number | undefined) =>
    this.grant(sandbox, { port, ttlSeconds, isPublic: false, grantedBy: 'mcp' });

  list(sandboxId: string): PreviewView[] {
    return this.grants.list(sandboxId).map((grant) => this.view(grant));
  }

  /** Ends a grant now, and once saved, for good: a failed save is an error (a restart would bring it back). */
  async revoke(sandboxId: string, previewId: string): Promise<void> {
    if (!this.grants.revoke(sandboxId, previewId)) {
      throw new ToolError('NOT_FOUND', `sandbox ${sandboxId} has no preview ${previewId}`);
    }
    try {
      await this.grants.saved();
    } catch (error) {
      throw new ToolError(
        'INTERNAL_ERROR',
        `preview ${previewId} is revoked until the control plane restarts, but could not be saved in the state directory`,
        { cause: error },
      );
    }
  }

  /** Resolves once every grant change so far is saved (at shutdown); a failed save was logged already. */
  async flush(): Promise<void> {
    await this.grants.saved().catch(() => undefined);
  }

  view(grant: PreviewGrant): PreviewView {
    return {
      id: grant.id,
      port: grant.port,
      url: `${previewOrigin(this.addressing, grant.sandboxId, grant.port)}/`,
      public: grant.isPublic,
      grantedBy: grant.grantedBy,
      createdAt: grant.createdAt.toISOString(),
      expiresAt: grant.expiresAt.toISOString(),
      openedAt: grant.openedAt?.toISOString() ?? null,
    };
  }
}

/** Opens and at once closes a tunnel: tells the person asking whether a server is up yet. */
async function isListening(sandbox: Sandbox, port: number): Promise<boolean> {
  try {
    (await sandbox.preview.open(port)).destroy();
    return true;
  } catch {
    return false;
  }
}

/** Who opened what, as one log line each (never a capability or a session). */
function auditLine(log: Logger, record: GrantRecord): void {
  if (record.action === 'refused') {
    log.warn(
      { sandboxId: record.sandboxId, port: record.port, client: record.client, reason: record.reason },
      'preview refused',
    );
    return;
  }
  const { grant } = record;
  log.info(
    {
      sandboxId: grant.sandboxId,
      ...grantFacts(grant),
      ...(record.action === 'opened' ? { client: record.client } : {}),
    },
    `preview ${record.action}`,
  );
}
