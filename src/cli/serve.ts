import type http from 'node:http';
import { parseArgs } from 'node:util';
import { serve as serveHttp } from '@hono/node-server';
import { localhostAllowedHostnames, localhostAllowedOrigins } from '@modelcontextprotocol/server';
import type { Logger } from 'pino';
import { z } from 'zod';
import { AuditLog } from '../audit/log.ts';
import { AuditRecorder } from '../audit/recorder.ts';
import { egressLookupFromEnv } from '../egress/resolve.ts';
import { createHttpApp } from '../http/app.ts';
import { Metrics } from '../http/metrics.ts';
import { loadOperatorToken } from '../http/tokens.ts';
import { type LoadedPolicy, loadPolicy } from '../policy/load.ts';
import { PolicyName } from '../policy/schema.ts';
import { PREVIEW_DOMAIN, type PreviewAddressing, previewOrigin } from '../preview/host.ts';
import { Previews } from '../preview/service.ts';
import { DEFAULT_QUOTAS, SandboxManager } from '../sandbox/manager.ts';
import { controlPlaneSocket, type OwnerInfo, OwnerSocket, OwnerSocketBusy } from '../sandbox/owner-socket.ts';
import { WarmPool } from '../sandbox/pool.ts';
import { Reaper } from '../sandbox/reaper.ts';
import { reconcile } from '../sandbox/reconcile.ts';
import { MAX_SNAPSHOT_TTL_SECONDS, type SnapshotLimits } from '../sandbox/snapshot-rules.ts';
import { Snapshots } from '../sandbox/snapshots.ts';
import { defaultStateDir, prepareStateDir } from '../sandbox/state-dir.ts';
import { DEFAULT_UID_RANGE, UidRangeText } from '../sandbox/uids.ts';
import { Workspaces } from '../sandbox/workspaces.ts';
import { listenForPreviews, PreviewPort } from './preview-listener.ts';
import {
  RuntimeConfig,
  rawRuntimeConfig,
  runtimeArgOptions,
  runtimeConfigProblem,
  runtimeOf,
} from './serve-runtime.ts';
import { CannotStart, UsageError } from './usage.ts';
import { hostWorkspace } from './workspace-dir.ts';

const list = z.string().transform((value) =>
  value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item.length > 0),
);

/** Everything `sandboxd serve` runs with: flags over environment over defaults. */
export const ServeConfig = RuntimeConfig.extend({
  host: z.string().min(1).default('127.0.0.1'),
  port: z.coerce.number().int().min(0).max(65_535).default(8080),
  workspace: z.string().optional(),
  policy: PolicyName.default('default'),
  noAuth: z.boolean().default(false),
  stateDir: z.string().min(1),
  maxSandboxes: z.coerce.number().int().min(1).max(10_000).default(DEFAULT_QUOTAS.maxSandboxes),
  maxPerToken: z.coerce.number().int().min(1).max(10_000).default(DEFAULT_QUOTAS.maxPerOwner),
  allowedHosts: list.optional(),
  allowedOrigins: list.optional(),
  maxBodyBytes: z.coerce
    .number()
    .int()
    .min(1024)
    .max(64 * 1024 * 1024)
    .default(4 * 1024 * 1024),
  createWorkspaces: z.boolean().default(true),
  /** Let the sandbox over --workspace write the folder's .git (read-only by default). */
  isGitWritable: z.boolean().default(false),
  /** Where workspace volumes' uids come from. */
  uidRange: UidRangeText.default(DEFAULT_UID_RANGE),
  sweepMs: z.coerce.number().int().min(100).default(10_000),
  defaultTtlSeconds: z.coerce.number().int().min(10).optional(),
  /** Snapshot limits (sandbox/snapshot-rules.ts has the defaults). */
  maxSnapshots: z.coerce.number().int().min(0).max(100_000).optional(),
  maxSnapshotBytes: z.coerce.number().int().min(0).optional(),
  maxSnapshotsPerSandbox: z.coerce.number().int().min(0).max(1000).optional(),
  snapshotTtlSeconds: z.coerce.number().int().min(10).max(MAX_SNAPSHOT_TTL_SECONDS).optional(),
  /** Warm pool sizes, "default=4,ci=2". */
  pool: z
    .string()
    .transform((value, context) => {
      const sizes: Record<string, number> = {};
      for (const entry of value.split(',').filter((item) => item.trim().length > 0)) {
        const [name = '', size = '', ...rest] = entry.split('=').map((part) => part.trim());
        if (!PolicyName.safeParse(name).success || !/^\d{1,3}$/.test(size) || rest.length > 0) {
          context.addIssue({ code: 'custom', message: `expected POLICY=SIZE, got "${entry}"` });
          return z.NEVER;
        }
        sizes[name] = Number(size);
      }
      return sizes;
    })
    .default({}),
  /** The preview listener's port: the API's + 1 by default (0 with an API on 0), `off` for none. */
  previewPort: PreviewPort.optional(),
  /** `localhost`, a wildcard domain a reverse proxy serves, or its origin (`http://preview.lan:8081`). */
  previewDomain: z.string().max(260).default('localhost'),
  /** The audit log (state dir's audit.sqlite); off only to measure what it costs. */
  audit: z.enum(['on', 'off']).default('on'),
});
export type ServeConfig = z.infer<typeof ServeConfig>;

