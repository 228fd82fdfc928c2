import { z } from 'zod';
import { packageVersion } from '../policy/package-files.ts';
import { ArchiveImported, ArchiveImportOpen } from '../protocol/agent-api.ts';
import type { ErrorCode } from '../protocol/errors.ts';
import { AuditPage, AuditQueryParams, EventsQueryParams } from './audit-routes.ts';
import { CreatePreviewBody } from './preview-routes.ts';
import { CreateSnapshotBody, ForkBody, RestoreBody } from './snapshot-routes.ts';
import { CreateSandboxBody, UpdateSandboxBody } from './v1.ts';
import { ActionResult, LogsQuery, SetTtlBody, UsageList } from './v1-actions.ts';
import {
  CreatedSandbox,
  ErrorBody,
  ForkedSandboxes,
  GuardErrorBody,
  NewPreviewInfo,
  type PreviewInfo,
  PreviewList,
  RestoredSnapshot,
  SandboxList,
  SandboxView,
  SnapshotInfo,
  SnapshotList,
} from './v1-schemas.ts';

type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';

interface Reply {
  description: string;
  schema?: z.ZodType;
  /** application/json unless said otherwise. */
  contentType?: string;
  example?: unknown;
}

/** One /v1 route as the document describes it, from the schemas the route validates with. */
export interface RouteDoc {
  method: Method;
  /** Hono's form: /sandboxes/:id */
  path: string;
  summary: string;
  query?: z.ZodObject;
  body?: { schema: z.ZodType; example?: unknown; contentType?: string };
  replies: Record<number, Reply>;
  isPublic?: boolean;
}

/** The statuses every authenticated route may answer besides its own. */
const AUTH_ERRORS: Record<number, Reply> = {
  400: {
    description: 'invalid argument (a token in the query string, a bad parameter or body)',
    schema: ErrorBody,
  },
  401: { description: 'no token, or not a valid one', schema: ErrorBody },
  403: {
    description:
      'a sandbox token outside its sandbox (FORBIDDEN), or a Host or Origin not on the allow-list (JSON-RPC shape)',
    schema: z.union([ErrorBody, GuardErrorBody]),
    example: {
      jsonrpc: '2.0',
      error: { code: -32600, message: 'Forbidden: Origin https://evil.example is not allowed' },
      id: null,
    },
  },
};

const SANDBOX_EXAMPLE: z.infer<typeof SandboxView> = {
  id: 'sb-3f9a1c2b7d4e',
  state: 'ready',
  mcpUrl: 'http://127.0.0.1:8080/s/sb-3f9a1c2b7d4e/mcp',
  image: 'sandboxd-worker:latest',
  runtime: 'runc',
  seccomp: 'policy',
  policy: 'default',
  workspace: { volume: 'sandboxd-ws-sb-3f9a1c2b7d4e' },
  labels: { task: 'fix-bug-123' },
  egress: null,
  previews: [],
  createdAt: '2026-01-05T10:00:00.000Z',
  expiresAt: '2026-01-05T11:00:00.000Z',
  limits: {
    cpus: 2,
    memoryBytes: 2147483648,
    pids: 512,
    maxFileBytes: 10485760,
    maxOutputBytesPerStream: 1048576,
    maxTotalOutputBytes: 8388608,
    maxActiveCommands: 8,
    maxRetainedCommands: 64,
    commandRetentionMs: 600000,
    defaultCommandTimeoutMs: 600000,
    maxCommandTimeoutMs: 3600000,
    maxResults: 2000,
  },
  usage: { lastUsedAt: '2026-01-05T10:05:00.000Z', callsInFlight: 0, agentConnections: 1 },
};

const errorExample = (code: ErrorCode, message: string) => ({ error: { code, message, retryable: false } });
const errorReply = (description: string, code: ErrorCode, message: string): Reply => ({
  description,
  schema: ErrorBody,
  example: errorExample(code, message),
});
const notFound: Reply = errorReply('no such sandbox', 'SANDBOX_NOT_FOUND', 'no sandbox sb-000000000000');

