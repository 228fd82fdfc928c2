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
    if (this.#manager.find(this.id) !== undefined && this.#creating === undefined) {
      return this.#manager.acquire(this.id);
    }
    this.#creating ??= this.#createOptions()
      .then((options) => this.#manager.create({ ...options, id: this.id }))
      .finally(() => {
        this.#creating = undefined;
      });
    return this.#creating;
  }

  currentSandbox(): Sandbox | undefined {
    const sandbox = this.#manager.find(this.id);
    return sandbox?.state === 'ready' || sandbox?.state === 'idle' ? sandbox : undefined;
  }

  facts(): HandleFacts {
    return this.#facts;
  }
}