const LOCK_CHECK_MS = 5000;

/**
 * One control plane per state directory: a second one would adopt the first one's
 * sandboxes and take over their agent sockets, and calls would reach the other's
 * folder. The second refuses to start and says what to do instead.
 */
async function claimStateDir(stateDir: string, info: () => OwnerInfo): Promise<OwnerSocket> {
  try {
    return await OwnerSocket.claim(controlPlaneSocket(stateDir), info, true);
  } catch (error) {
    if (!(error instanceof OwnerSocketBusy)) throw error;
    const holder = error.info;
    const who =
      holder === undefined
        ? 'another sandboxd serve'
        : `another sandboxd serve (pid ${holder.pid}${holder.url === undefined ? '' : `, ${holder.url}`})`;
    throw new CannotStart(
      `${who} already uses the state directory ${stateDir}.\n` +
        'Stop it first, or give this one a state directory of its own: --state-dir DIR (or SANDBOXD_STATE_DIR=DIR).',
    );
  }
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

export function parseServeConfig(args: string[], env: NodeJS.ProcessEnv = process.env): ServeConfig {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      host: { type: 'string' },
      port: { type: 'string' },
      workspace: { type: 'string', short: 'w' },
      policy: { type: 'string', short: 'p' },
      'no-auth': { type: 'boolean' },
      'state-dir': { type: 'string' },
      'max-sandboxes': { type: 'string' },
      'allowed-hosts': { type: 'string' },
      'allowed-origins': { type: 'string' },
      'no-create-workspaces': { type: 'boolean' },
      'git-write': { type: 'boolean' },
      pool: { type: 'string' },
      'preview-port': { type: 'string' },
      'preview-domain': { type: 'string' },
      ...runtimeArgOptions,
    },
  });
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${positionals[0]}`);
  const raw = {
    host: values.host ?? env.SANDBOXD_HOST,
    port: values.port ?? env.SANDBOXD_PORT,
    workspace: values.workspace ?? env.SANDBOXD_WORKSPACE,
    policy: values.policy ?? env.SANDBOXD_POLICY,
    noAuth: values['no-auth'] ?? false,
    stateDir: values['state-dir'] ?? defaultStateDir(env),
    maxSandboxes: values['max-sandboxes'] ?? env.SANDBOXD_MAX_SANDBOXES,
    maxPerToken: env.SANDBOXD_MAX_SANDBOXES_PER_TOKEN,
    allowedHosts: values['allowed-hosts'] ?? env.SANDBOXD_ALLOWED_HOSTS,
    allowedOrigins: values['allowed-origins'] ?? env.SANDBOXD_ALLOWED_ORIGINS,
    maxBodyBytes: env.SANDBOXD_MAX_BODY_BYTES,
    createWorkspaces: !(values['no-create-workspaces'] ?? env.SANDBOXD_NO_CREATE_WORKSPACES === '1'),
    isGitWritable: values['git-write'] ?? env.SANDBOXD_GIT_WRITE === '1',
    uidRange: env.SANDBOXD_UID_RANGE,
    sweepMs: env.SANDBOXD_SWEEP_MS,
    defaultTtlSeconds: env.SANDBOXD_DEFAULT_TTL_SECONDS,
    maxSnapshots: env.SANDBOXD_MAX_SNAPSHOTS,
    maxSnapshotBytes: env.SANDBOXD_MAX_SNAPSHOT_BYTES,
    maxSnapshotsPerSandbox: env.SANDBOXD_MAX_SNAPSHOTS_PER_SANDBOX,
    snapshotTtlSeconds: env.SANDBOXD_SNAPSHOT_TTL_SECONDS,
    pool: values.pool ?? env.SANDBOXD_POOL,
    previewPort: values['preview-port'] ?? env.SANDBOXD_PREVIEW_PORT,
    previewDomain: values['preview-domain'] ?? env.SANDBOXD_PREVIEW_DOMAIN,
    audit: env.SANDBOXD_AUDIT,
    ...rawRuntimeConfig(values, env),
  };
  const parsed = ServeConfig.safeParse(
    Object.fromEntries(Object.entries(raw).filter(([, value]) => value !== undefined)),
  );
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new UsageError(`configuration: ${issue?.path.join('.')}: ${issue?.message}`);
  }
  const problem = runtimeConfigProblem(parsed.data);
  if (problem !== undefined) throw new UsageError(`configuration: ${problem}`);
  previewAddressing(parsed.data.previewDomain, 0);
  if (parsed.data.noAuth && !isLoopback(parsed.data.host)) {
    throw new UsageError('--no-auth is only allowed on a loopback address (127.0.0.1, ::1, localhost)');
  }
  return parsed.data;
}

/**
 * How preview URLs look: `localhost` gives `http://PORT-ID.localhost:<listener port>`;
 * another bare domain is taken to be behind a TLS proxy (`https://PORT-ID.DOMAIN`);
 * an origin (`http://preview.lan:8081`) says scheme and port itself.
 */