const tooLarge: Reply = errorReply('body too large', 'OUTPUT_TOO_LARGE', 'request body too large');
const noSnapshots: Reply = errorReply(
  'the runtime driver cannot take snapshots',
  'SANDBOX_UNAVAILABLE',
  'the kubernetes runtime driver cannot take snapshots',
);
const snapshotQuota: Reply = errorReply(
  'a snapshot quota (count, per sandbox, bytes) is reached',
  'QUOTA_EXCEEDED',
  'the control plane already keeps 100 snapshots (limit 100); delete one',
);
const forkQuota: Reply = errorReply(
  'the new sandboxes would pass the sandbox limit',
  'QUOTA_EXCEEDED',
  '3 more sandboxes would pass the limit of 100 (99 run)',
);
const noSuchSnapshot: Reply = errorReply(
  'no such snapshot (or sandbox)',
  'NOT_FOUND',
  'no snapshot snap-000000000000',
);
const noPreviews: Reply = errorReply(
  'this control plane serves no previews (its preview listener is off)',
  'PREVIEW_UNAVAILABLE',
  'this control plane serves no previews (its preview listener is off)',
);

const SNAPSHOT_EXAMPLE: SnapshotInfo = {
  snapshotId: 'snap-0a1b2c3d4e5f',
  sandboxId: 'sb-3f9a1c2b7d4e',
  label: 'before refactor',
  bytes: 1048576,
  files: 214,
  createdAt: '2026-01-05T10:10:00.000Z',
  expiresAt: '2026-01-06T10:10:00.000Z',
  forks: [],
};

const PREVIEW_VIEW_EXAMPLE: z.infer<typeof PreviewInfo> = {
  id: 'pv-7c1e2a9b3f00',
  port: 3000,
  url: 'http://3000-sb-3f9a1c2b7d4e.localhost:8081/',
  public: false,
  grantedBy: 'operator',
  createdAt: '2026-01-05T10:20:00.000Z',
  expiresAt: '2026-01-05T11:20:00.000Z',
  openedAt: null,
};
const PREVIEW_EXAMPLE: NewPreviewInfo = {
  ...PREVIEW_VIEW_EXAMPLE,
  openUrl: 'http://3000-sb-3f9a1c2b7d4e.localhost:8081/?sandboxd_capability=CAPABILITY',
  listening: true,
};

const FORK_EXAMPLE: ForkedSandboxes = {
  snapshotId: SNAPSHOT_EXAMPLE.snapshotId,
  sandboxes: [
    {
      ...SANDBOX_EXAMPLE,
      id: 'sb-9d8e7f6a5b4c',
      mcpUrl: 'http://127.0.0.1:8080/s/sb-9d8e7f6a5b4c/mcp',
      token: 'k3J…',
    },
  ],
};

/** Where an archive goes or comes from: a folder of the workspace, `.` by default. */
const ArchiveQuery = ArchiveImportOpen.partial();
const TarStream = z.string().meta({ contentMediaType: 'application/x-tar' });

