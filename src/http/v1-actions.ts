import { type Context, Hono } from 'hono';
import { z } from 'zod';
import { ToolError } from '../protocol/errors.ts';
import type { SandboxManager } from '../sandbox/manager.ts';
import type { Sandbox } from '../sandbox/sandbox.ts';
import { restError } from './errors.ts';
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

/** POST /sandboxes/:id/stop, POST /sandboxes/:id/start, PUT /sandboxes/:id/ttl. */
export function v1ActionRoutes(manager: SandboxManager): Hono {
  const app = new Hono();
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
