import type { Logger } from 'pino';
import type { LoadedPolicy } from '../policy/load.ts';
import type { SandboxManager } from './manager.ts';
import { type Assignment, saveAssignment } from './metadata.ts';
import type { Sandbox } from './sandbox.ts';

function isTakeable(sandbox: Sandbox): boolean {
  return sandbox.isPooled && sandbox.state === 'ready' && sandbox.link.isReady;
}

export interface PoolOptions {
  manager: SandboxManager;
  /** Ready sandboxes to keep per policy name. */
  sizes: Record<string, number>;
  loadPolicy: (name: string) => Promise<LoadedPolicy>;
  log: Logger;
  /** Progress for a person at a terminal (stderr), or nothing. */
  progress?: (line: string) => void;
  /** How long after a take the refill starts (default REFILL_DELAY_MS). */
  refillDelayMs?: number;
}

/**
 * A refill waits this long after a take. Creating and starting a container keeps
 * the engine busy on every core for a few hundred milliseconds, exactly when
 * the task that just took a member connects and makes its first calls: on two
 * cores that doubled the first exec. A burst of takes still finds the other
 * members, and the refill then catches up.
 */
export const REFILL_DELAY_MS = 500;

const WARM_UP_CALLS: [string, Record<string, unknown>][] = [
  ['read_file', { path: 'AGENTS.md' }],
  ['exec_command', { cmd: 'true', verbosity: 'minimal' }],
  ['exec_command', { cmd: ['true'], verbosity: 'minimal' }],
];

/**
 * Per policy, a few sandboxes already running with their agent connected and
 * an empty workspace volume, so a task gets one in milliseconds. Members count
 * toward every limit and survive a control-plane restart like any sandbox.
 * Refilled in the background, one creation at a time.
 */
export class WarmPool {
  readonly #options: PoolOptions;
  readonly #members = new Map<string, Sandbox[]>();
  readonly #filling = new Map<string, Promise<void>>();
  readonly #refillTimers = new Set<NodeJS.Timeout>();
  #isStopped = false;

  constructor(options: PoolOptions) {
    this.#options = options;
  }

  get sizes(): Record<string, number> {
    return this.#options.sizes;
  }

  /** Members a task can take right now. */
  ready(policy: string): number {
    return this.#members.get(policy)?.filter(isTakeable).length ?? 0;
  }

  /** Members that are or will be takeable: adopted ones still waiting for their agent count too. */
  #count(policy: string): number {
    const members = (this.#members.get(policy) ?? []).filter(
      (sandbox) => sandbox.isPooled && (sandbox.state === 'ready' || sandbox.state === 'creating'),
    );
    this.#members.set(policy, members);
    return members.length;
  }

  /** Takes back a member found at reconcile. */
  adopt(policy: string, sandbox: Sandbox): void {
    sandbox.isPooled = true;
    const members = this.#members.get(policy) ?? [];
    members.push(sandbox);
    this.#members.set(policy, members);
  }

  /** Fills every pool to its size; resolves when all are full (or cannot be filled). */
  async warm(): Promise<void> {
    await Promise.all(Object.keys(this.#options.sizes).map((policy) => this.refill(policy)));
  }

  /** A ready member for a task, with the task's token, TTL and labels attached; undefined when empty. */
  async take(policy: string, assignment: Assignment): Promise<Sandbox | undefined> {
    const members = this.#members.get(policy) ?? [];
    const index = members.findIndex(isTakeable);
    if (index === -1) return undefined;
    const [sandbox] = members.splice(index, 1) as [Sandbox];
    sandbox.isPooled = false;
    sandbox.tokenSha256 = assignment.tokenSha256;
    sandbox.expiresAt = assignment.expiresAt === undefined ? undefined : new Date(assignment.expiresAt);
    sandbox.owner = assignment.owner;
    sandbox.labels = assignment.labels;
    sandbox.lastUsedAt = Date.now();
    try {
      await saveAssignment(this.#options.manager.stateDir, sandbox.id, assignment);
    } catch (error) {
      // Without its assignment a restart could not tell this sandbox was taken: it must not live on.
      await this.#options.manager.destroy(sandbox.id).catch(() => undefined);
      throw error;
    }
    const timer = setTimeout(() => {
      this.#refillTimers.delete(timer);
      void this.refill(policy);
    }, this.#options.refillDelayMs ?? REFILL_DELAY_MS);
    this.#refillTimers.add(timer);
    return sandbox;
  }

  /** Creates members until the pool of `policy` is full; concurrent calls share the work. */
  refill(policy: string): Promise<void> {
    let filling = this.#filling.get(policy);
    if (filling === undefined) {
      filling = this.#fill(policy).finally(() => this.#filling.delete(policy));
      this.#filling.set(policy, filling);
    }
    return filling;
  }

  async #fill(policy: string): Promise<void> {
    const size = this.#options.sizes[policy] ?? 0;
    const { manager, log, progress } = this.#options;
    while (!this.#isStopped && this.#count(policy) < size) {
      try {
        const loaded = await this.#options.loadPolicy(policy);
        const sandbox = await manager.create({
          policy: loaded,
          isPooled: true,
        });
        if (this.#isStopped) return;
        // The paths a task's first requests take, once through the agent before the member counts
        // as ready, so they find its code compiled: an MCP handshake reads the workspace's
        // instruction files, and the first call is often a command.
        for (const [tool, input] of WARM_UP_CALLS) {
          await sandbox.callTool(tool, input, 30_000).catch(() => undefined);
        }
        this.adopt(policy, sandbox);
        progress?.(`warm pool ${policy}: ${this.ready(policy)}/${size} ready`);
      } catch (error) {
        log.warn(
          { policy, error: (error as Error).message },
          'warm pool could not add a sandbox; retrying later',
        );
        return;
      }
    }
  }

  async stop(): Promise<void> {
    this.#isStopped = true;
    for (const timer of this.#refillTimers) clearTimeout(timer);
    this.#refillTimers.clear();
    await Promise.allSettled(this.#filling.values());
  }
}
