import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { EgressRecord } from '../egress/audit.ts';
import { type Connect, EgressGate } from '../egress/gate.ts';
import { type Lookup, systemLookup } from '../egress/resolve.ts';
import { agentLimits, egressAllowList } from '../policy/derived.ts';
import type { EgressAllowList } from '../policy/egress.ts';
import type { LoadedPolicy } from '../policy/load.ts';
import { DEFAULT_WORKER_IMAGE } from '../policy/schema.ts';
import { ToolError } from '../protocol/errors.ts';
import type { DialHome, RuntimeDriver, WorkspaceSource } from '../runtime/driver.ts';
import {
  LABEL_ID,
  LABEL_UID,
  layerVolumeName,
  managedLabels,
  workspaceVolumeName,
} from '../runtime/labels.ts';
import { AgentLink } from './agent-link.ts';
import type { AgentTokens } from './agent-tokens.ts';
import { containerSpec, SANDBOX_USER } from './container-spec.ts';
import { folderFacts, folderGone, gitProtection } from './host-folder.ts';
import { writeIdentityFiles } from './identity.ts';
import { encodeSandboxLabels } from './labels.ts';
import { canTransition, ENTER_STATE, type SandboxState } from './lifecycle.ts';
import { type Assignment, loadAssignment, removeAssignment, saveAssignment } from './metadata.ts';
import { PreviewDoor } from './preview-door.ts';
import { provideRelay } from './relay-binary.ts';
import { type Lifetime, Sandbox } from './sandbox.ts';
import { prepareStateDir, socketDirFor } from './state-dir.ts';
import { freshUid, type UidRange, volumeUser } from './uids.ts';

export interface CreateOptions {
  policy: LoadedPolicy;
  /** A host folder, or a named volume; by default a fresh volume sandboxd-ws-<id>. */
  workspace?: WorkspaceSource;
  id?: string;
  labels?: Record<string, string>;
  user?: { uid: number; gid: number };
  ttlMs?: number;
  /** Whether destroy() removes the volume too; by default only a volume made for this sandbox. */
  ownsVolume?: boolean;
  /** The credential creating it, for quotas. */
  owner?: string;
  /** SHA-256 of a token that reaches only this sandbox. */
  tokenSha256?: string;
  /** A warm-pool member: hidden from task listings from the start. */
  isPooled?: boolean;
  /** Whether the sandbox goes with this process; by default the manager's. */
  lifetime?: Lifetime;
  /** Over a host folder: let the sandbox write its `.git` (by default mounted read-only). */
  isGitWritable?: boolean;
  /** Replaces the agent command; only tests use it. */
  command?: string[];
  signal?: AbortSignal;
}

export interface Quotas {
  maxSandboxes: number;
  maxPerOwner: number;
}

/**
 * Live sandboxes one control plane runs, and one credential may hold. `serve`
 * had 100 and the manager 200; 100 is what every operator ran with.
 */
export const DEFAULT_QUOTAS: Quotas = { maxSandboxes: 100, maxPerOwner: 100 };

export interface ManagerOptions {
  driver: RuntimeDriver;
  stateDir: string;
  log: Logger;
  quotas?: Partial<Quotas>;
  /** The owner socket this process listens on (sandbox/owner-socket.ts), labelled on every container. */
  controlSocket?: string;
  /** 'persistent' for `serve`, whose sandboxes outlive it; 'process' (the default) for `stdio` and `run`. */
  defaultLifetime?: Lifetime;
  /** Where a new workspace volume's uid comes from; without it, volumes run as the image's user. */
  uidRange?: UidRange;
  /** How egress names are resolved on the host; the system resolver by default. */
  egressLookup?: Lookup;
  /** How egress connects to a checked address; TCP by default (tests watch it). */
  egressConnect?: Connect;
  /** Workers dial home over TCP to the agent port (agent-port.ts) instead of their socket directory. */
  dialHome?: DialHomeOptions;
}

export interface DialHomeOptions {
  /** host:port of the agent port as workers reach it. */
  address: string;
  tokens: AgentTokens;
  /** Docker: the network workers join. */
  network?: string;
  /** The CA certificate (a host file) that the agent port's certificate chains to: TLS. */
  caFile?: string;
}

/** The sandbox's token, beside its identity files in its socket directory (mounted, or put in a Secret). */
const TOKEN_FILE = 'token';