export function previewAddressing(domainOrOrigin: string, listenerPort: number): PreviewAddressing {
  const fail = () =>
    new UsageError(
      `configuration: previewDomain: expected a domain (localhost, preview.example.com) or an origin (https://preview.example.com), got "${domainOrOrigin}"`,
    );
  if (!domainOrOrigin.includes('://')) {
    const domain = domainOrOrigin.toLowerCase();
    if (!PREVIEW_DOMAIN.test(domain)) throw fail();
    return domain === 'localhost'
      ? { domain, scheme: 'http', urlPort: listenerPort }
      : { domain, scheme: 'https', urlPort: undefined };
  }
  let url: URL;
  try {
    url = new URL(domainOrOrigin);
  } catch {
    throw fail();
  }
  if (
    (url.protocol !== 'http:' && url.protocol !== 'https:') ||
    url.pathname !== '/' ||
    url.search !== '' ||
    !PREVIEW_DOMAIN.test(url.hostname)
  ) {
    throw fail();
  }
  return {
    domain: url.hostname,
    scheme: url.protocol === 'https:' ? 'https' : 'http',
    urlPort: url.port === '' ? undefined : Number(url.port),
  };
}

/**
 * `sandboxd serve`: the control plane over HTTP, until SIGINT/SIGTERM. Sandboxes
 * over named volumes outlive it; the one over a --workspace folder goes with it.
 */
export async function serveCommand(args: string[], log: Logger): Promise<number> {
  const config = parseServeConfig(args);
  await prepareStateDir(config.stateDir);
  const startedAt = new Date().toISOString();
  const serving: { url?: string; previewUrl?: string } = {};
  const lock = await claimStateDir(config.stateDir, () => ({
    kind: 'serve',
    pid: process.pid,
    startedAt,
    ...serving,
  }));
  try {
    return await serveHolding(config, lock, serving, log);
  } finally {
    await lock.close();
  }
}

