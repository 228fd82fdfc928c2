import type { EgressGate } from '../egress/gate.ts';
import type { LoadedPolicy } from '../policy/load.ts';
import type { ToolReply } from '../protocol/agent-api.ts';
import type { SeccompInForce, WorkspaceSource } from '../runtime/driver.ts';
import type { AgentLink } from './agent-link.ts';

/** 'process': removed when the process that made it stops; 'persistent': outlives it. */
export type Lifetime = 'process' | 'persistent';

export type SandboxState = 'creating' | 'ready' | 'idle' | 'stopped' | 'removed' | 'failed';

export interface SandboxInit {
  id: string;
  loaded: LoadedPolicy;
  workspace: WorkspaceSource;
  link: AgentLink;
  egress: EgressGate;
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
  state: SandboxState = 'creating';
  lastUsedAt = Date.now();
  /** A warm-pool member no task holds yet: not listed, not reaped for idleness. */
  isPooled = false;
  /** Tool calls in flight; a sandbox with any is never idle. */
  activeCalls = 0;

  constructor(init: SandboxInit) {
    this.id = init.id;
    this.loaded = init.loaded;
    this.workspace = init.workspace;
    this.link = init.link;
    this.egress = init.egress;
    this.ownsVolume = init.ownsVolume;
    this.createdAt = init.createdAt ?? new Date();
    this.expiresAt = init.expiresAt;
    this.owner = init.owner;
    this.labels = init.labels ?? {};
    this.tokenSha256 = init.tokenSha256;
    this.lifetime = init.lifetime;
  }

  get isLive(): boolean {
    return this.state !== 'removed' && this.state !== 'failed';
  }

  /** Runs one contract tool inside the container. */
  /** The policy's profile, or the runtime's default where a node lacked ours (Kubernetes). */
  get seccomp(): SeccompInForce {
    return this.readSeccomp();
  }

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
