import { type Context, Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { Logger } from 'pino';
import { asCaller } from '../audit/caller.ts';
import type { AuditRecorder } from '../audit/recorder.ts';
import { instructionsFor } from '../mcp/instructions.ts';
import { createMcpServer } from '../mcp/server.ts';
import { handleTarget, type WorkspaceTarget } from '../mcp/target.ts';
import type { LoadedPolicy } from '../policy/load.ts';
import type { Previews } from '../preview/service.ts';
import { ToolError } from '../protocol/errors.ts';
import type { RuntimeDriver } from '../runtime/driver.ts';
import { DEFAULT_IMPORT_MAX_BYTES } from '../sandbox/archive.ts';
import { SandboxHandle } from '../sandbox/handle.ts';
import type { SandboxManager } from '../sandbox/manager.ts';
import type { WarmPool } from '../sandbox/pool.ts';
import type { Sandbox } from '../sandbox/sandbox.ts';
import type { Snapshots } from '../sandbox/snapshots.ts';
import type { Workspaces } from '../sandbox/workspaces.ts';
import { archiveRoutes } from './archive-routes.ts';
import { auditRoutes, recordOperatorActions } from './audit-routes.ts';
import { authenticate, principalOf, requireAccess } from './auth.ts';
import type { HttpEnv } from './context.ts';
import { mcpCors } from './cors.ts';
import { restError } from './errors.ts';
import { mcpJsonBody } from './json-body.ts';
import { McpEndpoint } from './mcp-endpoint.ts';
import type { Metrics } from './metrics.ts';
import { openApiDocument } from './openapi.ts';
import { allowedHosts, allowedOrigins } from './origin.ts';
import { cachedReadiness } from './readiness.ts';
import { RPC_ERROR, rpcErrorResponse } from './rpc-error.ts';
import { discoveryRoutes } from './server-card.ts';
import { snapshotRoutes } from './snapshot-routes.ts';
import { dashboardRoutes } from './ui/routes.ts';
import { UsageSampler } from './ui/usage.ts';
import { v1Routes } from './v1.ts';
import { v1ActionRoutes } from './v1-actions.ts';

export interface HttpAppOptions {
  manager: SandboxManager;
  workspaces: Workspaces;
  metrics: Metrics;
  driver: RuntimeDriver;
  log: Logger;
  loadPolicy: (name: string) => Promise<LoadedPolicy>;
  workerImage: string;
  operatorSha256: string;
  isAuthDisabled: boolean;
  /** Host header names accepted (DNS-rebinding protection). */
  allowedHosts: string[];
  /** Browser origins accepted: host names (any port) or whole origins (https://app.example.com). */
  allowedOrigins: string[];
  maxBodyBytes: number;
  defaultTtlSeconds?: number;
  pool?: WarmPool;
  maxArchiveBytes?: number;
  /** Preview grants, served by their own listener; undefined: previews are off. */
  previews?: Previews;
  /** Snapshots, restore and forks (/v1 and the checkpoint tools); absent where the driver has none. */
  snapshots?: Snapshots;
  /** Where tool calls, state changes and operator actions are recorded; none: no audit routes, no dashboard. */
  recorder?: AuditRecorder;
}

/** Where MCP is served: the default workspace, a named one, a provisioned sandbox. */
const MCP_PATHS = ['/mcp', '/w/:workspace/mcp', '/s/:id/mcp'] as const;

/** The control plane's HTTP face: MCP endpoints, the /v1 provisioning API, health and metrics. */
export function createHttpApp(options: HttpAppOptions): Hono<HttpEnv> {
  const { manager, workspaces, metrics, log, previews, recorder } = options;
  const app = new Hono<HttpEnv>();
  app.use('*', allowedHosts(options.allowedHosts));
  // Public, and readable from any origin: registered before the Origin check and authentication.
  app.route('/', discoveryRoutes({ isAuthRequired: !options.isAuthDisabled }));
  app.use('*', allowedOrigins(options.allowedOrigins));

  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  const readiness = cachedReadiness(options.driver, options.workerImage);
  app.get('/readyz', async (c) => {
    const answer = await readiness();
    return answer.status === 'ready' ? c.json(answer) : c.json(answer, 503);
  });

  // A browser's preflight carries no token, so CORS answers it before authentication.
  for (const path of MCP_PATHS) app.use(path, mcpCors());
  app.use(
    '*',
    authenticate({ operatorSha256: options.operatorSha256, manager, isDisabled: options.isAuthDisabled }),
  );

  app.get('/metrics', requireAccess(false), async (c) => {
    c.header('Content-Type', metrics.registry.contentType);
    return c.body(await metrics.registry.metrics());
  });

  // Public like the discovery documents: it describes the API and holds nothing secret.
  app.get('/v1/openapi.json', (c) => c.json(openApiDocument()));
  app.use('/v1/*', requireAccess(false));
  const smallBodies = bodyLimit({
    maxSize: 64 * 1024,
    onError: () => {
      throw new ToolError('OUTPUT_TOO_LARGE', 'request body too large');
    },
  });
  // Archives stream (and carry their own cap); every other /v1 body is small JSON.
  app.use('/v1/*', (c, next) => (c.req.path.endsWith('/archive') ? next() : smallBodies(c, next)));
  app.route(
    '/v1',
    archiveRoutes({ manager, maxUploadBytes: options.maxArchiveBytes ?? DEFAULT_IMPORT_MAX_BYTES }),
  );
  if (options.snapshots !== undefined) {
    app.route(
      '/v1',
      snapshotRoutes({
        manager,
        snapshots: options.snapshots,
        defaultTtlSeconds: options.defaultTtlSeconds,
        loadPolicy: options.loadPolicy,
      }),
    );
  }
  if (recorder !== undefined) {
    app.use('/v1/*', recordOperatorActions(recorder));
    app.route('/v1', auditRoutes({ manager, recorder }));
  }
  const usage = new UsageSampler(manager, options.driver);
  app.route(
    '/v1',
    v1ActionRoutes({
      manager,
      driver: options.driver,
      usage,
      callsPerMinute: () => recorder?.log.callsSince(Date.now() - 60_000) ?? new Map(),
    }),
  );
  app.route(
    '/v1',
    v1Routes({
      manager,
      pool: options.pool,
      loadPolicy: options.loadPolicy,
      defaultTtlSeconds: options.defaultTtlSeconds,
      previews,
      snapshots: options.snapshots,
    }),
  );

  // One stateless MCP endpoint per workspace target, built on first use.
  const handlers = new Map<string, McpEndpoint>();
  const withMetrics = (handle: SandboxHandle): WorkspaceTarget =>
    handleTarget(handle, {
      snapshots: options.snapshots,
      onToolCall: (tool, outcome, code, ms, call) => {
        metrics.recordToolCall(tool, outcome, code, ms);
        recorder?.toolCall(
          {
            sandbox: handle.currentSandbox()?.id ?? null,
            tool,
            outcome,
            errorCode: code,
            durationMs: ms,
            ...call,
          },
          'operator',
        );
      },
      ...(previews === undefined ? {} : { grantPreview: previews.grantForSession }),
    });
  const serve = (key: string, resolve: () => SandboxHandle) => async (c: Context<HttpEnv>) => {
    let handler = handlers.get(key);
    if (handler === undefined) {
      let target: WorkspaceTarget;
      try {
        target = withMetrics(resolve());
      } catch (error) {
        const toolError = ToolError.from(error);
        const status = toolError.code === 'SANDBOX_NOT_FOUND' ? 404 : 400;
        return rpcErrorResponse(status, RPC_ERROR.invalidRequest, toolError.message);
      }
      handler = new McpEndpoint(
        async ({ withInstructions }) =>
          createMcpServer(target, {
            log,
            ...(withInstructions ? { instructions: await instructionsFor(target) } : {}),
          }),
        {
          maxRequestBodySize: options.maxBodyBytes,
          onerror: (error) => log.debug({ error: error.message }, 'mcp request error'),
        },
      );
      handlers.set(key, handler);
    }
    const principal = principalOf(c).kind === 'sandbox' ? 'sandbox' : 'operator';
    return asCaller(principal, () => handler.fetch(c.req.raw, c.get('parsedBody')));
  };

  /** A provisioned sandbox's endpoint, and the idle servers it keeps, go with the sandbox. */
  const dropEndpoint = (id: string) => {
    void handlers.get(`s:${id}`)?.close();
    handlers.delete(`s:${id}`);
  };
  manager.on('transition', (sandbox: { id: string }, _from: string, state: string) => {
    if (state === 'removed') dropEndpoint(sandbox.id);
  });

  const body = mcpJsonBody(options.maxBodyBytes);
  app.all(
    MCP_PATHS[0],
    requireAccess(false),
    body,
    serve('w:default', () => workspaces.get('default')),
  );
  app.all(MCP_PATHS[1], requireAccess(false), body, async (c) => {
    const name = c.req.param('workspace');
    return serve(`w:${name}`, () => workspaces.get(name))(c);
  });
  app.all(MCP_PATHS[2], requireAccess(true), body, async (c) => {
    const id = c.req.param('id');
    let sandbox: Sandbox;
    try {
      sandbox = manager.taskSandbox(id);
    } catch (error) {
      dropEndpoint(id);
      return rpcErrorResponse(404, RPC_ERROR.invalidRequest, ToolError.from(error).message);
    }
    return serve(`s:${id}`, () => {
      return new SandboxHandle(
        manager,
        id,
        async () => {
          throw new ToolError('SANDBOX_NOT_FOUND', `sandbox ${id} was removed`);
        },
        {
          name: id,
          kind: sandbox.workspace.kind,
          source: sandbox.workspace.kind === 'volume' ? sandbox.workspace.name : sandbox.workspace.hostPath,
          policy: sandbox.loaded.policy.name,
        },
      );
    })(c);
  });

  if (recorder !== undefined) {
    app.route(
      '/ui',
      dashboardRoutes({
        manager,
        recorder,
        usage,
        operatorSha256: options.operatorSha256,
        isAuthDisabled: options.isAuthDisabled,
      }),
    );
  }

  app.notFound((c) => restError(c, new ToolError('NOT_FOUND', `no route ${c.req.method} ${c.req.path}`)));
  // The one error path of every route: they throw, this answers with the code's status.
  app.onError((error, c) => restError(c, error, log));
  return app;
}
