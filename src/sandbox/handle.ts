import { lstat } from 'node:fs/promises';
import { ToolError } from '../protocol/errors.ts';
import { factsOf, folderGone } from './host-folder.ts';
import type { CreateOptions, SandboxManager } from './manager.ts';
import type { Sandbox } from './sandbox.ts';

export interface HandleFacts {
  name: string;
  kind: 'volume' | 'bind';
  source: string;
  policy: string;
}

/**
 * One workspace's sandbox as a front door sees it: created on first use,
 * started again when the reaper stopped it, shared by every client of the
 * workspace. Concurrent first calls share one creation.
 */
export class SandboxHandle {
  readonly id: string;
  readonly #manager: SandboxManager;
  readonly #createOptions: () => Promise<CreateOptions>;
  readonly #facts: HandleFacts;
  #creating: Promise<Sandbox> | undefined;
  #notice: string | undefined;

  constructor(
    manager: SandboxManager,
    id: string,
    createOptions: () => Promise<CreateOptions>,
    facts: HandleFacts,
  ) {
    this.#manager = manager;
    this.id = id;
    this.#createOptions = createOptions;
    this.#facts = facts;
  }

  async sandbox(): Promise<Sandbox> {
    const existing = this.#manager.find(this.id);
    if (existing !== undefined && this.#creating === undefined) {
      const isReplaced = await this.#isFolderReplaced(existing);
      // Another call may have started the replacement while this one looked at the folder.
      if (this.#creating !== undefined) return this.#creating;
      if (!isReplaced) return this.#manager.acquire(this.id);
      this.#creating = this.#replace(existing);
    }
    this.#creating ??= this.#create();
    return this.#creating;
  }

  /** Tells, once, that the sandbox was replaced since the last call: for the caller to pass on. */
  /** request_permissions: the user approved `host` for this workspace's sandbox. */
  extendEgress(sandbox: Sandbox, host: string): Promise<void> {
    return this.#manager.allowHost(sandbox.id, host);
  }

  takeNotice(): string | undefined {
    const notice = this.#notice;
    this.#notice = undefined;
    return notice;
  }

  #create(): Promise<Sandbox> {
    return this.#createOptions()
      .then((options) => this.#manager.create({ ...options, id: this.id }))
      .finally(() => {
        this.#creating = undefined;
      });
  }

  /**
   * A host folder deleted and re-created at the same path (`rm -rf repo && git
   * clone … repo`) leaves the container on the old, deleted directory, where every
   * call fails. A folder that is simply gone is an error that says so.
   */
  async #isFolderReplaced(sandbox: Sandbox): Promise<boolean> {
    if (sandbox.workspace.kind !== 'bind' || sandbox.workspaceIdentity === undefined) return false;
    const folder = sandbox.workspace.hostPath;
    // One lstat: it does not follow a link, and gives both identity and owner.
    const now = await lstat(folder, { bigint: true }).catch(() => undefined);
    if (now === undefined || !now.isDirectory()) {
      // A link put where the folder was would have the engine mount what it points to.
      if (now?.isSymbolicLink()) {
        throw new ToolError(
          'SYMLINK_ESCAPE',
          `${folder} is now a symbolic link; sandboxd will not follow it`,
          {
            details: { workspace: folder },
          },
        );
      }
      throw folderGone(folder);
    }
    const { identity, owner } = factsOf(now);
    if (sandbox.workspaceOwner !== undefined && sandbox.workspaceOwner !== owner) {
      throw new ToolError(
        'SANDBOX_UNAVAILABLE',
        `${folder} was created again by another owner (${owner}); start sandboxd over it again`,
        { retryable: false, details: { workspace: folder } },
      );
    }
    return identity !== sandbox.workspaceIdentity;
  }

  async #replace(sandbox: Sandbox): Promise<Sandbox> {
    const folder = sandbox.workspace.kind === 'bind' ? sandbox.workspace.hostPath : '';
    this.#manager.log.warn(
      { sandboxId: this.id, workspace: folder },
      'workspace folder re-created; replacing its sandbox',
    );
    try {
      await this.#manager.destroy(sandbox.id);
    } catch (error) {
      this.#creating = undefined;
      throw error;
    }
    const replaced = await this.#create();
    this.#notice =
      `sandboxd: the folder ${folder} was deleted and created again since the last call, ` +
      'so its sandbox was restarted over the new folder; commands that were running in the old one have ended.';
    return replaced;
  }

  currentSandbox(): Sandbox | undefined {
    const sandbox = this.#manager.find(this.id);
    return sandbox?.state === 'ready' || sandbox?.state === 'idle' ? sandbox : undefined;
  }

  facts(): HandleFacts {
    return this.#facts;
  }
}