const WATCH_INTERVAL_MS = 100;
const STOP_GRACE_SECONDS = 5;

/** Why the reaper took a sandbox down: idle past its policy's time (stopped), or past its TTL (removed). */
export type ReapReason = 'idle' | 'ttl';

/** What the manager tells its listeners, with the arguments of each. */
export interface ManagerEvents {
  /** Every state change, after it happened. */
  transition: [sandbox: Sandbox, from: SandboxState, to: SandboxState];
  /** A sandbox made and ready, with how long that took. */
  created: [sandbox: Sandbox, ms: number];
  /** An agent dialled in again (a restart of either side). */
  reconnect: [sandbox: Sandbox];
  reaped: [sandbox: Sandbox, reason: ReapReason];
  /** A snapshot removed by the sweep (sandbox/snapshots.ts), and why. */
  'snapshot-reaped': [snapshotId: string, reason: string];
  /** Every egress connection, allowed or refused. */
  egress: [record: EgressRecord];
  /** An egress tunnel opened, with its setup time. */
  'egress-open': [setupMs: number];
}

/**
 * Creates, tracks, stops, resumes and destroys sandboxes, and is the only one
 * that changes their state (lifecycle.ts). Knows nothing of MCP or HTTP.
 */
export class SandboxManager extends EventEmitter<ManagerEvents> {
  readonly driver: RuntimeDriver;
  readonly stateDir: string;
  readonly quotas: Quotas;
  readonly log: Logger;
  readonly controlSocket: string | undefined;
  readonly defaultLifetime: Lifetime;
  readonly uidRange: UidRange | undefined;
  readonly egressLookup: Lookup;
  readonly egressConnect: Connect | undefined;
  readonly dialHome: DialHomeOptions | undefined;
  /** The control plane's relay for tunnels' bulk bytes (relay-binary.ts); none: they stay in Node. */
  relay: string | undefined;
  /** Whether the relay is still to be looked for (the worker image was not there yet). */
  #isRelayUnknown = true;
  readonly #sandboxes = new Map<string, Sandbox>();
  readonly #resuming = new Map<string, Promise<void>>();

  constructor(options: ManagerOptions) {
    super();
    this.driver = options.driver;
    this.stateDir = options.stateDir;
    this.log = options.log;
    this.controlSocket = options.controlSocket;
    this.defaultLifetime = options.defaultLifetime ?? 'process';
    this.uidRange = options.uidRange;
    this.egressLookup = options.egressLookup ?? systemLookup;
    this.egressConnect = options.egressConnect;
    this.dialHome = options.dialHome;
    this.quotas = { ...DEFAULT_QUOTAS, ...options.quotas };
  }

  async init(): Promise<void> {
    await prepareStateDir(this.stateDir);
    await this.#findRelay();
  }

  async #findRelay(): Promise<void> {
    if (!this.#isRelayUnknown) return;
    this.#isRelayUnknown = false;
    try {
      const found = await provideRelay(this.driver, DEFAULT_WORKER_IMAGE, this.stateDir, this.log);
      if (found === null) this.#isRelayUnknown = true;
      else this.relay = found;
    } catch (error) {
      this.log.warn(
        { err: error },
        'could not take the relay from the worker image; tunnels are carried in Node',
      );
    }
  }

  get(id: string): Sandbox {
    const sandbox = this.#sandboxes.get(id);
    if (sandbox === undefined)
      throw new ToolError('SANDBOX_NOT_FOUND', `no sandbox ${id}`, { details: { id } });
    return sandbox;
  }

  find(id: string): Sandbox | undefined {
    return this.#sandboxes.get(id);
  }

  list(): Sandbox[] {
    return [...this.#sandboxes.values()];
  }

  /**
   * A sandbox as a task may see it: a warm-pool member no task holds yet is
   * invisible (SANDBOX_NOT_FOUND), whoever asks and however.
   */
  taskSandbox(id: string): Sandbox {
    const sandbox = this.findTaskSandbox(id);
    if (sandbox === undefined)
      throw new ToolError('SANDBOX_NOT_FOUND', `no sandbox ${id}`, { details: { id } });
    return sandbox;
  }

  /** taskSandbox(id), or undefined where that throws. */
  findTaskSandbox(id: string): Sandbox | undefined {
    const sandbox = this.#sandboxes.get(id);
    return sandbox === undefined || sandbox.isPooled ? undefined : sandbox;
  }

  /** Every sandbox a task may see: all but the unassigned warm-pool members. */
  taskSandboxes(): Sandbox[] {
    return this.list().filter((sandbox) => !sandbox.isPooled);
  }

  /** Registers a sandbox found on the engine (reconcile); the manager owns it from now on. */
  adopt(sandbox: Sandbox): void {
    this.#sandboxes.set(sandbox.id, sandbox);
    this.#watchLink(sandbox);
    this.#readSeccomp(sandbox);
  }

  #readSeccomp(sandbox: Sandbox): void {
    sandbox.readSeccomp = () => this.driver.seccompOf?.(sandbox.containerId ?? '') ?? 'policy';
  }

