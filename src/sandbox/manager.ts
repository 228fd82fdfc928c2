import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import type { Logger } from 'pino';
import { agentLimits, containerSpec } from '../policy/container-spec.ts';
import type { LoadedPolicy } from '../policy/load.ts';
import { ToolError } from '../protocol/errors.ts';
import type { RuntimeDriver, WorkspaceSource } from '../runtime/driver.ts';
import { LABEL_ID, managedLabels, workspaceVolumeName } from '../runtime/labels.ts';
import { AgentLink } from './agent-link.ts';
import { Sandbox, type SandboxState } from './sandbox.ts';
import { prepareStateDir, socketDirFor } from './state-dir.ts';

export interface CreateOptions {
  policy: LoadedPolicy;
  /** A host folder, or a named volume; by default a fresh volume sandboxd-ws-<id>. */
  workspace?: WorkspaceSource;
  id?: string;
  labels?: Record<string, string>;
  user?: { uid: number; gid: number };
  /** Replaces the agent command; only tests use it. */
  command?: string[];
  signal?: AbortSignal;
}

export interface ManagerOptions {
  driver: RuntimeDriver;
  stateDir: string;
  log: Logger;
}

const WATCH_INTERVAL_MS = 200;

/** Creates, tracks and destroys sandboxes. Knows nothing of MCP or HTTP. */
export class SandboxManager {
  readonly driver: RuntimeDriver;
  readonly stateDir: string;
  readonly #log: Logger;
  readonly #sandboxes = new Map<string, Sandbox>();

  constructor(options: ManagerOptions) {
    this.driver = options.driver;
    this.stateDir = options.stateDir;
    this.#log = options.log;
  }

  async init(): Promise<void> {
    await prepareStateDir(this.stateDir);
  }

  get(id: string): Sandbox {
    const sandbox = this.#sandboxes.get(id);
    if (sandbox === undefined)
      throw new ToolError('SANDBOX_NOT_FOUND', `no sandbox ${id}`, { details: { id } });
    return sandbox;
  }

  list(): Sandbox[] {
    return [...this.#sandboxes.values()];
  }

  #transition(sandbox: Sandbox, state: SandboxState, fields: Record<string, unknown> = {}): void {
    const from = sandbox.state;
    sandbox.state = state;
    this.#log.info({ sandboxId: sandbox.id, from, to: state, ...fields }, 'sandbox state');
  }

  /** Creates a hardened worker container and resolves once its agent is connected. */
  async create(options: CreateOptions): Promise<Sandbox> {
    const id = options.id ?? `sb-${randomBytes(6).toString('hex')}`;
    if (this.#sandboxes.has(id)) throw new ToolError('ALREADY_EXISTS', `sandbox ${id} already exists`);
    const { policy } = options.policy;
    if (!(await this.driver.hasImage(policy.image))) {
      throw new ToolError(
        'SANDBOX_UNAVAILABLE',
        `worker image ${policy.image} is not built; run \`sandboxd image build\``,
        {
          retryable: false,
          details: { image: policy.image },
        },
      );
    }
    const ownsVolume = options.workspace === undefined;
    const workspace = options.workspace ?? { kind: 'volume', name: workspaceVolumeName(id) };
    const socketDir = socketDirFor(this.stateDir, id);
    const link = new AgentLink({ sandboxId: id, socketDir, limits: agentLimits(policy), log: this.#log });
    const sandbox = new Sandbox({ id, loaded: options.policy, workspace, link, ownsVolume });
    this.#sandboxes.set(id, sandbox);
    this.#log.info({ sandboxId: id, policy: policy.name, workspace }, 'sandbox state');
    const startedAt = performance.now();
    try {
      await link.listen();
      if (ownsVolume && workspace.kind === 'volume') {
        await this.driver.createVolume(workspace.name, { ...managedLabels, [LABEL_ID]: id });
      }
      const spec = containerSpec(options.policy, {
        id,
        workspace,
        socketDir,
        ...(options.user === undefined ? {} : { user: options.user }),
        ...(options.labels === undefined ? {} : { labels: options.labels }),
        ...(options.command === undefined ? {} : { command: options.command }),
      });
      sandbox.containerId = await this.driver.create(spec);
      await this.driver.start(sandbox.containerId);
      await this.#waitForAgent(sandbox, policy.timeouts.agentConnect, options.signal);
      this.#transition(sandbox, 'ready', { ms: Math.round(performance.now() - startedAt) });
      return sandbox;
    } catch (error) {
      this.#transition(sandbox, 'failed', { error: (error as Error).message });
      await this.#teardown(sandbox, ownsVolume).catch((cleanupError: unknown) =>
        this.#log.error({ sandboxId: id, error: String(cleanupError) }, 'cleanup after a failed create'),
      );
      this.#sandboxes.delete(id);
      throw error;
    }
  }

  /** Waits for the agent to dial in; fails early if the container stops first. */
  async #waitForAgent(sandbox: Sandbox, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    const watcher = new AbortController();
    const stopped = (async () => {
      while (!watcher.signal.aborted) {
        await new Promise((resolve) => setTimeout(resolve, WATCH_INTERVAL_MS));
        if (watcher.signal.aborted) return;
        const info = await this.driver.inspect(sandbox.containerId as string);
        if (info === undefined || info.state === 'exited' || info.state === 'dead') {
          const logs = await this.driver.logsTail(sandbox.containerId as string, 20);
          throw new ToolError(
            'SANDBOX_UNAVAILABLE',
            `the worker container stopped before its agent connected`,
            {
              details: {
                exitCode: info?.exitCode ?? null,
                oomKilled: info?.isOomKilled ?? false,
                logs: logs.slice(-4000),
              },
            },
          );
        }
      }
    })();
    try {
      const either = signal === undefined ? watcher.signal : AbortSignal.any([watcher.signal, signal]);
      const ready = sandbox.link.waitReady(timeoutMs, either);
      ready.catch(() => undefined);
      await Promise.race([ready, stopped]);
    } finally {
      watcher.abort();
      stopped.catch(() => undefined);
    }
  }

  /** Stops and removes the container, its socket directory, and its volume if it owns one. */
  async destroy(id: string, options: { removeVolume?: boolean } = {}): Promise<void> {
    const sandbox = this.get(id);
    await this.#teardown(sandbox, options.removeVolume ?? sandbox.ownsVolume);
    this.#sandboxes.delete(id);
    this.#transition(sandbox, 'removed');
  }

  async #teardown(sandbox: Sandbox, removeVolume: boolean): Promise<void> {
    await sandbox.link.close();
    if (sandbox.containerId !== undefined) await this.driver.remove(sandbox.containerId);
    await rm(socketDirFor(this.stateDir, sandbox.id), { recursive: true, force: true });
    if (removeVolume && sandbox.workspace.kind === 'volume')
      await this.driver.removeVolume(sandbox.workspace.name);
  }

  /** Destroys every sandbox this manager holds. */
  async destroyAll(): Promise<void> {
    await Promise.allSettled(this.list().map((sandbox) => this.destroy(sandbox.id)));
  }
}
