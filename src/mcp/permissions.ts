import {
  acceptedContent,
  CLIENT_CAPABILITIES_META_KEY,
  type InputRequiredResult,
  inputRequired,
  PROTOCOL_VERSION_META_KEY,
  type ServerContext,
} from '@modelcontextprotocol/server';
import { z } from 'zod';
import { checkName } from '../egress/decide.ts';
import { canonicalHost } from '../policy/egress.ts';
import { ToolError } from '../protocol/errors.ts';
import type { ToolOutcome } from '../protocol/tool-spec.ts';
import type { WorkspaceTarget } from './target.ts';

/** The permissions sandboxd can ask the user for: a network host, added to one sandbox's egress. */
const NETWORK = new Set(['network', 'egress', 'network.egress']);
const DEFAULT_PORT = 443;

/** What the user answers: one yes/no, as a form any client can show. */
const Approval = z.object({
  allow: z
    .boolean()
    .describe('Allow this sandbox to reach the host (this sandbox only, until it is removed)'),
});
const APPROVAL_KEY = 'approve';

export const RequestPermissionsResult = z.object({
  granted: z.boolean(),
  permission: z.literal('network'),
  host: z.string(),
  port: z.number().int(),
  /** Where it applies: this sandbox's egress allow-list only. */
  scope: z.literal('sandbox'),
});
export type RequestPermissionsResult = z.infer<typeof RequestPermissionsResult>;

export interface PermissionRequest {
  tool_name?: string | undefined;
  permission?: string | undefined;
  reason?: string | undefined;
  arguments?: Record<string, unknown> | undefined;
}

function unsupported(message: string): ToolError {
  return new ToolError('ELICITATION_UNSUPPORTED', message);
}

/**
 * request_permissions: asks the human, through the MCP client's elicitation,
 * whether this sandbox may reach one more host, and adds it to this sandbox's
 * allow-list only when they say yes. Never grants silently: without a client
 * that can ask, or a policy that lets users be asked (network.egress.ask), it
 * answers ELICITATION_UNSUPPORTED and the policy stays as it is.
 */
export async function requestPermissions(
  target: WorkspaceTarget,
  input: PermissionRequest,
  context: ServerContext,
): Promise<ToolOutcome<RequestPermissionsResult> | InputRequiredResult> {
  const wanted = input.permission ?? input.tool_name ?? '';
  const rawHost = input.arguments?.host;
  if (!NETWORK.has(wanted) || typeof rawHost !== 'string') {
    throw unsupported(
      'sandboxd can ask the user for one kind of permission: a network host for this sandbox ' +
        '(permission "network", arguments {"host": "registry.example.com", "port": 443}); it grants nothing silently',
    );
  }
  const host = canonicalHost(rawHost);
  if (host === undefined || host.kind !== 'name') {
    throw new ToolError(
      'INVALID_ARGUMENT',
      `request_permissions: arguments.host: expected a host name, got "${rawHost.slice(0, 260)}"`,
    );
  }
  const rawPort = input.arguments?.port ?? DEFAULT_PORT;
  if (typeof rawPort !== 'number' || !Number.isInteger(rawPort) || rawPort < 1 || rawPort > 65_535) {
    throw new ToolError('INVALID_ARGUMENT', 'request_permissions: arguments.port: expected a port number');
  }
  const sandbox = await target.sandbox();
  const allowList = sandbox.egress.allowList;
  if (allowList === null || !allowList.ask || target.extendEgress === undefined) {
    throw unsupported(
      `the policy of sandbox ${sandbox.id} does not let the user add hosts (network.egress.ask); ` +
        `an operator can allow ${host.name} in the policy or with PATCH /v1/sandboxes/${sandbox.id}`,
    );
  }
  if (!allowList.ports.includes(rawPort)) {
    throw new ToolError(
      'INVALID_ARGUMENT',
      `request_permissions: port ${rawPort} is not among the ports this sandbox may reach (${allowList.ports.join(', ')})`,
    );
  }
  const result = (granted: boolean): ToolOutcome<RequestPermissionsResult> => ({
    summary: granted
      ? `${host.name}:${rawPort} is allowed for this sandbox; retry the command`
      : `the user did not allow ${host.name}:${rawPort}; do not retry without asking them`,
    result: { granted, permission: 'network', host: host.name, port: rawPort, scope: 'sandbox' },
  });
  if (checkName(allowList, host.name, rawPort).isAllowed) return result(true);

  const reason = input.reason === undefined ? '' : ` The agent says why: "${input.reason.slice(0, 500)}"`;
  const message = `Allow sandbox ${sandbox.id} to reach ${host.name} on port ${rawPort}?${reason}`;
  const answer = await ask(context, message);
  if (answer === 'input-required') {
    return inputRequired({
      inputRequests: { [APPROVAL_KEY]: inputRequired.elicit({ message, requestedSchema: Approval }) },
    });
  }
  if (answer) await target.extendEgress(sandbox, host.name);
  return result(answer);
}

/**
 * The user's yes or no. On a 2026-07-28 request the question goes back as an
 * input-required result and the answer arrives with the retried call; on an
 * older one, as an elicitation request on the same exchange.
 */
async function ask(context: ServerContext, message: string): Promise<boolean | 'input-required'> {
  const envelope = context.mcpReq.envelope as Record<string, unknown> | undefined;
  if (envelope !== undefined && PROTOCOL_VERSION_META_KEY in envelope) {
    const capabilities = envelope[CLIENT_CAPABILITIES_META_KEY] as { elicitation?: unknown } | undefined;
    if (capabilities?.elicitation === undefined)
      throw unsupported('this MCP client did not declare elicitation');
    const responses = context.mcpReq.inputResponses;
    if (responses === undefined || !(APPROVAL_KEY in responses)) return 'input-required';
    return acceptedContent(responses, APPROVAL_KEY, Approval)?.allow === true;
  }
  try {
    const reply = await context.mcpReq.elicitInput({
      message,
      requestedSchema: z.toJSONSchema(Approval) as never,
    });
    return reply.action === 'accept' && Approval.safeParse(reply.content).data?.allow === true;
  } catch (error) {
    throw unsupported(`this MCP client cannot be asked (${(error as Error).message.slice(0, 200)})`);
  }
}
