import type { Context, Hono } from 'hono';
import { z } from 'zod';
import { MAX_PREVIEW_TTL_SECONDS } from '../preview/grants.ts';
import type { Previews } from '../preview/service.ts';
import { ToolError } from '../protocol/errors.ts';
import type { SandboxManager } from '../sandbox/manager.ts';
import type { Sandbox } from '../sandbox/sandbox.ts';
import type { HttpEnv } from './context.ts';
import type { NewPreviewInfo, PreviewList } from './v1-schemas.ts';

/** POST /v1/sandboxes/:id/previews. */
export const CreatePreviewBody = z
  .object({
    port: z.number().int().min(1).max(65_535),
    ttlSeconds: z.number().int().min(10).max(MAX_PREVIEW_TTL_SECONDS).optional(),
    /** Served to anyone with the URL, no capability: for a demo the operator means to share. */
    public: z.boolean().default(false),
  })
  .strict();

/**
 * The preview routes of /v1 (operator only, like all of /v1): grant a port of a
 * sandbox to a browser, list the grants, revoke one.
 */
export function addPreviewRoutes(
  app: Hono<HttpEnv>,
  options: {
    manager: SandboxManager;
    previews: Previews | undefined;
    taskSandbox: (id: string) => Sandbox;
    jsonBody: <S extends z.ZodType>(c: Context<HttpEnv>, schema: S) => Promise<z.output<S>>;
  },
): void {
  const previewsOrRefuse = (): Previews => {
    if (options.previews === undefined) {
      throw new ToolError(
        'PREVIEW_UNAVAILABLE',
        'this control plane serves no previews (its preview listener is off)',
      );
    }
    return options.previews;
  };

  app.post('/sandboxes/:id/previews', async (c) => {
    const previews = previewsOrRefuse();
    const sandbox = options.taskSandbox(c.req.param('id'));
    const body = await options.jsonBody(c, CreatePreviewBody);
    const made: NewPreviewInfo = await previews.grant(sandbox, {
      port: body.port,
      ttlSeconds: body.ttlSeconds,
      isPublic: body.public,
      grantedBy: 'operator',
    });
    return c.json(made, 201);
  });

  app.get('/sandboxes/:id/previews', (c) => {
    const sandbox = options.taskSandbox(c.req.param('id'));
    return c.json({ previews: options.previews?.list(sandbox.id) ?? [] } satisfies PreviewList);
  });

  app.delete('/sandboxes/:id/previews/:previewId', async (c) => {
    const sandbox = options.taskSandbox(c.req.param('id'));
    await previewsOrRefuse().revoke(sandbox.id, c.req.param('previewId'));
    return c.body(null, 204);
  });
}
