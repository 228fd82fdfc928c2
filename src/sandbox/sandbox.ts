import type { z } from 'zod';
import type { EgressGate } from '../egress/gate.ts';
import type { LoadedPolicy } from '../policy/load.ts';
import type { ToolReply } from '../protocol/agent-api.ts';
import { invalidArgument, ToolError } from '../protocol/errors.ts';
import type { AgentToolSpec, ToolOutcome } from '../protocol/tool-spec.ts';
import type { SeccompInForce, WorkspaceSource } from '../runtime/driver.ts';
import type { AgentLink } from './agent-link.ts';
import { ENTER_STATE, type SandboxState } from './lifecycle.ts';
import type { PreviewDoor } from './preview-door.ts';

/** 'process': removed when the process that made it stops; 'persistent': outlives it. */
export type Lifetime = 'process' | 'persistent';

export type { SandboxState } from './lifecycle.ts';

export interface SandboxInit {
  id: string;
  loaded: LoadedPolicy;
  workspace: WorkspaceSource;
  link: AgentLink;
  egress: EgressGate;
  preview: PreviewDoor;
  ownsVolume: boolean;
  createdAt?: Date;
  expiresAt?: Date | undefined;
  owner?: string | undefined;
  labels?: Record<string, string>;
  tokenSha256?: string | undefined;
  lifetime: Lifetime;
}

/** One sandbox: a worker container, its workspace, and the link to its agent. */
export class Sandbox {
  readonly id: string;
  readonly loaded: LoadedPolicy;
  readonly workspace: WorkspaceSource;
  readonly link: AgentLink;
  /** Its door out: the allow-list in force and the egress.sock that serves it. */
  readonly egress: EgressGate;
  /** Its door in: preview tunnels to servers on its loopback. */
  readonly preview: PreviewDoor;
  readonly createdAt: Date;
  /** When the sandbox and its volume are removed whatever happens; undefined: never.
   *  These four are set at creation, or when a task takes the sandbox from the warm pool. */
  expiresAt: Date | undefined;
  /** Which credential created it (a token id), for per-token quotas and access. */
  owner: string | undefined;
  /** SHA-256 (hex) of the bearer token that reaches only this sandbox, if it has one. */
  tokenSha256: string | undefined;
  /** The caller's labels (io.sandboxd.* excluded). */
  labels: Record<string, string>;
  /** Whether destroying the sandbox also removes its workspace volume. */
  readonly ownsVolume: boolean;
  readonly lifetime: Lifetime;
  /** For a host folder: the device:inode mounted, to notice the folder deleted and re-created. */
  workspaceIdentity: string | undefined;
  /** For a host folder: its owner (uid:gid) when the sandbox was made; a re-created folder must keep it. */
  workspaceOwner: string | undefined;
  containerId: string | undefined;
  /** Asks the driver which seccomp profile the container runs under (set by the manager). */
  readSeccomp: () => SeccompInForce = () => 'policy';
  #state: SandboxState = 'creating';
  lastUsedAt = Date.now();
  /** A warm-pool member no task holds yet: not listed, not reaped for idleness. */
  isPooled = false;
  /** Set while a restore replaces the workspace: acquire() waits for it before starting the container. */
  maintenance: Promise<void> | undefined;
  /** Tool calls in flight; a sandbox with any is never idle. */
  activeCalls = 0;

  constructor(init: SandboxInit) {
    this.id = init.id;
    this.loaded = init.loaded;
    this.workspace = init.workspace;
    this.link = init.link;
    this.egress = init.egress;
    this.preview = init.preview;
    this.ownsVolume = init.ownsVolume;
    this.createdAt = init.createdAt ?? new Date();
    this.expiresAt = init.expiresAt;
    this.owner = init.owner;
    this.labels = init.labels ?? {};
    this.tokenSha256 = init.tokenSha256;
    this.lifetime = init.lifetime;
  }

  /** Where it is in its lifecycle (lifecycle.ts); only SandboxManager.transition changes it. */
  get state(): SandboxState {
    return this.#state;
  }

  [ENTER_STATE](state: SandboxState): void {
    this.#state = state;
  }

  get isLive(): boolean {
    return this.state !== 'removed' && this.state !== 'failed';
  }

  /** The policy's profile, or the runtime's default where a node lacked ours (Kubernetes). */
  get seccomp(): SeccompInForce {
    return this.readSeccomp();
  }

  /** Runs one agent tool, its input checked and its reply's result validated by the tool's descriptor. */
  call<S extends AgentToolSpec>(
    spec: S,
    input: z.input<S['input']>,
  ): Promise<ToolOutcome<z.output<S['output']>>> {
    return callAgentTool(this, spec, input);
  }

  /** Runs one contract tool inside the container, by name; its reply is checked for shape only. */
  async callTool(name: string, input: unknown, timeoutMs?: number): Promise<ToolReply> {
    this.activeCalls++;
    this.lastUsedAt = Date.now();
    try {
      return await this.link.call('tool', { name, input }, timeoutMs === undefined ? {} : { timeoutMs });
    } finally {
      this.activeCalls--;
      this.lastUsedAt = Date.now();
    }
  }
}

/**
 * One agent tool call as its descriptor says: the input checked (and the reply
 * timeout taken from it), the reply's result validated against the output
 * schema, since an agent reply is untrusted input. Anything with `callTool` will
 * do, so a caller can be tested against a fake agent.
 */
export async function callAgentTool<S extends AgentToolSpec>(
  sandbox: Pick<Sandbox, 'callTool'>,
  spec: S,
  input: z.input<S['input']>,
): Promise<ToolOutcome<z.output<S['output']>>> {
  const parsed = spec.input.safeParse(input);
  if (!parsed.success) throw invalidArgument(spec.name, parsed.error.issues);
  const reply = await sandbox.callTool(spec.name, input, spec.replyTimeoutMs(parsed.data));
  const result = spec.output.safeParse(reply.result);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new ToolError(
      'AGENT_PROTOCOL_ERROR',
      `the sandbox answered ${spec.name} with a result that breaks its schema` +
        (issue === undefined ? '' : ` (${issue.path.join('.')}: ${issue.message})`),
    );
  }
  // zod cannot name the output type of a schema known only as S['output']; safeParse checked it.
  return { summary: reply.summary, result: result.data as z.output<S['output']> };
}