  /**
   * A sandbox's three sockets: the agent link, the egress gate with `allowList`
   * (the agent serves its proxy while the gate has one), and the preview door.
   */
  doors(
    id: string,
    loaded: LoadedPolicy,
    allowList: EgressAllowList | null,
  ): { link: AgentLink; egress: EgressGate; preview: PreviewDoor } {
    const socketDir = socketDirFor(this.stateDir, id);
    const transport = this.dialHome === undefined ? 'unix' : 'tcp';
    void this.#findRelay();
    const egress = new EgressGate({
      sandboxId: id,
      socketDir,
      transport,
      allowList,
      lookup: this.egressLookup,
      ...(this.egressConnect === undefined ? {} : { connect: this.egressConnect }),
      log: this.log,
      onRecord: (record: EgressRecord) => this.emit('egress', record),
      onOpen: (setupMs: number) => this.emit('egress-open', setupMs),
      relay: () => this.relay,
    });
    const link = new AgentLink({
      sandboxId: id,
      socketDir,
      limits: agentLimits(loaded.policy),
      log: this.log,
      serveEgressProxy: () => egress.allowList !== null,
      transport,
    });
    const preview = new PreviewDoor({
      sandboxId: id,
      socketDir,
      link,
      log: this.log,
      limits: loaded.policy.preview,
      transport,
      // Not for a stopped sandbox nobody starts: nothing would come, and the browser is told at once.
      isAgentExpected: () => {
        const sandbox = this.#sandboxes.get(id);
        if (sandbox === undefined) return false;
        const { state } = sandbox;
        if (state === 'creating' || state === 'ready' || state === 'idle') return true;
        return state === 'stopped' && (this.#resuming.has(id) || sandbox.maintenance !== undefined);
      },
    });
    return { link, egress, preview };
  }

  /**
   * Changes what a sandbox may reach, at once: new tunnels follow the new list
   * (null closes the door and its open tunnels), the agent starts or stops its
   * proxy, and the list is kept in the state directory for a restart.
   */
  async setEgress(id: string, allowList: EgressAllowList | null): Promise<Sandbox> {
    const sandbox = this.get(id);
    await sandbox.egress.setAllowList(allowList);
    await this.#keepAssignment(sandbox, { egress: allowList });
    this.log.info({ sandboxId: id, egress: allowList }, 'egress allow-list changed');
    await sandbox.link.reconfigure();
    return sandbox;
  }

  /** Moves a sandbox's deadline (its TTL from now), kept in the state directory for a restart. */
  async setExpiry(id: string, expiresAt: Date): Promise<Sandbox> {
    const sandbox = this.get(id);
    sandbox.expiresAt = expiresAt;
    await this.#keepAssignment(sandbox, {});
    this.log.info({ sandboxId: id, expiresAt: expiresAt.toISOString() }, 'sandbox deadline changed');
    return sandbox;
  }

  /** Saves what a restart must know of a sandbox (what reconcile reads over its labels). */
  async #keepAssignment(sandbox: Sandbox, changes: Partial<Assignment>): Promise<void> {
    const kept = await loadAssignment(this.stateDir, sandbox.id);
    await saveAssignment(this.stateDir, sandbox.id, {
      ...(kept.state === 'assigned' ? kept.assignment : {}),
      labels: sandbox.labels,
      ...(sandbox.tokenSha256 === undefined ? {} : { tokenSha256: sandbox.tokenSha256 }),
      ...(sandbox.expiresAt === undefined ? {} : { expiresAt: sandbox.expiresAt.toISOString() }),
      ...(sandbox.owner === undefined ? {} : { owner: sandbox.owner }),
      ...changes,
    });
  }

