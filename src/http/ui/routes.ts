import { type Context, Hono, type MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { z } from 'zod';
import { asCaller } from '../../audit/caller.ts';
import type { AuditRecorder } from '../../audit/recorder.ts';
import { ToolError } from '../../protocol/errors.ts';
import { ListDirTool, ReadFileTool } from '../../protocol/tools/files.ts';
import type { SandboxManager } from '../../sandbox/manager.ts';
import type { Sandbox } from '../../sandbox/sandbox.ts';
import { tokenMatches } from '../../sandbox/tokens.ts';
import { CommandId, sandboxEventStream } from '../events.ts';
import { sandboxActions } from '../v1-actions.ts';
import { staticAsset } from './assets.ts';
import {
  type CommandView,
  commandRows,
  commandsOf,
  type FilesView,
  listPage,
  loginPage,
  messagePage,
  type SandboxRow,
  sandboxPage,
  sandboxRows,
  toolCallRows,
} from './pages.ts';
import { type Session, Sessions } from './sessions.ts';
import type { UsageSampler } from './usage.ts';

export interface DashboardOptions {
  manager: SandboxManager;
  recorder: AuditRecorder;
  usage: UsageSampler;
  operatorSha256: string;
  isAuthDisabled: boolean;
}

/**
 * No inline script or style, nothing from another origin, no framing: what
 * an injected tag could do is nothing.
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

const RECENT_CALLS = 25;
const RECENT_COMMAND_EVENTS = 200;
const FILE_VIEW_BYTES = 64 * 1024;

const FilesQuery = z.object({
  path: z.string().max(4096).default('.'),
  file: z.string().max(4096).optional(),
  command: CommandId.optional(),
});

type Env = { Variables: { session: Session } };

/** The dashboard at /ui: server-rendered pages, one small script, a session cookie. */
export function dashboardRoutes(options: DashboardOptions): Hono<Env> {
  const { manager, recorder } = options;
  const sessions = new Sessions();
  const { usage } = options;
  const app = new Hono<Env>();

  app.use('*', async (c, next) => {
    await next();
    c.header('Content-Security-Policy', CONTENT_SECURITY_POLICY);
    c.header('X-Content-Type-Options', 'nosniff');
    // Not no-referrer: under it a form's POST says Origin: null, which the Origin check refuses.
    c.header('Referrer-Policy', 'same-origin');
    if (!c.res.headers.has('cache-control')) c.header('Cache-Control', 'no-store');
  });
  app.use(
    '*',
    bodyLimit({
      maxSize: 16 * 1024,
      onError: (c) => c.html(messagePage('Too large', 'That form was too large.'), 413),
    }),
  );

  app.get('/static/:name', (c) => {
    const asset = staticAsset(c.req.param('name'));
    if (asset === undefined) return c.text('not found', 404);
    c.header('Cache-Control', 'no-cache');
    return c.body(asset.body, 200, { 'Content-Type': asset.contentType });
  });

  app.get('/login', (c) =>
    c.html(loginPage(c.req.query('error') === undefined ? undefined : 'That is not the operator token.')),
  );
  app.post('/login', async (c) => {
    const form = await c.req.parseBody();
    const token = typeof form.token === 'string' ? form.token.trim() : '';
    if (!options.isAuthDisabled && !tokenMatches(token, options.operatorSha256)) {
      // Back to the form (a redirect, so a reload does not post the token again).
      return c.redirect('/ui/login?error=token', 303);
    }
    sessions.open(c);
    recorder.operator('sign in', null, 200, { via: 'dashboard' });
    return c.redirect('/ui', 303);
  });

  /** Every other page needs a session; every change also needs its CSRF token. */
  const signedIn: MiddlewareHandler<Env> = async (c, next) => {
    const session = sessions.of(c);
    if (session === undefined) {
      if (c.req.method === 'GET') return c.redirect('/ui/login', 303);
      return c.html(messagePage('Signed out', 'Sign in again to do that.'), 401);
    }
    if (c.req.method !== 'GET') {
      const form = await c.req.parseBody();
      if (!sessions.isCsrfValid(session, form.csrf)) {
        return c.html(messagePage('Refused', 'The form was not issued by this session.'), 403);
      }
    }
    c.set('session', session);
    return next();
  };
  app.use('*', signedIn);

  app.post('/logout', (c) => {
    sessions.close(c);
    return c.redirect('/ui/login', 303);
  });

  const rows = (): SandboxRow[] => {
    const calls = recorder.log.callsSince(Date.now() - 60_000);
    return manager
      .list()
      .filter((sandbox) => !sandbox.isPooled)
      .sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime())
      .map((sandbox) => ({
        sandbox,
        usage: usage.of(sandbox.id),
        callsPerMinute: calls.get(sandbox.id) ?? 0,
      }));
  };
  app.get('/', (c) => c.html(listPage(c.get('session').csrfToken, rows(), Date.now())));
  app.get('/fragments/sandboxes', (c) => c.html(sandboxRows(rows(), Date.now())));

  const taskSandbox = (c: Context): Sandbox | undefined => {
    const sandbox = manager.find(c.req.param('id') as string);
    return sandbox === undefined || sandbox.isPooled ? undefined : sandbox;
  };
  const commands = (sandbox: Sandbox): CommandView[] =>
    commandsOf(
      recorder.log.query({
        sandbox: sandbox.id,
        kind: 'command',
        limit: RECENT_COMMAND_EVENTS,
        order: 'desc',
      }),
    );
  const toolCalls = (sandbox: Sandbox) =>
    recorder.log.query({ sandbox: sandbox.id, kind: 'tool_call', limit: RECENT_CALLS, order: 'desc' });
  const gone = (c: Context) =>
    c.html(messagePage('Not found', 'No such sandbox (it may have been deleted).'), 404);

  app.get('/sandboxes/:id', async (c) => {
    const sandbox = taskSandbox(c);
    if (sandbox === undefined) return gone(c);
    const query = FilesQuery.safeParse(c.req.query());
    if (!query.success) return c.html(messagePage('Bad request', 'That address is not valid.'), 400);
    return c.html(
      sandboxPage({
        csrfToken: c.get('session').csrfToken,
        sandbox,
        nowMs: Date.now(),
        commands: commands(sandbox),
        selectedCommand: query.data.command,
        toolCalls: toolCalls(sandbox),
        files: await filesOf(sandbox, query.data.path, query.data.file),
      }),
    );
  });
  app.get('/sandboxes/:id/fragments/commands', (c) => {
    const sandbox = taskSandbox(c);
    if (sandbox === undefined) return gone(c);
    const selected = CommandId.safeParse(c.req.query('command'));
    return c.html(commandRows(sandbox.id, commands(sandbox), selected.success ? selected.data : undefined));
  });
  app.get('/sandboxes/:id/fragments/calls', (c) => {
    const sandbox = taskSandbox(c);
    return sandbox === undefined ? gone(c) : c.html(toolCallRows(toolCalls(sandbox)));
  });
  app.get('/sandboxes/:id/events', (c) => {
    const sandbox = taskSandbox(c);
    if (sandbox === undefined) return gone(c);
    const command = CommandId.safeParse(c.req.query('command'));
    return sandboxEventStream(c, {
      manager,
      recorder,
      sandboxId: sandbox.id,
      commandId: command.success ? command.data : undefined,
      lastEventId: c.req.header('last-event-id'),
    });
  });

  /** One operator action from a form: done, recorded, then back to a page. */
  const act =
    (name: string, run: (sandbox: Sandbox, form: Record<string, unknown>) => Promise<string>) =>
    async (c: Context<Env>) => {
      const sandbox = taskSandbox(c);
      if (sandbox === undefined) return gone(c);
      const form = await c.req.parseBody();
      try {
        const back = await asCaller('operator', () => run(sandbox, form));
        recorder.operator(name, sandbox.id, 200, { via: 'dashboard' });
        return c.redirect(back, 303);
      } catch (error) {
        const toolError = ToolError.from(error);
        recorder.operator(name, sandbox.id, 500, { via: 'dashboard', code: toolError.code });
        return c.html(messagePage(`Could not ${name}`, toolError.message), 409);
      }
    };
  app.post(
    '/sandboxes/:id/stop',
    act('stop', async (sandbox) => {
      await sandboxActions.stop(manager, sandbox.id);
      return `/ui/sandboxes/${sandbox.id}`;
    }),
  );
  app.post(
    '/sandboxes/:id/start',
    act('start', async (sandbox) => {
      await sandboxActions.start(manager, sandbox.id);
      return `/ui/sandboxes/${sandbox.id}`;
    }),
  );
  app.post(
    '/sandboxes/:id/ttl',
    act('set ttl', async (sandbox, form) => {
      const ttlSeconds = z.coerce
        .number()
        .int()
        .min(60)
        .max(30 * 24 * 3600)
        .safeParse(form.ttlSeconds);
      if (!ttlSeconds.success) throw new ToolError('INVALID_ARGUMENT', 'choose a TTL from the list');
      await sandboxActions.setTtl(manager, sandbox.id, ttlSeconds.data);
      return `/ui/sandboxes/${sandbox.id}`;
    }),
  );
  app.post(
    '/sandboxes/:id/delete',
    act('delete', async (sandbox) => {
      await manager.destroy(sandbox.id);
      return '/ui';
    }),
  );

  /**
   * A folder and maybe one file of a running sandbox, through the agent's own
   * list_dir and read_file (the host never opens workspace files). A stopped
   * sandbox is not started for it.
   */
  async function filesOf(sandbox: Sandbox, folder: string, file: string | undefined): Promise<FilesView> {
    if (sandbox.state !== 'ready' && sandbox.state !== 'idle') {
      return {
        path: folder,
        entries: [],
        unavailable: `The sandbox is ${sandbox.state}; start it to browse its files.`,
      };
    }
    const read = async <T>(
      tool: typeof ListDirTool | typeof ReadFileTool,
      input: Record<string, unknown>,
    ) => {
      const started = performance.now();
      try {
        const reply = await sandbox.callTool(tool.name, input);
        recorder.toolCall(
          {
            sandbox: sandbox.id,
            tool: tool.name,
            outcome: 'ok',
            errorCode: undefined,
            durationMs: performance.now() - started,
            input,
            result: undefined,
          },
          'operator',
        );
        return tool.output.parse(reply.result) as T;
      } catch (error) {
        const code = ToolError.from(error).code;
        recorder.toolCall(
          {
            sandbox: sandbox.id,
            tool: tool.name,
            outcome: 'error',
            errorCode: code,
            durationMs: performance.now() - started,
            input,
            result: undefined,
          },
          'operator',
        );
        throw error;
      }
    };
    try {
      const listing = await read<z.infer<typeof ListDirTool.output>>(ListDirTool, {
        path: folder,
        include_hidden: true,
      });
      const view: FilesView = { path: folder, entries: listing.entries };
      if (file !== undefined) {
        const content = await read<z.infer<typeof ReadFileTool.output>>(ReadFileTool, {
          path: file,
          max_bytes: FILE_VIEW_BYTES,
        });
        view.file = {
          path: file,
          text: content.encoding === 'utf8' ? content.content : '(binary file)',
          isTruncated: content.truncated,
        };
      }
      return view;
    } catch (error) {
      return { path: folder, entries: [], unavailable: ToolError.from(error).message };
    }
  }

  return app;
}
