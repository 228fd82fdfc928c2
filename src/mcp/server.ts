import { type CallToolResult, McpServer, type StandardSchemaWithJSON } from '@modelcontextprotocol/server';
import type { Logger } from 'pino';
import { z } from 'zod';
import { packageVersion } from '../policy/package-files.ts';
import { invalidArgument, ToolError } from '../protocol/errors.ts';
import type { ToolSpec } from '../protocol/tool-spec.ts';
import { agentToolSpecs } from '../protocol/tools/index.ts';
import { callAgentTool } from '../sandbox/sandbox.ts';
import {
  CheckpointCreateTool,
  CheckpointListTool,
  CheckpointRestoreTool,
  checkpointCreate,
  checkpointList,
  checkpointRestore,
} from './checkpoint-tools.ts';
import { conformingResult, errorEnvelope, outputJsonSchema, successEnvelope } from './envelope.ts';
import {
  PreviewUrlTool,
  previewUrl,
  RequestPermissionsTool,
  requestPermissions,
  ServerInfoTool,
  serverInfo,
} from './host-tools.ts';
import { PROTOCOL_VERSIONS } from './protocol-versions.ts';
import type { WorkspaceTarget } from './target.ts';

/** Largest number of array elements and object members one tools/call may carry. */
const MAX_TOOL_INPUT_ELEMENTS = 20_000;

/**
 * Tool calls one sandbox may have in flight at once, across all its clients.
 * Every waiting call holds a request, a socket and an MCP server instance in the
 * control plane (about 100 KB): without a bound, one token holder parking
 * thousands of long polls (write_stdin with yield_time_ms) grew the shared
 * control plane by hundreds of MB and slowed every other sandbox. Legitimate
 * clients stay far below: a sandbox runs at most commands.maxActive commands.
 */
export const MAX_CALLS_IN_FLIGHT = 64;

/**
 * A schema the SDK only advertises: it lets every value through. The SDK
 * validates arguments itself and answers a failure with plain text, where the
 * contract wants a typed INVALID_ARGUMENT envelope, so the handler validates
 * with the tool's zod schema; results are checked by `conformingResult`.
 */
function advertised(jsonSchema: Record<string, unknown>): StandardSchemaWithJSON {
  return {
    '~standard': {
      version: 1,
      vendor: 'sandboxd',
      validate: (value: unknown) => ({ value }),
      jsonSchema: { input: () => jsonSchema, output: () => jsonSchema },
    },
  } as StandardSchemaWithJSON;
}

