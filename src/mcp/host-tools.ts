import { z } from 'zod';
import { agentLimits } from '../policy/container-spec.ts';
import { packageVersion } from '../policy/package-files.ts';
import { ToolError } from '../protocol/errors.ts';
import { defineTool, type ToolOutcome } from '../protocol/tool-spec.ts';
import type { WorkspaceTarget } from './target.ts';

export const CONTRACT = { name: 'coding-tools-mcp', version: '0.3' } as const;
export const PROTOCOL_VERSIONS = ['2026-07-28', '2025-11-25', '2025-06-18'] as const;

export const ServerInfoTool = defineTool({
  name: 'server_info',
  title: 'About this server',
  description:
    'Versions, the workspace, the sandbox (container, image, runtime), the policy and the limits in force. ' +
    'Every tool runs inside that sandbox container.',
  isReadOnly: true,
  input: z.object({}).strict(),
  output: z.record(z.string(), z.unknown()),
});

export const RequestPermissionsTool = defineTool({
  name: 'request_permissions',
  title: 'Ask for a permission',
  description:
    'Asks the user for a permission. sandboxd never grants anything silently and has no elicitation flow yet, ' +
    'so this always answers ELICITATION_UNSUPPORTED; the sandbox policy decides what is possible.',
  isReadOnly: true,
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
  output: z.record(z.string(), z.unknown()),
});

/** server_info, answered by the control plane with the agent's facts folded in. */
export async function serverInfo(target: WorkspaceTarget): Promise<ToolOutcome<Record<string, unknown>>> {
  const sandbox = await target.sandbox();
  const { policy } = sandbox.loaded;
  const workspace = target.facts();
  const hello = sandbox.link.hello;
  // 'egress': only the allow-listed hosts, through the proxy in HTTPS_PROXY; 'none': loopback only.
  const network = sandbox.egress.allowList === null ? 'none' : 'egress';
  const result = {
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

export function requestPermissions(): never {
  throw new ToolError(
    'ELICITATION_UNSUPPORTED',
    'sandboxd cannot ask the user for permissions and never grants them silently; the sandbox policy is fixed for this workspace',
  );
}
