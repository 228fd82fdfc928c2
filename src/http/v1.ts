import { type Context, Hono } from 'hono';
import { z } from 'zod';
import { prefetchInstructions } from '../mcp/instructions.ts';
import { agentLimits } from '../policy/derived.ts';
import { allowListOf, type EgressAllowList, EgressSection } from '../policy/egress.ts';
import { type LoadedPolicy, loadHostLists } from '../policy/load.ts';
import { PolicyName } from '../policy/schema.ts';
import type { Previews } from '../preview/service.ts';
import { invalidArgument, ToolError } from '../protocol/errors.ts';
import { workspaceVolumeName } from '../runtime/labels.ts';
import type { SandboxManager } from '../sandbox/manager.ts';
import type { WarmPool } from '../sandbox/pool.ts';
import type { Sandbox } from '../sandbox/sandbox.ts';
import { SnapshotId } from '../sandbox/snapshot-rules.ts';
import type { Snapshots } from '../sandbox/snapshots.ts';
import { newToken, sha256Hex } from '../sandbox/tokens.ts';
import { WORKSPACE_NAME_RULE, WorkspaceName } from '../sandbox/workspaces.ts';
import type { HttpEnv } from './context.ts';
import { addPreviewRoutes } from './preview-routes.ts';
import type { SandboxView } from './v1-schemas.ts';

const LabelKey = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._/-]{0,62}$/, 'a label key is 1-63 of [A-Za-z0-9._/-]')
  .refine((key) => !key.startsWith('io.sandboxd.'), 'io.sandboxd. labels are reserved');

export const CreateSandboxBody = z
  .object({
    policy: PolicyName.default('default'),
    workspace: z.string().regex(WorkspaceName, WORKSPACE_NAME_RULE).optional(),
    /** A snapshot (sandbox/snapshots.ts) whose files the new sandbox starts from, copy-on-write. */
    fromSnapshot: SnapshotId.optional(),
    ttlSeconds: z
      .number()
      .int()
      .min(1)
      .max(30 * 24 * 3600)
      .optional(),
    labels: z
      .record(LabelKey, z.string().max(256))
      .refine((labels) => Object.keys(labels).length <= 32, 'at most 32 labels')
      .optional(),
  })
  .strict()
  .refine((body) => body.workspace === undefined || body.fromSnapshot === undefined, {
    message: 'a sandbox starts from a workspace or from a snapshot, not both',
  });

/** PATCH /v1/sandboxes/:id: what may change while a sandbox runs. */
export const UpdateSandboxBody = z
  .object({
    /** The whole new egress allow-list (a policy's network.egress section), or "none" to close the door. */
    egress: z.union([z.literal('none'), EgressSection]),
  })
  .strict();

export interface V1Options {
  manager: SandboxManager;
  pool: WarmPool | undefined;
  loadPolicy: (name: string) => Promise<LoadedPolicy>;
  /** Host lists a PATCHed allow-list includes, by name; the policy directory's by default. */
  loadHostLists?: (names: readonly string[]) => Promise<Record<string, string[]>>;
  defaultTtlSeconds: number | undefined;
  /** Preview grants and URLs; undefined when the preview listener is off. */
  previews?: Previews | undefined;
  /** Snapshots and forks; without it, fromSnapshot is refused. */
  snapshots?: Snapshots | undefined;
}

function mcpUrl(origin: string, id: string): string {
  return `${origin}/s/${id}/mcp`;
}

/** The allow-list in force (the policy's, or as last changed), with what the sandbox used of it. */
function describeEgress(sandbox: Sandbox) {
  const allowList: EgressAllowList | null = sandbox.egress.allowList;
  if (allowList === null) return null;
  return {
    ...allowList,
    usage: { activeConnections: sandbox.egress.activeConnections, bytes: sandbox.egress.usedBytes },
  };
}

export function describe(sandbox: Sandbox, origin: string, previews?: Previews): SandboxView {
  const { policy } = sandbox.loaded;
  return {
    id: sandbox.id,
    state: sandbox.state,
    mcpUrl: mcpUrl(origin, sandbox.id),
    image: policy.image,
    runtime: policy.runtime,
    // 'runtime-default' where a node lacked our profile (Kubernetes); the policy's otherwise.
    seccomp: sandbox.seccomp,
    policy: policy.name,
    workspace:
      sandbox.workspace.kind === 'volume'
        ? { volume: sandbox.workspace.name }
        : { hostPath: sandbox.workspace.hostPath },
    labels: sandbox.labels,
    egress: describeEgress(sandbox),
    previews: previews?.list(sandbox.id) ?? [],
    createdAt: sandbox.createdAt.toISOString(),
    expiresAt: sandbox.expiresAt?.toISOString() ?? null,
    limits: {
      cpus: policy.resources.cpus,
      memoryBytes: policy.resources.memory,
      pids: policy.resources.pids,
      ...agentLimits(policy),
    },
    usage: {
      lastUsedAt: new Date(sandbox.lastUsedAt).toISOString(),
      callsInFlight: sandbox.activeCalls,
      agentConnections: sandbox.link.connections,
    },
  };
}