function advertiseOnly(spec: ToolSpec): StandardSchemaWithJSON {
  return advertised(
    z.toJSONSchema(spec.input, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>,
  );
}

interface RegisteredSpec {
  spec: ToolSpec;
  schema: StandardSchemaWithJSON;
  run: (target: WorkspaceTarget, input: Record<string, unknown>) => Promise<CallToolResult>;
}

export const catalog: RegisteredSpec[] = [
  ...agentToolSpecs.map((spec) => ({
    spec,
    schema: advertiseOnly(spec),
    run: async (target: WorkspaceTarget, input: Record<string, unknown>) => {
      const sandbox = await target.sandbox();
      // Checked and counted in the same tick: callTool increments activeCalls before it awaits.
      if (sandbox.activeCalls >= MAX_CALLS_IN_FLIGHT) {
        throw new ToolError(
          'QUOTA_EXCEEDED',
          `${MAX_CALLS_IN_FLIGHT} tool calls are already in flight for this sandbox; wait for one to finish`,
          { details: { limit: 'callsInFlight', value: MAX_CALLS_IN_FLIGHT } },
        );
      }
      const result = successEnvelope(await callAgentTool(sandbox, spec, input));
      const notice = target.takeNotice?.();
      return notice === undefined
        ? result
        : { ...result, content: [{ type: 'text' as const, text: notice }, ...result.content] };
    },
  })),
  {
    spec: ServerInfoTool,
    schema: advertiseOnly(ServerInfoTool),
    run: async (target: WorkspaceTarget) => successEnvelope(await serverInfo(target)),
  },
  {
    spec: PreviewUrlTool,
    schema: advertiseOnly(PreviewUrlTool),
    run: async (target: WorkspaceTarget, input: Record<string, unknown>) =>
      successEnvelope(await previewUrl(target, input as { port: number; ttl_seconds?: number })),
  },
  {
    spec: RequestPermissionsTool,
    schema: advertiseOnly(RequestPermissionsTool),
    run: async () => requestPermissions(),
  },
  {
    spec: CheckpointCreateTool,
    schema: advertiseOnly(CheckpointCreateTool),
    run: async (target: WorkspaceTarget, input: Record<string, unknown>) =>
      successEnvelope(await checkpointCreate(target, input)),
  },
  {
    spec: CheckpointListTool,
    schema: advertiseOnly(CheckpointListTool),
    run: async (target: WorkspaceTarget) => successEnvelope(await checkpointList(target)),
  },
  {
    spec: CheckpointRestoreTool,
    schema: advertiseOnly(CheckpointRestoreTool),
    run: async (target: WorkspaceTarget, input: Record<string, unknown>) =>
      successEnvelope(await checkpointRestore(target, input as { checkpoint_id: string })),
  },
];

export const toolNames = catalog.map((entry) => entry.spec.name);

/** Each tool's outputSchema, built once: the catalog is fixed. */
const outputSchemas = new Map(catalog.map(({ spec }) => [spec.name, advertised(outputJsonSchema(spec))]));

export interface McpServerOptions {
  instructions?: string;
  /** Where each tool call leaves its trace line. */
  log?: Logger;
}

/** One MCP server over one workspace: the contract's tools, each run in the workspace's sandbox. */
export function createMcpServer(target: WorkspaceTarget, options: McpServerOptions = {}): McpServer {
  const server = new McpServer(
    { name: 'sandboxd', version: packageVersion() },
    {
      capabilities: { tools: { listChanged: false } },
      // An initialize naming any other version is answered with the newest legacy one of these.
      supportedProtocolVersions: [...PROTOCOL_VERSIONS],
      maxToolInputElements: MAX_TOOL_INPUT_ELEMENTS,
      ...(options.instructions === undefined ? {} : { instructions: options.instructions }),
    },
  );
  for (const { spec, schema, run } of catalog) {
    server.registerTool(
      spec.name,
      {
        title: spec.title,
        description: spec.description,
        inputSchema: schema,
        outputSchema: outputSchemas.get(spec.name) as StandardSchemaWithJSON,
        annotations: {
          title: spec.title,
          readOnlyHint: spec.isReadOnly,
          destructiveHint: !spec.isReadOnly,
          openWorldHint: false,
        },
      },
      async (args: unknown, context) => {
        const started = performance.now();
        let result: CallToolResult;
        let code: string | undefined;
        try {
          const parsed = spec.input.safeParse(args ?? {});
          if (!parsed.success) throw invalidArgument(spec.name, parsed.error.issues);
          result = conformingResult(spec, await run(target, parsed.data as Record<string, unknown>));
        } catch (error) {
          const toolError = ToolError.from(error);
          code = toolError.code;
          result = errorEnvelope(toolError);
        }
        const durationMs = performance.now() - started;
        const outcome = code === undefined ? 'ok' : 'error';
        target.onToolCall?.(spec.name, outcome, code, durationMs, { input: args, result });
        options.log?.info(
          traceOf(target, spec.name, outcome, code, durationMs, context.mcpReq.id),
          'tool call',
        );
        return result;
      },
    );
  }
  return server;
}

/**
 * One tool call as the operator's log shows it: which tool, where, how long and
 * how it ended. Never an argument value, file content or token: those are the
 * workspace's business, and a log line outlives the sandbox.
 */
function traceOf(
  target: WorkspaceTarget,
  tool: string,
  outcome: 'ok' | 'error',
  code: string | undefined,
  durationMs: number,
  requestId: string | number,
): Record<string, unknown> {
  return {
    tool,
    outcome,
    ...(code === undefined ? {} : { error_code: code }),
    duration_ms: Math.round(durationMs * 100) / 100,
    workspace: target.facts().name,
    sandbox: target.currentSandbox()?.id ?? null,
    request_id: requestId,
  };
}