/** Every /v1 route. A test compares this list with the routes the app registers. */
export const V1_ROUTES: RouteDoc[] = [
  {
    method: 'get',
    path: '/openapi.json',
    summary: 'This document',
    isPublic: true,
    replies: { 200: { description: 'the OpenAPI 3.1 document' } },
  },
  {
    method: 'post',
    path: '/sandboxes',
    summary:
      'Create a sandbox (from the warm pool when one is ready, or over a snapshot with fromSnapshot); ' +
      'its token is shown only here',
    body: {
      schema: CreateSandboxBody,
      example: { policy: 'default', ttlSeconds: 3600, labels: { task: 'x' } },
    },
    replies: {
      201: { description: 'created', schema: CreatedSandbox, example: { ...SANDBOX_EXAMPLE, token: 'k3J…' } },
      404: { ...noSuchSnapshot, description: 'fromSnapshot names no snapshot, or snapshots are off' },
      409: { description: 'a sandbox with this id exists', schema: ErrorBody },
      413: tooLarge,
      429: errorReply(
        'a quota is reached',
        'QUOTA_EXCEEDED',
        'the control plane already runs 100 sandboxes (limit 100)',
      ),
      503: { description: 'the worker image is missing or the sandbox did not start', schema: ErrorBody },
    },
  },
  {
    method: 'get',
    path: '/sandboxes',
    summary: 'List the sandboxes tasks hold',
    replies: {
      200: { description: 'the sandboxes', schema: SandboxList, example: { sandboxes: [SANDBOX_EXAMPLE] } },
    },
  },
  {
    method: 'get',
    path: '/sandboxes/:id',
    summary: 'One sandbox',
    replies: {
      200: { description: 'the sandbox', schema: SandboxView, example: SANDBOX_EXAMPLE },
      404: notFound,
    },
  },
  {
    method: 'patch',
    path: '/sandboxes/:id',
    summary: "Change a running sandbox's egress allow-list",
    body: { schema: UpdateSandboxBody, example: { egress: { hosts: ['registry.npmjs.org'] } } },
    replies: {
      200: { description: 'the sandbox', schema: SandboxView, example: SANDBOX_EXAMPLE },
      404: notFound,
    },
  },
  {
    method: 'delete',
    path: '/sandboxes/:id',
    summary: 'Remove a sandbox and its own workspace volume',
    replies: { 204: { description: 'removed' }, 404: notFound },
  },
  {
    method: 'post',
    path: '/sandboxes/:id/stop',
    summary: 'Stop the container; the workspace stays and the next call (or start) starts it again',
    replies: {
      200: {
        description: 'stopped',
        schema: ActionResult,
        example: { id: 'sb-3f9a1c2b7d4e', state: 'stopped', expiresAt: null },
      },
      404: notFound,
    },
  },
  {
    method: 'post',
    path: '/sandboxes/:id/start',
    summary: 'Start a stopped sandbox',
    replies: {
      200: {
        description: 'ready',
        schema: ActionResult,
        example: { id: 'sb-3f9a1c2b7d4e', state: 'ready', expiresAt: null },
      },
      404: notFound,
      503: { description: 'the sandbox could not start', schema: ErrorBody },
    },
  },
  {
    method: 'put',
    path: '/sandboxes/:id/ttl',
    summary: 'Set the time the sandbox has left, from now',
    body: { schema: SetTtlBody, example: { ttlSeconds: 7200 } },
    replies: {
      200: {
        description: 'the new deadline',
        schema: ActionResult,
        example: { id: 'sb-3f9a1c2b7d4e', state: 'ready', expiresAt: '2026-01-05T12:00:00.000Z' },
      },
      404: notFound,
    },
  },
  {
    method: 'get',
    path: '/sandboxes/:id/archive',
    summary: 'Download a folder of the workspace (default: all of it) as a tar stream',
    query: ArchiveQuery,
    replies: {
      200: { description: 'a tar archive', contentType: 'application/x-tar', schema: TarStream },
      404: notFound,
    },
  },
  {
    method: 'put',
    path: '/sandboxes/:id/archive',
    summary: 'Unpack a tar archive into a folder of the workspace; links and paths that leave it are refused',
    query: ArchiveQuery,
    body: { schema: TarStream, contentType: 'application/x-tar' },
    replies: {
      200: {
        description: 'what was written',
        schema: ArchiveImported,
        example: { files: 12, bytes: 40960 },
      },
      404: notFound,
      413: { description: 'the archive is larger than the control plane accepts', schema: ErrorBody },
      415: { description: 'not sent as application/x-tar', schema: ErrorBody },
    },
  },
  {
    method: 'get',
    path: '/sandboxes/:id/events',
    summary:
      "A sandbox's events as Server-Sent Events: audit rows as they happen (event name = kind), and with " +
      "`command` that command's output (`output`, then `output-end`). Send Last-Event-ID to resume.",
    query: EventsQueryParams,
    replies: {
      200: { description: 'an event stream', contentType: 'text/event-stream', schema: z.string() },
      404: notFound,
    },
  },
  {
    method: 'get',
    path: '/sandboxes/:id/logs',
    summary: 'The last lines the worker container (its agent) wrote',
    query: LogsQuery,
    replies: {
      200: {
        description: 'log lines',
        contentType: 'text/plain',
        schema: z.string(),
        example: 'agent connected\n',
      },
      404: notFound,
    },
  },
  {
    method: 'get',
    path: '/usage',
    summary: 'CPU, memory and calls per minute of every sandbox (what `sandboxd top` shows)',
    replies: {
      200: {
        description: 'one row per sandbox',
        schema: UsageList,
        example: {
          sandboxes: [
            {
              id: 'sb-3f9a1c2b7d4e',
              state: 'ready',
              policy: 'default',
              createdAt: '2026-01-05T10:00:00.000Z',
              expiresAt: null,
              cpuPercent: 3.2,
              memoryBytes: 31457280,
              callsPerMinute: 42,
              callsInFlight: 1,
            },
          ],
        },
      },
    },
  },
  {
    method: 'post',
    path: '/sandboxes/:id/previews',
    summary:
      'Grant a browser one port of the sandbox; openUrl carries a one-time capability (unless public) and is shown only here',
    body: { schema: CreatePreviewBody, example: { port: 3000, ttlSeconds: 3600 } },
    replies: {
      201: { description: 'the grant', schema: NewPreviewInfo, example: PREVIEW_EXAMPLE },
      404: notFound,
      413: tooLarge,
      429: errorReply(
        'the sandbox has as many open previews as it may',
        'QUOTA_EXCEEDED',
        'this sandbox already has 64 open previews; revoke one first',
      ),
      501: noPreviews,
    },
  },
  {
    method: 'get',
    path: '/sandboxes/:id/previews',
    summary: "The sandbox's open previews (never a capability or session)",
    replies: {
      200: {
        description: 'the grants',
        schema: PreviewList,
        example: { previews: [PREVIEW_VIEW_EXAMPLE] },
      },
      404: notFound,
    },
  },
  {
    method: 'delete',
    path: '/sandboxes/:id/previews/:previewId',
    summary: 'Revoke a preview: its browser sessions stop working with their next request',
    replies: {
      204: { description: 'revoked' },
      404: errorReply(
        'no such sandbox, or it has no such preview',
        'NOT_FOUND',
        'sandbox sb-3f9a1c2b7d4e has no preview pv-000000000000',
      ),
      501: noPreviews,
    },
  },
  {
    method: 'post',
    path: '/sandboxes/:id/snapshots',
    summary: "Snapshot the sandbox's workspace volume (kept until its TTL, or deleted)",
    body: { schema: CreateSnapshotBody, example: { label: 'before refactor', ttlSeconds: 86400 } },
    replies: {
      201: { description: 'the snapshot', schema: SnapshotInfo, example: SNAPSHOT_EXAMPLE },
      404: notFound,
      413: tooLarge,
      429: snapshotQuota,
      503: noSnapshots,
    },
  },
  {
    method: 'get',
    path: '/sandboxes/:id/snapshots',
    summary: 'The snapshots taken of this sandbox',
    replies: {
      200: { description: 'its snapshots', schema: SnapshotList, example: { snapshots: [SNAPSHOT_EXAMPLE] } },
      404: notFound,
      503: noSnapshots,
    },
  },
  {
    method: 'get',
    path: '/snapshots',
    summary: 'Every snapshot the control plane keeps',
    replies: {
      200: { description: 'the snapshots', schema: SnapshotList, example: { snapshots: [SNAPSHOT_EXAMPLE] } },
      503: noSnapshots,
    },
  },
  {
    method: 'get',
    path: '/snapshots/:snapshotId',
    summary: 'One snapshot',
    replies: {
      200: { description: 'the snapshot', schema: SnapshotInfo, example: SNAPSHOT_EXAMPLE },
      404: noSuchSnapshot,
      503: noSnapshots,
    },
  },
  {
    method: 'delete',
    path: '/snapshots/:snapshotId',
    summary: "Delete a snapshot; refused while forks' files lie on it",
    replies: {
      204: { description: 'deleted' },
      404: noSuchSnapshot,
      409: errorReply(
        'forks use it, or it is being copied, restored or forked now',
        'SNAPSHOT_IN_USE',
        'snapshot snap-0a1b2c3d4e5f lies under 2 fork(s); delete them first',
      ),
      503: noSnapshots,
    },
  },
  {
    method: 'post',
    path: '/sandboxes/:id/restore',
    summary:
      "Put a snapshot's files back into the sandbox's workspace; its running commands are stopped first",
    body: { schema: RestoreBody, example: { snapshotId: SNAPSHOT_EXAMPLE.snapshotId } },
    replies: {
      200: {
        description: 'restored',
        schema: RestoredSnapshot,
        example: {
          snapshotId: SNAPSHOT_EXAMPLE.snapshotId,
          sandboxId: 'sb-3f9a1c2b7d4e',
          stoppedCommands: 1,
          files: 214,
          bytes: 1048576,
          ms: 840,
          state: 'ready',
        },
      },
      404: noSuchSnapshot,
      413: tooLarge,
      503: noSnapshots,
    },
  },
  {
    method: 'post',
    path: '/sandboxes/:id/fork',
    summary:
      "count new sandboxes from the sandbox's files now (copy-on-write over a snapshot of their own); " +
      'their tokens are shown only here',
    body: { schema: ForkBody, example: { count: 2, ttlSeconds: 3600 } },
    replies: {
      201: { description: 'the new sandboxes', schema: ForkedSandboxes, example: FORK_EXAMPLE },
      404: notFound,
      413: tooLarge,
      429: forkQuota,
      503: noSnapshots,
    },
  },
  {
    method: 'post',
    path: '/snapshots/:snapshotId/fork',
    summary:
      'count new sandboxes over a kept snapshot, with the default policy; their tokens are shown only here',
    body: { schema: ForkBody, example: { count: 2 } },
    replies: {
      201: { description: 'the new sandboxes', schema: ForkedSandboxes, example: FORK_EXAMPLE },
      404: noSuchSnapshot,
      413: tooLarge,
      429: forkQuota,
      503: noSnapshots,
    },
  },
  {
    method: 'get',
    path: '/audit',
    summary: 'Audit log rows, filtered, paged by cursor',
    query: AuditQueryParams,
    replies: {
      200: {
        description: 'a page of rows',
        schema: AuditPage,
        example: {
          entries: [
            {
              id: 41,
              at: '2026-01-05T10:05:00.000Z',
              kind: 'tool_call',
              sandbox: 'sb-3f9a1c2b7d4e',
              principal: 'sandbox',
              action: 'read_file',
              outcome: 'ok',
              errorCode: null,
              durationMs: 1.42,
              detail: { path: 'src/index.ts' },
            },
          ],
          nextCursor: '41',
        },
      },
    },
  },
];

