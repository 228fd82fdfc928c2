import type { LoadedPolicy } from '../policy/load.ts';
import type { ToolReply } from '../protocol/agent-api.ts';
import type { WorkspaceSource } from '../runtime/driver.ts';
import type { AgentLink } from './agent-link.ts';

export type SandboxState = 'creating' | 'ready' | 'idle' | 'stopped' | 'removed' | 'failed';

/** One sandbox: a worker container, its workspace, and the link to its agent. */
export class Sandbox {
  readonly id: string;
  readonly loaded: LoadedPolicy;
  readonly workspace: WorkspaceSource;
  readonly link: AgentLink;
  readonly createdAt = new Date();
  /** Whether destroying the sandbox also removes its workspace volume. */
  readonly ownsVolume: boolean;
  containerId: string | undefined;
  state: SandboxState = 'creating';
  lastUsedAt = Date.now();

  constructor(init: {
    id: string;
    loaded: LoadedPolicy;
    workspace: WorkspaceSource;
    link: AgentLink;
    ownsVolume: boolean;
  }) {
    this.id = init.id;
    this.loaded = init.loaded;
    this.workspace = init.workspace;
    this.link = init.link;
    this.ownsVolume = init.ownsVolume;
  }

  /** Runs one contract tool inside the container. */
  async callTool(name: string, input: unknown, timeoutMs?: number): Promise<ToolReply> {
    this.lastUsedAt = Date.now();
    try {
      return await this.link.call('tool', { name, input }, timeoutMs === undefined ? {} : { timeoutMs });
    } finally {
      this.lastUsedAt = Date.now();
    }
  }
}