async function serveHolding(
  config: ServeConfig,
  lock: OwnerSocket,
  serving: { url?: string; previewUrl?: string },
  log: Logger,
): Promise<number> {
  const runtime = await runtimeOf(config, config.stateDir, log);
  const { driver } = runtime;
  const manager = new SandboxManager({
    driver,
    ...(runtime.dialHome === undefined ? {} : { dialHome: runtime.dialHome }),
    stateDir: config.stateDir,
    log,
    quotas: { maxSandboxes: config.maxSandboxes, maxPerOwner: config.maxPerToken },
    controlSocket: lock.path,
    egressLookup: egressLookupFromEnv(process.env, log),
    defaultLifetime: 'persistent',
    uidRange: config.uidRange,
  });
  // Finds the relay before the first tunnel, so that the log line below can name it.
  await manager.init();
  const token = await loadOperatorToken(config.stateDir);
  const policies = new Map<string, Promise<LoadedPolicy>>();
  const policyNamed = (name: string) => {
    let loaded = policies.get(name);
    if (loaded === undefined) {
      loaded = loadPolicy(name);
      loaded.catch(() => policies.delete(name));
      policies.set(name, loaded);
    }
    return loaded;
  };
  const defaultPolicy = await policyNamed(config.policy);
  const hostFolder = config.workspace === undefined ? undefined : await hostWorkspace(config.workspace);
  const pool =
    Object.keys(config.pool).length === 0
      ? undefined
      : new WarmPool({
          manager,
          sizes: config.pool,
          loadPolicy: policyNamed,
          log,
          progress: (line) => process.stderr.write(`sandboxd: ${line}\n`),
        });
  const workspaces = new Workspaces({
    manager,
    policy: () => policyNamed(config.policy),
    policyName: config.policy,
    defaultHostPath: hostFolder?.path,
    defaultUser: hostFolder?.user,
    allowCreate: config.createWorkspaces,
    isGitWritable: config.isGitWritable,
  });
  // Listening before reconcile: adopted sandboxes' agents redial as soon as they can.
  const agentPort = await runtime.startAgentPort(manager);
  const audit = config.audit === 'on' ? AuditLog.inStateDir(config.stateDir, log) : undefined;
  const recorder = audit === undefined ? undefined : new AuditRecorder(audit, manager);
  const adopted = await reconcile(manager, {
    loadPolicyNamed: policyNamed,
    onPoolMember: (policy, sandbox) => pool?.adopt(policy, sandbox),
    mismatch: (container) => workspaces.mismatch(container),
  });
  const metrics = new Metrics(manager, pool);
  const reaper = new Reaper(manager, { intervalMs: config.sweepMs });
  reaper.start();
  const snapshots = new Snapshots({ manager, limits: snapshotLimits(config) });
  await snapshots.sweep();
  snapshots.start(config.sweepMs);
  const allowedHosts = config.allowedHosts ?? [
    ...localhostAllowedHostnames(),
    ...(isLoopback(config.host) || config.host === '0.0.0.0' || config.host === '::' ? [] : [config.host]),
  ];
  const previewEvents = metrics.previewEvents;
  const previews =
    config.previewPort === 'off'
      ? undefined
      : new Previews({
          manager,
          addressing: previewAddressing(config.previewDomain, 0),
          log,
          events: {
            ...previewEvents,
            // A grant given, opened, revoked, expired or refused: counted, and an audit row.
            onGrant: (record) => {
              previewEvents.onGrant(record);
              recorder?.preview(record);
            },
          },
        });
  const previewsKept = (await previews?.load()) ?? 0;
  const app = createHttpApp({
    manager,
    workspaces,
    metrics,
    driver,
    log,
    loadPolicy: policyNamed,
    workerImage: defaultPolicy.policy.image,
    operatorSha256: token.sha256,
    isAuthDisabled: config.noAuth,
    allowedHosts,
    allowedOrigins: config.allowedOrigins ?? localhostAllowedOrigins(),
    maxBodyBytes: config.maxBodyBytes,
    snapshots,
    ...(pool === undefined ? {} : { pool }),
    ...(recorder === undefined ? {} : { recorder }),
    ...(config.defaultTtlSeconds === undefined ? {} : { defaultTtlSeconds: config.defaultTtlSeconds }),
    ...(previews === undefined ? {} : { previews }),
  });
  const server = serveHttp({ fetch: app.fetch, hostname: config.host, port: config.port });
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : config.port;
  const hostInUrl = config.host.includes(':') ? `[${config.host}]` : config.host;
  serving.url = `http://${hostInUrl}:${port}`;
  let previewServers: http.Server[] = [];
  if (previews !== undefined) {
    const previewPort =
      config.previewPort === undefined
        ? port === 0 || config.port === 0
          ? 0
          : port + 1
        : (config.previewPort as number);
    const listening = await listenForPreviews(
      previews,
      previewPort,
      config.host,
      'give previews another with --preview-port N (or SANDBOXD_PREVIEW_PORT), or turn them off with --preview-port off',
    );
    previewServers = listening.servers;
    serving.previewUrl = `http://${hostInUrl}:${listening.port}`;
  }
  log.info(
    {
      ...config,
      port,
      previews: serving.previewUrl ?? 'off',
      allowedHosts,
      auth: config.noAuth ? 'disabled' : `operator token (${token.source})`,
      reconciled: adopted.length,
      previewsKept,
      // Busy tunnels' bytes: the relay that carries them, or Node (none yet, or none at all).
      relay: manager.relay ?? 'node',
    },
    'sandboxd serving',
  );
  if (token.generated !== undefined) {
    // Shown once, to the person at the terminal, never in a log line.
    process.stderr.write(
      `\nsandboxd: generated an operator token (saved in ${config.stateDir}/operator-token, mode 0600):\n\n    ${token.generated}\n\n`,
    );
  }
  // The pool fills in the background; the endpoints answer meanwhile (creating fresh sandboxes).
  void pool?.warm();
  if (serving.previewUrl !== undefined) {
    const example = previewOrigin(previews?.addressing as PreviewAddressing, 'SANDBOX', 3000);
    process.stderr.write(
      `sandboxd: previews at ${serving.previewUrl} (each on its own origin, e.g. ${example})\n`,
    );
  }
  process.stderr.write(`sandboxd: MCP at ${serving.url}/mcp\n`);
  let lockWatch: NodeJS.Timeout | undefined;
  const reason = await new Promise<string>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
    // Should another process ever take the state directory's socket, two control planes
    // would drive the same sandboxes: the one that lost it stops.
    lockWatch = setInterval(async () => {
      if (!(await lock.isHeld())) resolve('lost the state directory lock');
    }, LOCK_CHECK_MS);
    lockWatch.unref();
  });
  clearInterval(lockWatch);
  log.info(
    { reason },
    'shutting down; sandboxes over a host folder are removed, the others keep running and are reconciled at the next start',
  );
  for (const previewServer of previewServers) {
    previewServer.closeAllConnections();
    previewServer.close();
  }
  previews?.close();
  await pool?.stop();
  await reaper.stop();
  await snapshots.stop();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await manager.shutdown();
  // The last grant changes (a revoke, sandboxes removed at shutdown) are on disk before the exit.
  await previews?.flush();
  recorder?.close();
  audit?.close();
  await agentPort?.close();
  runtime.close();
  return reason.startsWith('SIG') ? 0 : 1;
}

/** The snapshot limits set in the environment; the others keep their defaults. */
function snapshotLimits(config: ServeConfig): Partial<SnapshotLimits> {
  const limits: Partial<SnapshotLimits> = {};
  if (config.maxSnapshots !== undefined) limits.maxSnapshots = config.maxSnapshots;
  if (config.maxSnapshotBytes !== undefined) limits.maxBytes = config.maxSnapshotBytes;
  if (config.maxSnapshotsPerSandbox !== undefined) limits.maxPerSandbox = config.maxSnapshotsPerSandbox;
  if (config.snapshotTtlSeconds !== undefined) limits.defaultTtlSeconds = config.snapshotTtlSeconds;
  return limits;
}
