import { Hono } from 'hono';
import { z } from 'zod';
import { prefetchInstructions } from '../mcp/instructions.ts';
import type { LoadedPolicy } from '../policy/load.ts';
import { ToolError } from '../protocol/errors.ts';
import type { SandboxManager } from '../sandbox/manager.ts';
import type { Sandbox } from '../sandbox/sandbox.ts';
import { MAX_SNAPSHOT_TTL_SECONDS, SnapshotId } from '../sandbox/snapshot-rules.ts';
import type { ForkCreateOptions, Snapshots, SnapshotView } from '../sandbox/snapshots.ts';
import { newToken, sha256Hex } from '../sandbox/tokens.ts';
import type { HttpEnv } from './context.ts';
import { describe, jsonBody } from './v1.ts';
import type { ForkedSandboxes, RestoredSnapshot, SnapshotInfo, SnapshotList } from './v1-schemas.ts';

const TtlSeconds = z.number().int().min(1).max(MAX_SNAPSHOT_TTL_SECONDS);

export const CreateSnapshotBody = z
  .object({ label: z.string().max(256).optional(), ttlSeconds: TtlSeconds.optional() })
  .strict();
export const RestoreBody = z.object({ snapshotId: SnapshotId }).strict();
export const ForkBody = z
  .object({
    count: z.number().int().min(1),
    ttlSeconds: TtlSeconds.optional(),
  })
  .strict();

/** A snapshot as /v1 shows it. */
export function describeSnapshot(snapshot: SnapshotView): SnapshotInfo {
  return {
    snapshotId: snapshot.snapshotId,
    sandboxId: snapshot.sandboxId,
    label: snapshot.label,
    bytes: snapshot.bytes,
    files: snapshot.files,
    createdAt: snapshot.createdAt.toISOString(),
    expiresAt: snapshot.expiresAt.toISOString(),
    forks: snapshot.forks,
  };
}

export interface SnapshotRoutesOptions {
  manager: SandboxManager;
  snapshots: Snapshots;
  defaultTtlSeconds: number | undefined;
  loadPolicy: (name: string) => Promise<LoadedPolicy>;
}

/** /v1 snapshots, restore and fork; operator only, like all of /v1. */
export function snapshotRoutes(options: SnapshotRoutesOptions): Hono<HttpEnv> {
  const { manager, snapshots } = options;
  const app = new Hono<HttpEnv>();
  const origin = (url: string) => new URL(url).origin;
  const sandboxOf = (id: string): Sandbox => manager.taskSandbox(id);
  const listOf = (list: SnapshotView[]): SnapshotList => ({
    snapshots: list.filter((one) => one.isComplete).map(describeSnapshot),
  });

  app.post('/sandboxes/:id/snapshots', async (c) => {
    const sandbox = sandboxOf(c.req.param('id'));
    const body = await jsonBody(c, CreateSnapshotBody);
    const snapshot = await snapshots.create(sandbox.id, body);
    return c.json(describeSnapshot(snapshot), 201);
  });

  app.get('/sandboxes/:id/snapshots', async (c) => {
    const sandbox = sandboxOf(c.req.param('id'));
    const list = await snapshots.list({ sandboxId: sandbox.id });
    return c.json(listOf(list));
  });

  app.get('/snapshots', async (c) => c.json(listOf(await snapshots.list())));

  app.get('/snapshots/:snapshotId', async (c) => {
    return c.json(describeSnapshot(await snapshots.get(c.req.param('snapshotId'))));
  });

  // Refused (409 SNAPSHOT_IN_USE) while forks' files lie on it: their overlay's lower directory.
  app.delete('/snapshots/:snapshotId', async (c) => {
    await snapshots.remove((await snapshots.get(c.req.param('snapshotId'))).snapshotId);
    return c.body(null, 204);
  });

  app.post('/sandboxes/:id/restore', async (c) => {
    const sandbox = sandboxOf(c.req.param('id'));
    const { snapshotId } = await jsonBody(c, RestoreBody);
    const result = await snapshots.restore(sandbox.id, snapshotId);
    return c.json({ ...result, state: sandbox.state } satisfies RestoredSnapshot);
  });

  /**
   * `count` sandboxes made by `fork` (over a kept snapshot, or over a sandbox's own),
   * each with its own token and MCP URL, as /v1 shows them.
   */
  const forkWith = async (
    fork: (
      optionsFor: (id: string) => ForkCreateOptions,
    ) => Promise<{ snapshotId: string; sandboxes: Sandbox[] }>,
    body: z.infer<typeof ForkBody>,
    policy: LoadedPolicy,
    labels: Record<string, string>,
    url: string,
  ): Promise<ForkedSandboxes> => {
    const ttlSeconds = body.ttlSeconds ?? options.defaultTtlSeconds;
    const tokens = new Map<string, string>();
    const forked = await fork((id) => {
      const token = newToken();
      tokens.set(id, token);
      return {
        policy,
        owner: 'operator',
        tokenSha256: sha256Hex(token),
        labels,
        ...(ttlSeconds === undefined ? {} : { ttlMs: ttlSeconds * 1000 }),
      };
    });
    for (const sandbox of forked.sandboxes) prefetchInstructions(sandbox);
    return {
      snapshotId: forked.snapshotId,
      sandboxes: forked.sandboxes.map((sandbox) => {
        const token = tokens.get(sandbox.id);
        if (token === undefined)
          throw new ToolError('INTERNAL_ERROR', `fork ${sandbox.id} was made without a token`);
        return { ...describe(sandbox, origin(url)), token };
      }),
    };
  };

  /** count new sandboxes from the sandbox's files now: a snapshot of their own, gone with the last of them. */
  app.post('/sandboxes/:id/fork', async (c) => {
    const source = sandboxOf(c.req.param('id'));
    const body = await jsonBody(c, ForkBody);
    const fork = (optionsFor: (id: string) => ForkCreateOptions) =>
      snapshots.forkSandbox(source.id, body.count, optionsFor);
    return c.json(await forkWith(fork, body, source.loaded, source.labels, c.req.url), 201);
  });

  /** count new sandboxes over a kept snapshot, with the given policy (default). */
  app.post('/snapshots/:snapshotId/fork', async (c) => {
    const snapshot = await snapshots.get(c.req.param('snapshotId'));
    const body = await jsonBody(c, ForkBody);
    const policy = await options.loadPolicy('default');
    const fork = async (optionsFor: (id: string) => ForkCreateOptions) => ({
      snapshotId: snapshot.snapshotId,
      sandboxes: await snapshots.fork(snapshot.snapshotId, body.count, optionsFor),
    });
    return c.json(await forkWith(fork, body, policy, {}, c.req.url), 201);
  });

  return app;
}
