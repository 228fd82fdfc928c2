import { z } from 'zod';
import { packageVersion } from '../policy/package-files.ts';
import { ArchiveImported, ArchiveImportOpen } from '../protocol/agent-api.ts';
import { AuditPage, AuditQueryParams, EventsQueryParams } from './audit-routes.ts';
import { CreateSandboxBody, UpdateSandboxBody } from './v1.ts';
import { ActionResult, LogsQuery, SetTtlBody, UsageList } from './v1-actions.ts';
import { CreatedSandbox, ErrorBody, GuardErrorBody, SandboxList, SandboxView } from './v1-schemas.ts';

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

const errorExample = (code: string, message: string) => ({ error: { code, message, retryable: false } });
const notFound: Reply = {
  description: 'no such sandbox',
  schema: ErrorBody,
  example: errorExample('SANDBOX_NOT_FOUND', 'no sandbox sb-000000000000'),
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
    summary: 'Create a sandbox (from the warm pool when one is ready); its token is shown only here',
    body: {
      schema: CreateSandboxBody,
      example: { policy: 'default', ttlSeconds: 3600, labels: { task: 'x' } },
    },
    replies: {
      201: { description: 'created', schema: CreatedSandbox, example: { ...SANDBOX_EXAMPLE, token: 'k3J…' } },
      409: { description: 'a sandbox with this id exists', schema: ErrorBody },
      413: { description: 'body too large', schema: ErrorBody },
      429: {
        description: 'a quota is reached',
        schema: ErrorBody,
        example: errorExample('QUOTA_EXCEEDED', 'the control plane already runs 100 sandboxes (limit 100)'),
      },
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
