import type { CallToolResult } from '@modelcontextprotocol/server';
import type { SandboxHandle } from '../sandbox/handle.ts';
import type { Sandbox } from '../sandbox/sandbox.ts';
import type { Snapshots } from '../sandbox/snapshots.ts';

/** What server_info reports about the workspace beyond what the agent knows. */
export interface WorkspaceFacts {
  name: string;
  kind: 'volume' | 'bind';
  source: string;
  policy: string;
}

export type ToolOutcome = 'ok' | 'error';

/**
 * The workspace an MCP session works on. The front door decides what it is: the
 * stdio folder, the HTTP default workspace, a named workspace, or a sandbox
 * provisioned through /v1. Its sandbox starts (or restarts) on demand.
 */
export interface WorkspaceTarget {
  sandbox(): Promise<Sandbox>;
  /** The sandbox if it is running now, without starting it. */
  currentSandbox(): Sandbox | undefined;
  facts(): WorkspaceFacts;
  /** Where the checkpoint tools keep this workspace's checkpoints; absent: they are refused. */
  snapshots?: Snapshots | undefined;
  /** Something the next tool result should tell the model once (its sandbox was replaced). */
  takeNotice?(): string | undefined;
  /** Every call, as it ends: `call` holds the arguments as sent and the result (for the audit log). */
  onToolCall?(
    tool: string,
    outcome: ToolOutcome,
    code: string | undefined,
    durationMs: number,
    call: { input: unknown; result: CallToolResult },
  ): void;
  /** Adds a host to the sandbox's egress allow-list once the user approved it (request_permissions). */
  extendEgress?(sandbox: Sandbox, host: string): Promise<void>;
  /** Grants a browser a port of the sandbox (preview_url); absent where no preview listener runs. */
  grantPreview?(sandbox: Sandbox, port: number, ttlSeconds: number | undefined): Promise<PreviewGrantResult>;
}

/** What preview_url answers. */
export interface PreviewGrantResult {
  id: string;
  port: number;
  openUrl: string;
  expiresAt: string;
  listening: boolean;
}

/** A sandbox handle as the MCP server's target, with what the front door adds (audit, previews, checkpoints). */
export function handleTarget(
  handle: SandboxHandle,
  more: Pick<WorkspaceTarget, 'snapshots' | 'onToolCall' | 'grantPreview'> = {},
): WorkspaceTarget {
  return {
    sandbox: () => handle.sandbox(),
    currentSandbox: () => handle.currentSandbox(),
    facts: () => handle.facts(),
    takeNotice: () => handle.takeNotice(),
    extendEgress: (sandbox, host) => handle.extendEgress(sandbox, host),
    ...more,
  };
}
