import type { LoadedPolicy } from '../policy/load.ts';
import { ToolError } from '../protocol/errors.ts';
import type { WorkspaceSource } from '../runtime/driver.ts';
import { LABEL_WORKSPACE_NAME } from '../runtime/labels.ts';
import { SandboxHandle } from './handle.ts';
import type { SandboxManager } from './manager.ts';

/**
 * A workspace name: its volume is sandboxd-ws-<name>. `sb-` is reserved, because
 * every sandbox provisioned without a workspace gets the volume sandboxd-ws-<id>
 * with an id sb-<hex>: a workspace named after such an id would mount that
 * sandbox's volume into a second sandbox.
 */
export const WorkspaceName = /^(?!sb-)[a-z0-9][a-z0-9-]{0,39}$/;
export const WORKSPACE_NAME_RULE =
  'a workspace name is 1-40 of [a-z0-9-], starting with a letter or digit, not sb-';

export interface WorkspacesOptions {
  manager: SandboxManager;
  policy: () => Promise<LoadedPolicy>;
  policyName: string;
  /** The default workspace's folder; without it the default workspace is the volume sandboxd-ws-default. */
  defaultHostPath?: string | undefined;
  defaultUser?: { uid: number; gid: number } | undefined;
  /** Whether /w/:name may create a workspace that does not exist yet. */
  allowCreate: boolean;
}

/**
 * Named workspaces of the HTTP front door: each is a persistent volume
 * (sandboxd-ws-<name>) and a sandbox `ws-<name>` over it, created on first use,
 * stopped when idle, its volume kept across restarts of the sandbox.
 */
export class Workspaces {
  readonly #options: WorkspacesOptions;
  readonly #handles = new Map<string, SandboxHandle>();

  constructor(options: WorkspacesOptions) {
    this.#options = options;
  }

  get(name: string): SandboxHandle {
    if (!WorkspaceName.test(name)) {
      throw new ToolError('INVALID_ARGUMENT', WORKSPACE_NAME_RULE);
    }
    let handle = this.#handles.get(name);
    if (handle !== undefined) return handle;
    const id = `ws-${name}`;
    const isDefault = name === 'default';
    if (!isDefault && !this.#options.allowCreate && this.#options.manager.find(id) === undefined) {
      throw new ToolError(
        'SANDBOX_NOT_FOUND',
        `no workspace ${name}, and creating workspaces on first use is disabled`,
      );
    }
    const hostPath = isDefault ? this.#options.defaultHostPath : undefined;
    const workspace: WorkspaceSource =
      hostPath === undefined ? { kind: 'volume', name: `sandboxd-ws-${name}` } : { kind: 'bind', hostPath };
    const user = hostPath === undefined ? undefined : this.#options.defaultUser;
    handle = new SandboxHandle(
      this.#options.manager,
      id,
      async () => ({
        policy: await this.#options.policy(),
        workspace,
        ownsVolume: false,
        labels: { [LABEL_WORKSPACE_NAME]: name },
        ...(user === undefined ? {} : { user }),
      }),
      {
        name,
        kind: workspace.kind,
        source: workspace.kind === 'volume' ? workspace.name : workspace.hostPath,
        policy: this.#options.policyName,
      },
    );
    this.#handles.set(name, handle);
    return handle;
  }
}
