import { type Context, Hono } from 'hono';
import { z } from 'zod';
import { ToolError } from '../protocol/errors.ts';
import type { RuntimeDriver } from '../runtime/driver.ts';
import type { SandboxManager } from '../sandbox/manager.ts';
import type { Sandbox } from '../sandbox/sandbox.ts';
import { parseQuery } from './audit-routes.ts';
import type { HttpEnv } from './context.ts';
import { restError } from './errors.ts';
import type { UsageSampler } from './ui/usage.ts';
import { CreateSandboxBody, jsonBody } from './v1.ts';

/** PUT /v1/sandboxes/:id/ttl: the sandbox lives this many seconds from now. */
export const SetTtlBody = z.object({ ttlSeconds: CreateSandboxBody.shape.ttlSeconds.unwrap() }).strict();

export const ActionResult = z.object({
  id: z.string(),
  state: z.string(),
  expiresAt: z.iso.datetime().nullable(),
});

const resultOf = (sandbox: Sandbox): z.infer<typeof ActionResult> => ({
  id: sandbox.id,
  state: sandbox.state,
  expiresAt: sandbox.expiresAt?.toISOString() ?? null,
});

/** A task's sandbox (never a pool member) by the path's id. */
function taskSandbox(manager: SandboxManager, c: Context): Sandbox {
  const sandbox = manager.get(c.req.param('id') as string);
  if (sandbox.isPooled) throw new ToolError('SANDBOX_NOT_FOUND', `no sandbox ${sandbox.id}`);
  return sandbox;
}

/** What the operator does to a running sandbox: stop it (workspace kept), start it again, move its deadline. */
export const sandboxActions = {
  stop: async (manager: SandboxManager, id: string) => {
    await manager.stop(id, 'operator');
    return manager.get(id);
  },
  start: (manager: SandboxManager, id: string) => manager.acquire(id),
  setTtl: (manager: SandboxManager, id: string, ttlSeconds: number) =>
    manager.setExpiry(id, new Date(Date.now() + ttlSeconds * 1000)),
};

/** GET /v1/sandboxes/:id/logs: the last lines the worker container (its agent) wrote. */
export const LogsQuery = z
  .object({ lines: z.coerce.number().int().min(1).max(10_000).default(200) })
  .strict();

export const UsageList = z.object({
  sandboxes: z.array(
    z.object({
      id: z.string(),
      state: z.string(),
      policy: z.string(),
      createdAt: z.iso.datetime(),
      expiresAt: z.iso.datetime().nullable(),
      /** Percent of one CPU over the last two readings; null until there are two. */
      cpuPercent: z.number().nullable(),
      memoryBytes: z.number().int().nullable(),
      callsPerMinute: z.number().int(),
      callsInFlight: z.number().int(),
    }),
  ),
});

export interface V1ActionOptions {
  manager: SandboxManager;
  driver: RuntimeDriver;
  usage: UsageSampler;
  /** Tool calls per sandbox in the last minute; none without an audit log. */
  callsPerMinute: () => Map<string, number>;
}

/**
 * POST /sandboxes/:id/stop, POST /sandboxes/:id/start, PUT /sandboxes/:id/ttl,
 * GET /sandboxes/:id/logs, GET /usage (what `sandboxd top` shows).
 */
export function v1ActionRoutes(options: V1ActionOptions): Hono<HttpEnv> {
  const { manager } = options;
  const app = new Hono<HttpEnv>();
  app.get('/usage', (c) => {
    const calls = options.callsPerMinute();
    const sandboxes = manager
      .list()
      .filter((sandbox) => !sandbox.isPooled)
      .map((sandbox) => {
        const now = options.usage.of(sandbox.id);
        return {
          id: sandbox.id,
          state: sandbox.state,
          policy: sandbox.loaded.policy.name,
          createdAt: sandbox.createdAt.toISOString(),
          expiresAt: sandbox.expiresAt?.toISOString() ?? null,
          cpuPercent: now?.cpuPercent ?? null,
          memoryBytes: now?.memoryBytes ?? null,
          callsPerMinute: calls.get(sandbox.id) ?? 0,
          callsInFlight: sandbox.activeCalls,
        };
      });
    return c.json({ sandboxes } satisfies z.infer<typeof UsageList>);
  });
  app.get('/sandboxes/:id/logs', async (c) => {
    try {
      const sandbox = taskSandbox(manager, c);
      const { lines } = parseQuery(LogsQuery, c.req.query());
      const text =
        sandbox.containerId === undefined ? '' : await options.driver.logsTail(sandbox.containerId, lines);
      return c.text(text);
    } catch (error) {
      return restError(c, error);
    }
  });
  app.post('/sandboxes/:id/stop', async (c) => {
    try {
      return c.json(resultOf(await sandboxActions.stop(manager, taskSandbox(manager, c).id)));
    } catch (error) {
      return restError(c, error);
    }
  });
  app.post('/sandboxes/:id/start', async (c) => {
    try {
      return c.json(resultOf(await sandboxActions.start(manager, taskSandbox(manager, c).id)));
    } catch (error) {
      return restError(c, error);
    }
  });
  app.put('/sandboxes/:id/ttl', async (c) => {
    try {
      const sandbox = taskSandbox(manager, c);
      const { ttlSeconds } = await jsonBody(c, SetTtlBody);
      return c.json(resultOf(await sandboxActions.setTtl(manager, sandbox.id, ttlSeconds)));
    } catch (error) {
      return restError(c, error);
    }
  });
  return app;
}