  /**
   * Adds one host to a sandbox's allow-list, as the user approved it over MCP
   * (the policy must allow asking): logged, kept for a restart, in force at once.
   */
  async allowHost(id: string, host: string): Promise<void> {
    const allowList = this.get(id).egress.allowList;
    if (allowList === null || !allowList.ask) {
      throw new ToolError(
        'ELICITATION_UNSUPPORTED',
        `the policy of sandbox ${id} does not let the user add hosts`,
      );
    }
    if (allowList.hosts.includes(host)) return;
    await this.setEgress(id, { ...allowList, hosts: [...allowList.hosts, host] });
    this.log.info({ sandboxId: id, host }, 'egress host approved by the user');
  }

  /** Every agent connection after the first is a reconnect: 'reconnect' (sandbox). */
  #watchLink(sandbox: Sandbox): void {
    let connections = 0;
    sandbox.link.on('ready', () => {
      connections++;
      if (connections > 1) this.emit('reconnect', sandbox);
    });
  }

  /**
   * The one way a sandbox's state changes: checked against the lifecycle table,
   * logged and emitted. A change the table does not allow (a race with a
   * removal) is refused, logged, and answered false.
   */
  transition(sandbox: Sandbox, state: SandboxState, fields: Record<string, unknown> = {}): boolean {
    const from = sandbox.state;
    if (from === state) return true;
    if (!canTransition(from, state)) {
      this.log.warn({ sandboxId: sandbox.id, from, to: state, ...fields }, 'sandbox state change refused');
      return false;
    }
    sandbox[ENTER_STATE](state);
    this.log.info({ sandboxId: sandbox.id, from, to: state, ...fields }, 'sandbox state');
    this.emit('transition', sandbox, from, state);
    return true;
  }

  /** Removes a sandbox for the reaper, and says why: 'reaped' (sandbox, reason). */
  async reap(sandbox: Sandbox, reason: ReapReason): Promise<void> {
    if (reason === 'ttl') await this.destroy(sandbox.id);
    else await this.stop(sandbox.id, reason);
    this.emit('reaped', sandbox, reason);
  }

  #checkQuota(owner: string | undefined): void {
    const live = this.list().filter((sandbox) => sandbox.isLive);
    if (live.length >= this.quotas.maxSandboxes) {
      throw new ToolError(
        'QUOTA_EXCEEDED',
        `the control plane already runs ${live.length} sandboxes (limit ${this.quotas.maxSandboxes})`,
        {
          details: { limit: 'maxSandboxes', value: this.quotas.maxSandboxes },
        },
      );
    }
    if (owner !== undefined) {
      const mine = live.filter((sandbox) => sandbox.owner === owner).length;
      if (mine >= this.quotas.maxPerOwner) {
        throw new ToolError(
          'QUOTA_EXCEEDED',
          `this token already has ${mine} sandboxes (limit ${this.quotas.maxPerOwner})`,
          {
            details: { limit: 'maxPerOwner', value: this.quotas.maxPerOwner },
          },
        );
      }
    }
  }

  /** Creates a hardened worker container and resolves once its agent is connected. */
  async create(options: CreateOptions): Promise<Sandbox> {
    const id = options.id ?? `sb-${randomBytes(6).toString('hex')}`;
    if (this.#sandboxes.has(id)) throw new ToolError('ALREADY_EXISTS', `sandbox ${id} already exists`);
    this.#checkQuota(options.owner);
    const { policy } = options.policy;
    const ownsVolume = options.ownsVolume ?? options.workspace === undefined;
    const requested: WorkspaceSource = options.workspace ?? { kind: 'volume', name: workspaceVolumeName(id) };
    const git =
      requested.kind === 'bind'
        ? await gitProtection(requested.hostPath, options.isGitWritable ?? false)
        : undefined;
    const workspace: WorkspaceSource =
      requested.kind === 'bind' ? { ...requested, readOnlyPaths: git?.readOnlyPaths ?? [] } : requested;
    const socketDir = socketDirFor(this.stateDir, id);
    const { link, egress, preview } = this.doors(id, options.policy, egressAllowList(options.policy));
    const expiresAt = options.ttlMs === undefined ? undefined : new Date(Date.now() + options.ttlMs);
    const lifetime = options.lifetime ?? this.defaultLifetime;
    const sandbox = new Sandbox({
      id,
      loaded: options.policy,
      workspace,
      link,
      egress,
      preview,
      ownsVolume,
      expiresAt,
      owner: options.owner,
      labels: options.labels ?? {},
      tokenSha256: options.tokenSha256,
      lifetime,
    });
    sandbox.isPooled = options.isPooled ?? false;
    this.#watchLink(sandbox);
    this.#readSeccomp(sandbox);
    this.#sandboxes.set(id, sandbox);
    this.log.info({ sandboxId: id, policy: policy.name, workspace }, 'sandbox creating');
    const startedAt = performance.now();
    try {
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
      await link.listen();
      let user = options.user;
      await egress.listen();
      if (workspace.kind === 'volume') {
        // Idempotent: a named workspace's volume may already hold its files, and keeps its uid.
        const volumeLabels: Record<string, string> = { ...managedLabels, [LABEL_ID]: id };
        if (this.uidRange !== undefined)
          volumeLabels[LABEL_UID] = String(await freshUid(this.driver, this.uidRange));
        const kept = await this.driver.createVolume(workspace.name, volumeLabels);
        user ??= volumeUser(kept);
      }
      let workspaceInode: string | undefined;
      if (workspace.kind === 'bind') {
        // Noticed later when the folder is deleted and re-created at the same path (a fresh clone).
        const facts = await folderFacts(workspace.hostPath);
        if (facts === undefined) throw folderGone(workspace.hostPath);
        sandbox.workspaceIdentity = facts.identity;
        sandbox.workspaceOwner = facts.owner;
        workspaceInode = facts.identity;
      }
      const runAs = user ?? SANDBOX_USER;
      const identity = await writeIdentityFiles(socketDir, runAs);
      const dialHome = await this.#dialHomeFiles(id, socketDir);
      const labels = encodeSandboxLabels(
        {
          id,
          policy: policy.name,
          workspace: workspace.kind === 'volume' ? workspace.name : workspace.hostPath,
          socketDir,
          created: sandbox.createdAt.toISOString(),
          user: `${runAs.uid}:${runAs.gid}`,
          ownsVolume,
          lifetime,
          stateDir: this.stateDir,
          controlSocket: this.controlSocket,
          workspaceInode,
          git: git?.mode,
          expires: expiresAt?.toISOString(),
          owner: options.owner,
          tokenSha256: options.tokenSha256,
          pool: sandbox.isPooled ? policy.name : undefined,
        },
        options.labels,
      );
      const spec = containerSpec(options.policy, {
        id,
        workspace,
        socketDir,
        identity,
        ...(dialHome === undefined ? {} : { dialHome }),
        labels,
        user: runAs,
        ...(options.command === undefined ? {} : { command: options.command }),
      });
      sandbox.containerId = await this.driver.create(spec);
      await this.driver.start(sandbox.containerId);
      await this.#waitForAgent(sandbox, policy.timeouts.agentConnect, options.signal);
      const ms = performance.now() - startedAt;
      this.transition(sandbox, 'ready', { ms: Math.round(ms) });
      this.emit('created', sandbox, ms);
      return sandbox;
    } catch (error) {
      this.transition(sandbox, 'failed', { error: (error as Error).message });
      await this.#teardown(sandbox, ownsVolume).catch((cleanupError: unknown) =>
        this.log.error({ sandboxId: id, error: String(cleanupError) }, 'cleanup after a failed create'),
      );
      this.#sandboxes.delete(id);
      throw error;
    }
  }

  /** In TCP mode: the sandbox's token written beside its identity files, readable by its uid only through the mount. */
  async #dialHomeFiles(id: string, socketDir: string): Promise<DialHome | undefined> {
    const options = this.dialHome;
    if (options === undefined) return undefined;
    const tokenFile = path.join(socketDir, TOKEN_FILE);
    // The socket directory's parents are 0700: no other host user reaches the file.
    await writeFile(tokenFile, options.tokens.tokenFor(id), { mode: 0o644 });
    return {
      address: options.address,
      tokenFile,
      ...(options.caFile === undefined ? {} : { caFile: options.caFile }),
      ...(options.network === undefined ? {} : { network: options.network }),
    };
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
            'the worker container stopped before its agent connected',
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

  /**
   * The sandbox, ready for a tool call: a stopped one is started again and an
   * idle one is marked ready. Concurrent callers share one restart.
   */
  async acquire(id: string): Promise<Sandbox> {
    const sandbox = this.get(id);
    if (sandbox.maintenance !== undefined) await sandbox.maintenance;
    switch (sandbox.state) {
      case 'ready':
        return sandbox;
      case 'idle':
        this.transition(sandbox, 'ready');
        return sandbox;
      case 'stopped':
      case 'creating': {
        let resuming = this.#resuming.get(id);
        if (resuming === undefined) {
          resuming = this.#resume(sandbox).finally(() => this.#resuming.delete(id));
          this.#resuming.set(id, resuming);
        }
        await resuming;
        return sandbox;
      }
      default:
        throw new ToolError('SANDBOX_UNAVAILABLE', `sandbox ${id} is ${sandbox.state}`, {
          retryable: false,
          details: { id, state: sandbox.state },
        });
    }
  }

  async #resume(sandbox: Sandbox): Promise<void> {
    const timeoutMs = sandbox.loaded.policy.timeouts.agentConnect;
    if (sandbox.state === 'creating' && sandbox.link.isReady) {
      this.transition(sandbox, 'ready');
      return;
    }
    if (sandbox.state === 'stopped') {
      const started = performance.now();
      await this.driver.start(sandbox.containerId as string);
      await this.#waitForAgent(sandbox, timeoutMs);
      this.transition(sandbox, 'ready', { resumedMs: Math.round(performance.now() - started) });
      return;
    }
    await this.#waitForAgent(sandbox, timeoutMs);
    this.transition(sandbox, 'ready');
  }

  /** Stops the container; the workspace and the socket stay, and acquire() starts it again. */
  async stop(id: string, reason: string): Promise<void> {
    const sandbox = this.get(id);
    if (sandbox.state === 'stopped' || sandbox.containerId === undefined) return;
    await this.driver.stop(sandbox.containerId, STOP_GRACE_SECONDS);
    this.transition(sandbox, 'stopped', { reason });
  }

  /** Stops and removes the container, its socket directory, and its volume if it owns one. */
  async destroy(id: string, options: { removeVolume?: boolean } = {}): Promise<void> {
    const sandbox = this.get(id);
    await this.#teardown(sandbox, options.removeVolume ?? sandbox.ownsVolume);
    this.#sandboxes.delete(id);
    this.transition(sandbox, 'removed');
  }

  async #teardown(sandbox: Sandbox, removeVolume: boolean): Promise<void> {
    await sandbox.preview.close();
    await sandbox.egress.close();
    await sandbox.link.close();
    if (sandbox.containerId !== undefined) await this.driver.remove(sandbox.containerId);
    await rm(socketDirFor(this.stateDir, sandbox.id), { recursive: true, force: true });
    await removeAssignment(this.stateDir, sandbox.id);
    if (removeVolume && sandbox.workspace.kind === 'volume') {
      const volume = sandbox.workspace.name;
      try {
        await this.driver.removeVolume(volume);
        // A fork's own writes (sandbox/snapshots.ts) live in a layer volume under its overlay
        // volume, removed only once the overlay is gone.
        if (volume === workspaceVolumeName(sandbox.id))
          await this.driver.removeVolume(layerVolumeName(sandbox.id));
      } catch (error) {
        // The sandbox is gone either way; a volume the engine keeps (409: another
        // container uses it) is named here, for `docker volume rm` once that container is gone.
        this.log.warn(
          { sandboxId: sandbox.id, volume, error: String(error) },
          'the workspace volume could not be removed',
        );
      }
    }
  }

  /** Destroys every sandbox this manager holds. */
  async destroyAll(): Promise<void> {
    await Promise.allSettled(this.list().map((sandbox) => this.destroy(sandbox.id)));
  }

  /**
   * The control plane is shutting down: sandboxes that go with this process are
   * removed, the others are let go of, still running, for the next start to reconcile.
   */
  async shutdown(): Promise<void> {
    const goesWithUs = this.list().filter((sandbox) => sandbox.lifetime === 'process');
    await Promise.allSettled(goesWithUs.map((sandbox) => this.destroy(sandbox.id)));
    await this.detachAll();
  }

  /** Lets go of every sandbox without touching its container: the control plane is shutting down. */
  async detachAll(): Promise<void> {
    await Promise.allSettled(
      this.list().flatMap((sandbox) => [
        sandbox.preview.close(),
        sandbox.egress.close(),
        sandbox.link.close(),
      ]),
    );
    this.#sandboxes.clear();
  }
}