/** A JSON body checked with `schema` (null or empty as {}); the first problem is the 400's message. */
export async function jsonBody<S extends z.ZodType>(c: Context<HttpEnv>, schema: S): Promise<z.output<S>> {
  let raw: unknown;
  try {
    raw = await c.req.json();
  } catch {
    throw new ToolError('INVALID_ARGUMENT', 'the body must be a JSON object');
  }
  const parsed = schema.safeParse(raw ?? {});
  if (!parsed.success) throw invalidArgument('body', parsed.error.issues);
  return parsed.data;
}

/** The provisioning API: one sandbox per task, each with its own MCP URL and token. */
export function v1Routes(options: V1Options): Hono<HttpEnv> {
  const { manager } = options;
  const app = new Hono<HttpEnv>();
  const origin = (url: string) => new URL(url).origin;

  app.post('/sandboxes', async (c) => {
    const body = await jsonBody(c, CreateSandboxBody);
    const loaded = await options.loadPolicy(body.policy).catch((error: unknown) => {
      throw new ToolError('INVALID_ARGUMENT', `policy ${body.policy}: ${(error as Error).message}`);
    });
    const token = newToken();
    const ttlSeconds = body.ttlSeconds ?? options.defaultTtlSeconds;
    const expiresAt =
      ttlSeconds === undefined ? undefined : new Date(Date.now() + ttlSeconds * 1000).toISOString();
    if (body.fromSnapshot !== undefined) {
      if (options.snapshots === undefined) throw new ToolError('NOT_FOUND', 'snapshots are not enabled');
      const [sandbox] = await options.snapshots.fork(body.fromSnapshot, 1, () => ({
        policy: loaded,
        owner: 'operator',
        tokenSha256: sha256Hex(token),
        ...(ttlSeconds === undefined ? {} : { ttlMs: ttlSeconds * 1000 }),
        ...(body.labels === undefined ? {} : { labels: body.labels }),
      }));
      prefetchInstructions(sandbox as Sandbox);
      return c.json({ ...describe(sandbox as Sandbox, origin(c.req.url), options.previews), token }, 201);
    }
    // A task that brings its own workspace volume cannot use a pool member's empty one.
    const pooled =
      body.workspace === undefined
        ? await options.pool?.take(body.policy, {
            tokenSha256: sha256Hex(token),
            owner: 'operator',
            labels: body.labels ?? {},
            ...(expiresAt === undefined ? {} : { expiresAt }),
          })
        : undefined;
    const sandbox =
      pooled ??
      (await manager.create({
        policy: loaded,
        owner: 'operator',
        tokenSha256: sha256Hex(token),
        ...(body.workspace === undefined
          ? {}
          : { workspace: { kind: 'volume', name: workspaceVolumeName(body.workspace) } }),
        ...(ttlSeconds === undefined ? {} : { ttlMs: ttlSeconds * 1000 }),
        ...(body.labels === undefined ? {} : { labels: body.labels }),
      }));
    prefetchInstructions(sandbox);
    return c.json({ ...describe(sandbox, origin(c.req.url), options.previews), token }, 201);
  });

  app.get('/sandboxes', (c) =>
    c.json({
      sandboxes: manager
        .taskSandboxes()
        .map((sandbox) => describe(sandbox, origin(c.req.url), options.previews)),
    }),
  );

  app.get('/sandboxes/:id', (c) => {
    return c.json(describe(manager.taskSandbox(c.req.param('id')), origin(c.req.url), options.previews));
  });

  // Operator only, like all of /v1: a sandbox's own token never reaches it, nor does anything inside.
  app.patch('/sandboxes/:id', async (c) => {
    const sandbox = manager.taskSandbox(c.req.param('id'));
    const { egress } = await jsonBody(c, UpdateSandboxBody);
    let allowList: EgressAllowList | null = null;
    if (egress !== 'none') {
      const hostLists = await (options.loadHostLists ?? loadHostLists)(egress.include).catch(
        (error: unknown) => {
          throw new ToolError('INVALID_ARGUMENT', `egress.include: ${(error as Error).message}`);
        },
      );
      allowList = allowListOf(egress, hostLists);
    }
    await manager.setEgress(sandbox.id, allowList);
    return c.json(describe(sandbox, origin(c.req.url), options.previews));
  });

  app.delete('/sandboxes/:id', async (c) => {
    await manager.destroy(manager.taskSandbox(c.req.param('id')).id);
    return c.body(null, 204);
  });

  addPreviewRoutes(app, {
    manager,
    previews: options.previews,
    jsonBody,
    taskSandbox: (id) => manager.taskSandbox(id),
  });

  app.all('*', (c) => {
    throw new ToolError('NOT_FOUND', `no route ${c.req.method} ${c.req.path}`);
  });
  return app;
}
