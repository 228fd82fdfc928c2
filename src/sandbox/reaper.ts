import { LABEL_MANAGED } from '../runtime/labels.ts';
import type { SandboxManager } from './manager.ts';
import { PeriodicSweep } from './periodic-sweep.ts';
import type { Sandbox } from './sandbox.ts';

export interface ReaperOptions {
  intervalMs?: number;
  /** After this long without a tool call a ready sandbox is shown as idle. */
  idleMarkMs?: number;
  now?: () => number;
}

export type { ReapReason } from './manager.ts';

/**
 * The periodic sweep: marks quiet sandboxes idle, stops those idle past their
 * policy's time (the workspace stays), removes those past their TTL, and
 * notices containers the engine stopped or lost (an engine restart), each
 * change through the manager (which emits 'reaped' with the reason).
 */
export class Reaper {
  readonly #manager: SandboxManager;
  readonly #intervalMs: number;
  readonly #idleMarkMs: number;
  readonly #now: () => number;
  readonly #periodic = new PeriodicSweep(
    () => this.#sweep(),
    (error) => this.#manager.log.error({ error: String(error) }, 'reaper sweep failed'),
  );

  constructor(manager: SandboxManager, options: ReaperOptions = {}) {
    this.#manager = manager;
    this.#intervalMs = options.intervalMs ?? 10_000;
    this.#idleMarkMs = options.idleMarkMs ?? 60_000;
    this.#now = options.now ?? Date.now;
  }

  start(): void {
    this.#periodic.start(this.#intervalMs);
  }

  stop(): Promise<void> {
    return this.#periodic.stop();
  }

  /** One pass; concurrent calls share it. */
  sweep(): Promise<void> {
    return this.#periodic.sweep();
  }

  async #sweep(): Promise<void> {
    const manager = this.#manager;
    const now = this.#now();
    await this.#syncWithEngine();
    for (const sandbox of manager.list()) {
      // One sandbox the engine refuses to remove (a 409 on its volume) must not stop the sweep.
      await this.#sweepOne(sandbox, now).catch((error: unknown) =>
        manager.log.error(
          { sandboxId: sandbox.id, error: String(error) },
          'reaper: sweeping a sandbox failed',
        ),
      );
    }
  }

  async #sweepOne(sandbox: Sandbox, now: number): Promise<void> {
    const manager = this.#manager;
    if (
      sandbox.expiresAt !== undefined &&
      sandbox.expiresAt.getTime() <= now &&
      sandbox.state !== 'creating'
    ) {
      // Like every removal, expiry removes the volume only if the sandbox owns it:
      // a named workspace's volume outlives the sandbox that had it for an hour.
      await manager.reap(sandbox, 'ttl');
      return;
    }
    if (sandbox.activeCalls > 0 || sandbox.isPooled) return;
    const quietMs = now - sandbox.lastUsedAt;
    const idleMs = sandbox.loaded.policy.timeouts.idle;
    if (sandbox.state === 'ready' && quietMs >= Math.min(this.#idleMarkMs, idleMs)) {
      manager.transition(sandbox, 'idle');
    }
    if (sandbox.state === 'idle' && quietMs >= idleMs) {
      const status = await sandbox.link.call('ping', {}, { timeoutMs: 5000 }).catch(() => undefined);
      // A command still running keeps the sandbox up: commands belong to the workspace.
      if (status !== undefined && status.activeCommands > 0) return;
      await manager.reap(sandbox, 'idle');
    }
  }

  /** Containers the engine stopped (engine restart, crash) are stopped sandboxes; vanished ones failed. */
  async #syncWithEngine(): Promise<void> {
    const manager = this.#manager;
    const containers = await manager.driver.list({ [LABEL_MANAGED]: 'true' });
    const byId = new Map(containers.map((container) => [container.id, container]));
    for (const sandbox of manager.list()) {
      if (sandbox.containerId === undefined || sandbox.state === 'creating') continue;
      const container = byId.get(sandbox.containerId);
      if (container === undefined) {
        manager.transition(sandbox, 'failed', { reason: 'container removed outside sandboxd' });
        await manager.destroy(sandbox.id, { removeVolume: false }).catch(() => undefined);
      } else if (
        // A paused container (a snapshot's copy, sandbox/snapshots.ts) thaws on its own.
        container.state !== 'running' &&
        container.state !== 'paused' &&
        (sandbox.state === 'ready' || sandbox.state === 'idle')
      ) {
        manager.transition(sandbox, 'stopped', { reason: `container ${container.state}` });
      }
    }
  }
}
