import type { LoadedPolicy } from '../policy/load.ts';
import { ToolError } from '../protocol/errors.ts';
import type { ContainerInfo, WorkspaceSource } from '../runtime/driver.ts';
import {
  LABEL_GIT,
  LABEL_POLICY,
  LABEL_USER,
  LABEL_WORKSPACE,
  LABEL_WORKSPACE_INODE,
  LABEL_WORKSPACE_NAME,
  workspaceVolumeName,
} from '../runtime/labels.ts';
import { SANDBOX_USER } from './container-spec.ts';
import { SandboxHandle } from './handle.ts';
import { folderIdentity, gitProtection } from './host-folder.ts';
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
  /** Let the sandbox over the default workspace's folder write its `.git` (read-only by default). */
  isGitWritable?: boolean;
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
    if (name !== 'default' && !this.#options.allowCreate && this.#options.manager.find(id) === undefined) {
      throw new ToolError(
        'SANDBOX_NOT_FOUND',
        `no workspace ${name}, and creating workspaces on first use is disabled`,
      );
    }
    const { workspace, user } = this.#expected(name);
    handle = new SandboxHandle(
      this.#options.manager,
      id,
      async () => ({
        policy: await this.#options.policy(),
        workspace,
        ownsVolume: false,
        labels: { [LABEL_WORKSPACE_NAME]: name },
        ...(user === undefined ? {} : { user }),
        // The default workspace over a host folder goes with the control plane, as `stdio`'s does.
        lifetime: workspace.kind === 'bind' ? 'process' : 'persistent',
        isGitWritable: this.#options.isGitWritable ?? false,
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

  /** Where a workspace lives and whom its workload runs as, as configured now. */
  #expected(name: string): { workspace: WorkspaceSource; user: { uid: number; gid: number } | undefined } {
    const hostPath = name === 'default' ? this.#options.defaultHostPath : undefined;
    return hostPath === undefined
      ? { workspace: { kind: 'volume', name: workspaceVolumeName(name) }, user: undefined }
      : { workspace: { kind: 'bind', hostPath }, user: this.#options.defaultUser };
  }

  /**
   * Why a workspace's container found at start no longer matches the configuration
   * (reconcile removes it, and the next call starts a new one), or undefined. A
   * /v1 sandbox keeps what its creator asked for and is not checked here.
   */
  async mismatch(container: ContainerInfo): Promise<string | undefined> {
    const { labels } = container;
    const name = labels[LABEL_WORKSPACE_NAME];
    if (name === undefined) return undefined;
    const { workspace, user } = this.#expected(name);
    const source = workspace.kind === 'volume' ? workspace.name : workspace.hostPath;
    if (labels[LABEL_WORKSPACE] !== source) {
      return `it works on ${labels[LABEL_WORKSPACE]}, and this control plane serves ${source}`;
    }
    if (labels[LABEL_POLICY] !== this.#options.policyName) {
      return `its policy is ${labels[LABEL_POLICY]}, and this control plane's is ${this.#options.policyName}`;
    }
    // A volume's sandboxes run as the volume's own uid, which the manager reads from the volume.
    if (
      user !== undefined &&
      (labels[LABEL_USER] ?? `${SANDBOX_USER.uid}:${SANDBOX_USER.gid}`) !== `${user.uid}:${user.gid}`
    ) {
      return `it runs as ${labels[LABEL_USER]}, and the folder wants ${user.uid}:${user.gid}`;
    }
    const { policy } = await this.#options.policy();
    const imageId = await this.#options.manager.driver.imageId(policy.image);
    if (imageId !== undefined && imageId !== container.imageId) {
      return `the image ${policy.image} has been rebuilt since it started`;
    }
    if (workspace.kind === 'bind') {
      const git = await gitProtection(workspace.hostPath, this.#options.isGitWritable ?? false).catch(
        (error: unknown) => ({ mode: `unusable (${(error as Error).message})` }),
      );
      if (labels[LABEL_GIT] !== git.mode) {
        return `its .git is ${labels[LABEL_GIT] ?? 'writable'}, and the folder's now needs ${git.mode}`;
      }
    }
    if (workspace.kind === 'bind' && labels[LABEL_WORKSPACE_INODE] !== undefined) {
      if ((await folderIdentity(workspace.hostPath)) !== labels[LABEL_WORKSPACE_INODE]) {
        return `the folder ${workspace.hostPath} was deleted or replaced since it started`;
      }
    }
    return undefined;
  }
}
