import { Hono, type MiddlewareHandler } from 'hono';
import { z } from 'zod';
import { asCaller } from '../audit/caller.ts';
import { AuditEntry, AuditKind } from '../audit/entry.ts';
import type { AuditRecorder } from '../audit/recorder.ts';
import { ToolError } from '../protocol/errors.ts';
import type { SandboxManager } from '../sandbox/manager.ts';
import type { HttpEnv } from './context.ts';
import { restError } from './errors.ts';
import { CommandId, sandboxEventStream } from './events.ts';

export const AUDIT_PAGE_MAX = 1000;

/** GET /v1/audit's query: every filter optional, newest last unless order=desc. */
export const AuditQueryParams = z
  .object({
    sandbox: z.string().max(64).optional(),
    kind: AuditKind.optional(),
    tool: z.string().max(64).optional().describe('the tool, or the action of a non-tool row'),
    since: z.iso.datetime().optional().describe('rows at or after this time'),
    until: z.iso.datetime().optional().describe('rows before this time'),
    limit: z.coerce.number().int().min(1).max(AUDIT_PAGE_MAX).default(100),
    cursor: z
      .string()
      .regex(/^\d{1,15}$/, 'a cursor from nextCursor')
      .optional(),
    order: z.enum(['asc', 'desc']).default('asc'),
  })
  .strict();

export const AuditPage = z.object({
  entries: z.array(AuditEntry),
  /** Pass as `cursor` for the next page; null when this page was the last. */
  nextCursor: z.string().nullable(),
});

export const EventsQueryParams = z
  .object({ command: CommandId.optional().describe("a command whose output is streamed as 'output' events") })
  .strict();

/** The first problem of a query string, as the 400 says it. */
export function parseQuery<S extends z.ZodType>(schema: S, query: Record<string, string>): z.output<S> {
  const parsed = schema.safeParse(query);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ToolError('INVALID_ARGUMENT', `${issue?.path.join('.') || 'query'}: ${issue?.message}`);
  }
  return parsed.data;
}

export interface AuditRoutesOptions {
  manager: SandboxManager;
  recorder: AuditRecorder;
}

/** The audit log and a sandbox's live events, for the operator. */
export function auditRoutes({ manager, recorder }: AuditRoutesOptions): Hono<HttpEnv> {
  const app = new Hono<HttpEnv>();
  app.get('/audit', (c) => {
    try {
      const query = parseQuery(AuditQueryParams, c.req.query());
      const cursor = query.cursor === undefined ? undefined : Number(query.cursor);
      const entries = recorder.log.query({
        sandbox: query.sandbox,
        kind: query.kind,
        action: query.tool,
        sinceMs: query.since === undefined ? undefined : Date.parse(query.since),
        untilMs: query.until === undefined ? undefined : Date.parse(query.until),
        ...(query.order === 'asc' ? { afterId: cursor } : { beforeId: cursor }),
        limit: query.limit,
        order: query.order,
      });
      const last = entries.at(-1);
      const nextCursor = entries.length === query.limit && last !== undefined ? String(last.id) : null;
      return c.json({ entries, nextCursor } satisfies z.infer<typeof AuditPage>);
    } catch (error) {
      return restError(c, error);
    }
  });

  app.get('/sandboxes/:id/events', (c) => {
    try {
      const sandbox = manager.get(c.req.param('id'));
      if (sandbox.isPooled) throw new ToolError('SANDBOX_NOT_FOUND', `no sandbox ${sandbox.id}`);
      const query = parseQuery(EventsQueryParams, c.req.query());
      return sandboxEventStream(c, {
        manager,
        recorder,
        sandboxId: sandbox.id,
        commandId: query.command,
        lastEventId: c.req.header('last-event-id'),
      });
    } catch (error) {
      return restError(c, error);
    }
  });
  return app;
}

/** The sandbox a /v1 change is about: the path's, or the one a create made. */
async function sandboxOf(path: string, response: Response): Promise<string | null> {
  const named = /^\/v1\/sandboxes\/([^/]+)/.exec(path)?.[1];
  if (named !== undefined) return named;
  if (response.status !== 201) return null;
  const body = (await response
    .clone()
    .json()
    .catch(() => undefined)) as { id?: unknown } | undefined;
  return typeof body?.id === 'string' ? body.id : null;
}

/** Every /v1 change (anything but GET/HEAD) the operator makes lands in the audit log as it ends. */
export function recordOperatorActions(recorder: AuditRecorder): MiddlewareHandler {
  return async (c, next) => {
    // What the action sets off (a sandbox created, removed) is the operator's too.
    await asCaller('operator', next);
    if (c.req.method === 'GET' || c.req.method === 'HEAD') return;
    const route = c.req.path.replace(/^\/v1\/sandboxes\/[^/]+/, '/v1/sandboxes/:id');
    recorder.operator(`${c.req.method} ${route}`, await sandboxOf(c.req.path, c.res), c.res.status);
  };
}