/** A zod schema as an OpenAPI 3.1 Schema Object (JSON Schema 2020-12 without its $schema). */
export function jsonSchemaOf(schema: z.ZodType, io: 'input' | 'output'): Record<string, unknown> {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, {
    io,
    target: 'draft-2020-12',
    unrepresentable: 'any',
  }) as Record<string, unknown>;
  return rest;
}

const openApiPath = (path: string) => `/v1${path.replace(/:([A-Za-z]+)/g, '{$1}')}`;

function operationOf(route: RouteDoc): Record<string, unknown> {
  const parameters: Record<string, unknown>[] = [];
  for (const match of route.path.matchAll(/:([A-Za-z]+)/g)) {
    parameters.push({ name: match[1], in: 'path', required: true, schema: { type: 'string' } });
  }
  if (route.query !== undefined) {
    const shape = jsonSchemaOf(route.query, 'input') as {
      properties: Record<string, Record<string, unknown>>;
      required?: string[];
    };
    for (const [name, schema] of Object.entries(shape.properties)) {
      const { description, ...rest } = schema;
      parameters.push({
        name,
        in: 'query',
        required: shape.required?.includes(name) ?? false,
        schema: rest,
        ...(description === undefined ? {} : { description }),
      });
    }
  }
  const replies: Record<string, Reply> = { ...route.replies };
  if (route.isPublic !== true) {
    for (const [status, reply] of Object.entries(AUTH_ERRORS)) replies[status] ??= reply;
    replies[500] ??= { description: 'internal error', schema: ErrorBody };
  }
  const responses: Record<string, unknown> = {};
  for (const [status, reply] of Object.entries(replies)) {
    responses[status] = {
      description: reply.description,
      ...(reply.schema === undefined
        ? {}
        : {
            content: {
              [reply.contentType ?? 'application/json']: {
                schema: jsonSchemaOf(reply.schema, 'output'),
                ...(reply.example === undefined ? {} : { example: reply.example }),
              },
            },
          }),
    };
  }
  return {
    operationId: `${route.method}${route.path.replace(/[/:.]+(\w)/g, (_m, c: string) => c.toUpperCase())}`,
    summary: route.summary,
    ...(parameters.length === 0 ? {} : { parameters }),
    ...(route.body === undefined
      ? {}
      : {
          requestBody: {
            required: true,
            content: {
              [route.body.contentType ?? 'application/json']: {
                schema: jsonSchemaOf(route.body.schema, 'input'),
                ...(route.body.example === undefined ? {} : { example: route.body.example }),
              },
            },
          },
        }),
    responses,
    ...(route.isPublic === true ? { security: [] } : {}),
  };
}

let built: Record<string, unknown> | undefined;

/** The OpenAPI 3.1 document of /v1, built once from V1_ROUTES. */
export function openApiDocument(): Record<string, unknown> {
  if (built !== undefined) return built;
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of V1_ROUTES) {
    const entry = paths[openApiPath(route.path)] ?? {};
    entry[route.method] = operationOf(route);
    paths[openApiPath(route.path)] = entry;
  }
  built = {
    openapi: '3.1.0',
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    info: {
      title: 'sandboxd /v1',
      version: packageVersion(),
      description:
        'Provision hardened sandboxes for AI coding agents, read the audit log and follow events. ' +
        'Every route but this document takes the operator token: Authorization: Bearer TOKEN.',
    },
    servers: [{ url: '/' }],
    components: {
      securitySchemes: { operatorToken: { type: 'http', scheme: 'bearer' } },
    },
    security: [{ operatorToken: [] }],
    paths,
  };
  return built;
}
