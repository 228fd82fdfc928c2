import { Hono } from 'hono';
import { ToolError } from '../protocol/errors.ts';
import { importArchive, openExport } from '../sandbox/archive.ts';
import type { SandboxManager } from '../sandbox/manager.ts';
import type { Sandbox } from '../sandbox/sandbox.ts';
import type { HttpEnv } from './context.ts';

export interface ArchiveRouteOptions {
  manager: SandboxManager;
  /** Largest upload accepted, in bytes. */
  maxUploadBytes: number;
}

/** The task's sandbox, ready: a stopped one is started again, as for a tool call. */
function readyTaskSandbox(manager: SandboxManager, id: string): Promise<Sandbox> {
  return manager.acquire(manager.taskSandbox(id).id);
}

/**
 * GET and PUT /v1/sandboxes/:id/archive: a tar of /workspace (or of `?path=`)
 * streamed out of, or into, the sandbox through its agent. The control plane
 * never opens a workspace path; the agent refuses archive entries that would
 * leave the workspace.
 */
export function archiveRoutes(options: ArchiveRouteOptions): Hono<HttpEnv> {
  const app = new Hono<HttpEnv>();

  app.get('/sandboxes/:id/archive', async (c) => {
    const sandbox = await readyTaskSandbox(options.manager, c.req.param('id'));
    const archive = await openExport(sandbox, c.req.query('path') ?? '.', { signal: c.req.raw.signal });
    const iterator = archive[Symbol.asyncIterator]();
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        try {
          const next = await iterator.next();
          if (next.done) controller.close();
          else controller.enqueue(next.value);
        } catch (error) {
          controller.error(error);
        }
      },
      async cancel() {
        await archive.close();
      },
    });
    return new Response(body, {
      status: 200,
      headers: {
        'content-type': 'application/x-tar',
        'content-disposition': `attachment; filename="${sandbox.id}.tar"`,
      },
    });
  });

  app.put('/sandboxes/:id/archive', async (c) => {
    const type = c.req.header('content-type') ?? '';
    if (!/^application\/(x-tar|octet-stream)\b/.test(type)) {
      throw new ToolError('UNSUPPORTED_MEDIA_TYPE', 'send the archive as application/x-tar');
    }
    const declared = Number(c.req.header('content-length') ?? '0');
    if (declared > options.maxUploadBytes) {
      throw new ToolError('OUTPUT_TOO_LARGE', `the archive is larger than ${options.maxUploadBytes} bytes`);
    }
    const sandbox = await readyTaskSandbox(options.manager, c.req.param('id'));
    const source = c.req.raw.body;
    if (source === null) throw new ToolError('INVALID_ARGUMENT', 'the request has no body');
    const imported = await importArchive(sandbox, source, c.req.query('path') ?? '.', {
      maxBytes: options.maxUploadBytes,
      signal: c.req.raw.signal,
    });
    return c.json(imported);
  });

  return app;
}
