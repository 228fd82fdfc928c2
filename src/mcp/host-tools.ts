import { z } from 'zod';
import { agentLimits } from '../policy/derived.ts';
import { packageVersion } from '../policy/package-files.ts';
import { ToolError } from '../protocol/errors.ts';
import { AgentLimits } from '../protocol/limits.ts';
import { defineTool, type ToolOutcome } from '../protocol/tool-spec.ts';
import { RequestPermissionsResult } from './permissions.ts';
import { PROTOCOL_VERSIONS } from './protocol-versions.ts';
import type { WorkspaceTarget } from './target.ts';

export const CONTRACT = { name: 'coding-tools-mcp', version: '0.3' } as const;

const Milliseconds = z.number().int().nonnegative();
const ByteCount = z.number().int().nonnegative();

export const ServerInfoResult = z.object({
  server: z.object({ name: z.string(), version: z.string() }),
  contract: z.object({ name: z.string(), version: z.string() }),
  protocol_versions: z.array(z.string()),
  workspace: z.object({
    name: z.string(),
    kind: z.enum(['volume', 'bind']),
    source: z.string(),
    policy: z.string(),
    root: z.literal('/workspace'),
  }),
  sandbox: z.object({
    id: z.string(),
    state: z.enum(['creating', 'ready', 'idle', 'stopped', 'removed', 'failed']),
    container_id: z.string().nullable(),
    image: z.string(),
    runtime: z.enum(['runc', 'runsc']),
    network: z.enum(['none', 'egress']),
    /** The allow-listed host patterns when network is 'egress'. */
    egress_hosts: z.array(z.string()),
    created_at: z.string(),
    agent: z.object({ version: z.string(), pid: z.number().int(), uid: z.number().int() }).nullable(),
  }),
  policy: z.object({
    name: z.string(),
    description: z.string(),
    resources: z.object({
      cpus: z.number().positive(),
      memory: ByteCount,
      pids: z.number().int(),
      nofile: z.number().int(),
    }),
    tmpfs: z.object({ tmp: ByteCount, home: ByteCount }),
    timeouts: z.object({
      agentConnect: Milliseconds,
      commandDefault: Milliseconds,
      commandMax: Milliseconds,
      idle: Milliseconds,
    }),
  }),
  limits: AgentLimits,
});
export type ServerInfoResult = z.infer<typeof ServerInfoResult>;

export const ServerInfoTool = defineTool({
  name: 'server_info',
  title: 'About this server',
  description:
    'Versions, the workspace, the sandbox (container, image, runtime), the policy and the limits in force. ' +
    'Every tool runs inside that sandbox container.',
  isReadOnly: true,
  input: z.object({}).strict(),
  output: ServerInfoResult,
});

export const RequestPermissionsTool = defineTool({
  name: 'request_permissions',
  title: 'Ask for a permission',
  description:
    'Asks the user for a permission through the MCP client. sandboxd can ask for one kind: a network host ' +
    'for this sandbox (permission "network", arguments {"host", "port"}), when the sandbox policy allows asking ' +
    '(network.egress.ask) and the client supports elicitation; it answers ELICITATION_UNSUPPORTED otherwise. ' +
    'Nothing is ever granted silently.',
  isReadOnly: false,
  input: z
    .object({
      tool_name: z.string().max(256).optional(),
      permission: z.string().max(256).optional(),
      reason: z.string().max(4096).optional(),
      arguments: z.record(z.string(), z.unknown()).optional(),
      scope: z.string().max(256).optional(),
      ttl_seconds: z.number().int().min(0).max(86_400).optional(),
    })
    .strict(),
  output: RequestPermissionsResult,
});

export const PreviewUrlResult = z.object({
  /** Opens the preview once, in one browser (the link then becomes a cookie for that preview alone). */
  url: z.string(),
  preview_id: z.string(),
  port: z.number().int(),
  expires_at: z.string(),
  /** Whether a server accepted a connection on the port when the link was made. */
  listening: z.boolean(),
});
export type PreviewUrlResult = z.infer<typeof PreviewUrlResult>;

export const PreviewUrlTool = defineTool({
  name: 'preview_url',
  title: 'Preview a server in the browser',
  description:
    'Gives a URL at which a person can open, in a browser, a server running in this sandbox on the given port ' +
    '(a dev server, `python3 -m http.server PORT`). The URL opens once, in one browser, and expires (default 1 hour). ' +
    'Start the server first, listening on 127.0.0.1 or localhost; the sandbox keeps no network.',
  isReadOnly: false,
  input: z
    .object({
      port: z.number().int().min(1).max(65_535),
      ttl_seconds: z
        .number()
        .int()
        .min(10)
        .max(7 * 24 * 3600)
        .optional(),
    })
    .strict(),
  output: PreviewUrlResult,
});

/** preview_url: a one-time URL for a port of the sandbox, from the front door's preview listener. */
export async function previewUrl(
  target: WorkspaceTarget,
  input: { port: number; ttl_seconds?: number | undefined },
): Promise<ToolOutcome<PreviewUrlResult>> {
  if (target.grantPreview === undefined) {
    throw new ToolError(
      'PREVIEW_UNAVAILABLE',
      'this session has no preview listener (previews were turned off with --preview-port off)',
    );
  }
  const sandbox = await target.sandbox();
  const made = await target.grantPreview(sandbox, input.port, input.ttl_seconds);
  const result: PreviewUrlResult = {
    url: made.openUrl,
    preview_id: made.id,
    port: made.port,
    expires_at: made.expiresAt,
    listening: made.listening,
  };
  const state = made.listening
    ? 'a server is listening there'
    : `nothing listens on port ${input.port} yet: start the server, then open the URL`;
  return {
    summary: `preview of port ${input.port} (${state}); opens once, expires ${made.expiresAt}: ${made.openUrl}`,
    result,
  };
}

/** server_info, answered by the control plane with the agent's facts folded in. */
export async function serverInfo(target: WorkspaceTarget): Promise<ToolOutcome<ServerInfoResult>> {
  const sandbox = await target.sandbox();
  const { policy } = sandbox.loaded;
  const workspace = target.facts();
  const hello = sandbox.link.hello;
  // 'egress': only the allow-listed hosts, through the proxy in HTTPS_PROXY; 'none': loopback only.
  const network = sandbox.egress.allowList === null ? 'none' : 'egress';
  const result: ServerInfoResult = {
    server: { name: 'sandboxd', version: packageVersion() },
    contract: CONTRACT,
    protocol_versions: [...PROTOCOL_VERSIONS],
    workspace: { ...workspace, root: '/workspace' },
    sandbox: {
      id: sandbox.id,
      state: sandbox.state,
      container_id: sandbox.containerId ?? null,
      image: policy.image,
      runtime: policy.runtime,
      network,
      egress_hosts: sandbox.egress.allowList?.hosts ?? [],
      created_at: sandbox.createdAt.toISOString(),
      agent: hello === undefined ? null : { version: hello.agentVersion, pid: hello.pid, uid: hello.uid },
    },
    policy: {
      name: policy.name,
      description: policy.description,
      resources: policy.resources,
      tmpfs: policy.tmpfs,
      timeouts: policy.timeouts,
    },
    limits: agentLimits(policy),
  };
  const summary =
    `sandboxd ${result.server.version} (contract ${CONTRACT.name} ${CONTRACT.version}); workspace ${workspace.name} ` +
    `at /workspace in sandbox ${sandbox.id} (${policy.image}, ${policy.runtime}, network ${network}); ` +
    `policy ${policy.name}: ${policy.resources.cpus} CPU, ${Math.round(policy.resources.memory / 1024 ** 2)} MiB, ` +
    `${policy.resources.pids} pids`;
  return { summary, result };
}
