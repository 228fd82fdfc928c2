import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import type { LoadedPolicy } from '../policy/load.ts';
import { ToolError } from '../protocol/errors.ts';
import type { HelperMount, HelperSpec, SnapshotEngine } from '../runtime/driver.ts';
import {
  LABEL_BASE_SNAPSHOT,
  LABEL_CREATED,
  LABEL_EXPIRES,
  LABEL_HELPER,
  LABEL_ID,
  LABEL_SNAPSHOT,
  LABEL_SNAPSHOT_EPHEMERAL,
  LABEL_SNAPSHOT_LABEL,
  LABEL_SNAPSHOT_SOURCE,
  LABEL_STATE_DIR,
  LABEL_UID,
  layerVolumeName,
  managedLabels,
  snapshotVolumeName,
  workspaceVolumeName,
} from '../runtime/labels.ts';
import { SANDBOX_USER } from './container-spec.ts';
import type { CreateOptions, SandboxManager } from './manager.ts';
import { PeriodicSweep } from './periodic-sweep.ts';
import type { Sandbox } from './sandbox.ts';
import {
  bytesLeft,
  DEFAULT_SNAPSHOT_LIMITS,
  MAX_SNAPSHOT_TTL_SECONDS,
  newSnapshotId,
  parseCopyResult,
  reapReason,
  type SnapshotFacts,
  SnapshotId,
  type SnapshotLimits,
  snapshotQuotaRefusal,
} from './snapshot-rules.ts';
import {
  COPY_CAPABILITIES,
  HELPER_LIMITS,
  LAYER_CAPABILITIES,
  LAYER_SCRIPT,
  RESTORE_SCRIPT,
  SNAPSHOT_SCRIPT,
} from './snapshot-scripts.ts';
import { volumeUser } from './uids.ts';

/** What the copy found, kept in the state directory: volume labels cannot change after the copy. */
const SnapshotRecord = z.object({
  files: z.number().int().nonnegative(),
  bytes: z.number().int().nonnegative(),
});

export interface SnapshotView extends SnapshotFacts {
  label: string | null;
  files: number;
  createdAt: Date;
  /** Whom its files belong to (uid = gid); a sandbox made from it runs as this uid. */
  uid: number;
  /** Forks whose files lie on it now: while any exists it cannot be deleted. */
  forks: string[];
}

export interface SnapshotOptions {
  label?: string | undefined;
  ttlSeconds?: number | undefined;
  isEphemeral?: boolean;
}

export interface RestoreResult {
  snapshotId: string;
  sandboxId: string;
  /** Commands that were running and were stopped by the restore. */
  stoppedCommands: number;
  files: number;
  bytes: number;
  ms: number;
}

/** What each new sandbox of a fork is made with, but for its id and workspace. */
export type ForkCreateOptions = Omit<CreateOptions, 'id' | 'workspace' | 'ownsVolume'>;

export interface SnapshotsOptions {
  manager: SandboxManager;
  limits?: Partial<SnapshotLimits>;
  now?: () => number;
}

/**
 * Snapshots of sandboxes' workspace volumes, restore, and forks. A snapshot is
 * a volume of its own (sandboxd-snap-<id>) that a helper container fills with a
 * copy of the workspace while the sandbox's processes are frozen; nothing ever
 * mounts it writable again. A fork's workspace is an overlay volume: the
 * snapshot's files as its read-only lower directory, and a layer volume of its
 * own for its writes. Everything is found again from the engine's labels and
 * the state directory's records after a restart.
 */
export class Snapshots {
  readonly limits: SnapshotLimits;
  readonly #manager: SandboxManager;
  readonly #now: () => number;
  /** Snapshots a copy, restore or fork works on now: the sweep leaves them, delete refuses. */
  readonly #busy = new Map<string, number>();
  /** Snapshots a delete or the sweep is deciding on or removing now, and when that ends: pins wait for it. */
  readonly #removing = new Map<string, Promise<void>>();
  /** One operation at a time per sandbox (a pause, a restore). */
  readonly #locks = new Map<string, Promise<unknown>>();
  readonly #periodic = new PeriodicSweep(
    () => this.#sweep(),
    (error) => this.#manager.log.error({ error: String(error) }, 'snapshot sweep failed'),
  );

  constructor(options: SnapshotsOptions) {
    this.#manager = options.manager;
    this.limits = { ...DEFAULT_SNAPSHOT_LIMITS, ...options.limits };
    this.#now = options.now ?? Date.now;
  }

  get #engine(): SnapshotEngine {
    const engine = this.#manager.driver.snapshots;
    if (engine === undefined) {
      throw new ToolError(
        'SANDBOX_UNAVAILABLE',
        `the ${this.#manager.driver.name} runtime driver cannot take snapshots`,
        { retryable: false },
      );
    }
    return engine;
  }

  #recordFile(snapshotId: string): string {
    return path.join(this.#manager.stateDir, 'snapshots', `${snapshotId}.json`);
  }

  async #readRecord(snapshotId: string): Promise<z.infer<typeof SnapshotRecord> | undefined> {
    try {
      return SnapshotRecord.parse(JSON.parse(await readFile(this.#recordFile(snapshotId), 'utf8')));
    } catch {
      return undefined;
    }
  }

  async #writeRecord(snapshotId: string, record: z.infer<typeof SnapshotRecord>): Promise<void> {
    const file = this.#recordFile(snapshotId);
    await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
    const temporary = `${file}.${randomBytes(4).toString('hex')}.tmp`;
    await writeFile(temporary, JSON.stringify(record), { mode: 0o600 });
    await rename(temporary, file);
  }

  /** Every snapshot of this control plane (its state directory), complete or not, with the forks on each. */
  async list(filter: { sandboxId?: string } = {}): Promise<SnapshotView[]> {
    const volumes = await this.#manager.driver.listVolumeLabels({
      [LABEL_STATE_DIR]: this.#manager.stateDir,
    });
    const forks = new Map<string, string[]>();
    for (const labels of volumes) {
      const base = labels[LABEL_BASE_SNAPSHOT];
      const id = labels[LABEL_ID];
      if (base !== undefined && id !== undefined) forks.set(base, [...(forks.get(base) ?? []), id]);
    }
    const views: SnapshotView[] = [];
    for (const labels of volumes) {
      const snapshotId = labels[LABEL_SNAPSHOT];
      if (snapshotId === undefined || !SnapshotId.safeParse(snapshotId).success) continue;
      const sandboxId = labels[LABEL_SNAPSHOT_SOURCE] ?? '';
      if (filter.sandboxId !== undefined && sandboxId !== filter.sandboxId) continue;
      const record = await this.#readRecord(snapshotId);
      views.push({
        snapshotId,
        sandboxId,
        label: labels[LABEL_SNAPSHOT_LABEL] ?? null,
        bytes: record?.bytes ?? 0,
        files: record?.files ?? 0,
        isComplete: record !== undefined,
        createdAt: new Date(labels[LABEL_CREATED] ?? 0),
        expiresAt: new Date(labels[LABEL_EXPIRES] ?? 0),
        isEphemeral: labels[LABEL_SNAPSHOT_EPHEMERAL] === 'true',
        uid: volumeUser(labels)?.uid ?? SANDBOX_USER.uid,
        forks: forks.get(snapshotId) ?? [],
      });
    }
    return views.sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime());
  }

  /** A complete snapshot, or NOT_FOUND. */
  async get(snapshotId: string): Promise<SnapshotView> {
    const found = SnapshotId.safeParse(snapshotId).success
      ? (await this.list()).find((snapshot) => snapshot.snapshotId === snapshotId && snapshot.isComplete)
      : undefined;
    if (found === undefined) {
      throw new ToolError('NOT_FOUND', `no snapshot ${snapshotId}`, { details: { snapshotId } });
    }
    return found;
  }

  /** The sandbox's workspace volume, or why it cannot be snapshotted or restored. */
  #volumeOf(sandbox: Sandbox): string {
    if (sandbox.workspace.kind !== 'volume') {
      throw new ToolError(
        'INVALID_ARGUMENT',
        `sandbox ${sandbox.id} works on a host folder; snapshots are taken of workspace volumes only`,
      );
    }
    return sandbox.workspace.name;
  }

  #helper(loaded: LoadedPolicy, purpose: string, script: string, mounts: HelperMount[]): HelperSpec {
    return {
      image: loaded.policy.image,
      labels: { [LABEL_HELPER]: purpose, [LABEL_STATE_DIR]: this.#manager.stateDir },
      script,
      args: [],
      env: {},
      mounts,
      capabilities: COPY_CAPABILITIES,
      seccompProfile: loaded.seccompProfile,
      ...HELPER_LIMITS,
    };
  }

  /** Runs `work` after every earlier operation on the same sandbox. */
  async #exclusive<T>(sandboxId: string, work: () => Promise<T>): Promise<T> {
    const previous = this.#locks.get(sandboxId) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(work);
    this.#locks.set(sandboxId, next);
    try {
      return await next;
    } finally {
      if (this.#locks.get(sandboxId) === next) this.#locks.delete(sandboxId);
    }
  }

  /**
   * Marks the snapshot in use until the returned function is called: the sweep
   * leaves it and delete refuses. Synchronous: nothing can slip in between a
   * check that no removal holds the snapshot and the pin.
   */
  #pin(snapshotId: string): () => void {
    if (this.#removing.has(snapshotId))
      throw new Error(`snapshot ${snapshotId} is pinned during its removal`);
    this.#busy.set(snapshotId, (this.#busy.get(snapshotId) ?? 0) + 1);
    let isPinned = true;
    return () => {
      if (!isPinned) return;
      isPinned = false;
      const left = (this.#busy.get(snapshotId) ?? 1) - 1;
      if (left === 0) this.#busy.delete(snapshotId);
      else this.#busy.set(snapshotId, left);
    };
  }

  /**
   * Runs `work` with an existing snapshot pinned, once any removal deciding on
   * it has ended; `work` reads the snapshot itself (get), so a snapshot that
   * removal took is NOT_FOUND.
   */
  async #pinned<T>(snapshotId: string, work: () => Promise<T>): Promise<T> {
    for (let removal = this.#removing.get(snapshotId); removal !== undefined; ) {
      await removal;
      removal = this.#removing.get(snapshotId);
    }
    const unpin = this.#pin(snapshotId);
    try {
      return await work();
    } finally {
      unpin();
    }
  }

  /**
   * Removes the snapshot if `decide` still wants it gone on facts read while no
   * copy, restore or fork can start on it (they wait until this ends).
   */
  async #removeIf(
    snapshotId: string,
    decide: (fresh: SnapshotView) => boolean,
  ): Promise<{ outcome: 'removed'; snapshot: SnapshotView } | { outcome: 'busy' | 'gone' | 'kept' }> {
    if (this.#busy.has(snapshotId) || this.#removing.has(snapshotId)) return { outcome: 'busy' };
    let done = () => {};
    this.#removing.set(
      snapshotId,
      new Promise<void>((resolve) => {
        done = resolve;
      }),
    );
    try {
      const fresh = (await this.list()).find((found) => found.snapshotId === snapshotId);
      if (fresh === undefined) return { outcome: 'gone' };
      if (!decide(fresh)) return { outcome: 'kept' };
      await this.#discard(snapshotId);
      return { outcome: 'removed', snapshot: fresh };
    } finally {
      this.#removing.delete(snapshotId);
      done();
    }
  }

  /**
   * Copies the sandbox's workspace into a new snapshot. Consistent: the
   * container is paused (every process frozen by the cgroup freezer, between two
   * system calls) for the whole copy, so the snapshot is the workspace at one
   * instant; commands carry on afterwards as if nothing happened.
   */
  async create(sandboxId: string, options: SnapshotOptions = {}): Promise<SnapshotView> {
    const { view, unpin } = await this.#take(sandboxId, options);
    unpin();
    return view;
  }

  /** create(), with the new snapshot still pinned: the caller unpins it. */
  async #take(
    sandboxId: string,
    options: SnapshotOptions,
  ): Promise<{ view: SnapshotView; unpin: () => void }> {
    const sandbox = this.#manager.get(sandboxId);
    const source = this.#volumeOf(sandbox);
    const engine = this.#engine;
    return this.#exclusive(sandboxId, async () => {
      const existing = await this.list();
      const refusal = snapshotQuotaRefusal(existing, sandboxId, this.limits);
      if (refusal !== undefined && !(options.isEphemeral && refusal.details?.limit === 'maxPerSandbox')) {
        throw refusal;
      }
      const snapshotId = newSnapshotId();
      const volume = snapshotVolumeName(snapshotId);
      const sourceInfo = await engine.volumeInfo(source);
      if (sourceInfo === undefined)
        throw new ToolError('NOT_FOUND', `the workspace volume ${source} is gone`);
      const uid = volumeUser(sourceInfo.labels)?.uid ?? SANDBOX_USER.uid;
      const ttlSeconds = Math.min(
        options.ttlSeconds ?? this.limits.defaultTtlSeconds,
        MAX_SNAPSHOT_TTL_SECONDS,
      );
      const createdAt = new Date(this.#now());
      const labels: Record<string, string> = {
        ...managedLabels,
        [LABEL_STATE_DIR]: this.#manager.stateDir,
        [LABEL_SNAPSHOT]: snapshotId,
        [LABEL_SNAPSHOT_SOURCE]: sandboxId,
        [LABEL_UID]: String(uid),
        [LABEL_CREATED]: createdAt.toISOString(),
        [LABEL_EXPIRES]: new Date(createdAt.getTime() + ttlSeconds * 1000).toISOString(),
      };
      if (options.label !== undefined) labels[LABEL_SNAPSHOT_LABEL] = options.label;
      if (options.isEphemeral) labels[LABEL_SNAPSHOT_EPHEMERAL] = 'true';
      const unpin = this.#pin(snapshotId);
      try {
        await this.#manager.driver.createVolume(volume, labels);
        const spec = this.#helper(sandbox.loaded, 'snapshot', SNAPSHOT_SCRIPT, [
          { volume: source, target: '/src', isReadOnly: true },
          { volume, target: '/dst', isReadOnly: false },
        ]);
        spec.env = { MAX_BYTES: String(Math.max(0, bytesLeft(existing, this.limits))) };
        const started = performance.now();
        const result = await this.#frozen(sandbox, () => engine.runHelper(spec));
        if (result.exitCode === 3) {
          throw new ToolError('QUOTA_EXCEEDED', `the workspace is larger than the snapshot bytes left`, {
            retryable: false,
            details: { limit: 'maxBytes', value: this.limits.maxBytes },
          });
        }
        const counts = parseCopyResult(result.output);
        if (result.exitCode !== 0 || counts === undefined) {
          throw new ToolError('INTERNAL_ERROR', `the snapshot copy failed (exit ${result.exitCode})`, {
            details: { output: result.output.slice(-1000) },
          });
        }
        await this.#writeRecord(snapshotId, counts);
        this.#manager.log.info(
          { sandboxId, snapshotId, ...counts, ms: Math.round(performance.now() - started) },
          'snapshot taken',
        );
        const view: SnapshotView = {
          snapshotId,
          sandboxId,
          label: options.label ?? null,
          ...counts,
          isComplete: true,
          createdAt,
          expiresAt: new Date(labels[LABEL_EXPIRES] as string),
          isEphemeral: options.isEphemeral ?? false,
          uid,
          forks: [],
        };
        return { view, unpin };
      } catch (error) {
        await this.#discard(snapshotId).finally(unpin);
        throw error;
      }
    });
  }

  /** Runs `work` with the sandbox's container paused, if it runs. */
  async #frozen<T>(sandbox: Sandbox, work: () => Promise<T>): Promise<T> {
    const engine = this.#engine;
    const info =
      sandbox.containerId === undefined ? undefined : await this.#manager.driver.inspect(sandbox.containerId);
    const isRunning = info?.state === 'running';
    if (isRunning) await engine.pause(info.id);
    try {
      return await work();
    } finally {
      if (isRunning) await engine.unpause(info.id);
    }
  }

  async #discard(snapshotId: string): Promise<void> {
    await this.#manager.driver.removeVolume(snapshotVolumeName(snapshotId));
    await rm(this.#recordFile(snapshotId), { force: true });
  }

  /** Deletes a snapshot; refused while forks' files lie on it or a copy, restore or fork reads it. */
  async remove(snapshotId: string): Promise<void> {
    // A removal deciding on it now (the sweep's, another delete's) ends first: then it is gone, or ours to decide.
    for (let removal = this.#removing.get(snapshotId); removal !== undefined; ) {
      await removal;
      removal = this.#removing.get(snapshotId);
    }
    const removal = await this.#removeIf(snapshotId, (snapshot) => {
      if (snapshot.forks.length > 0) {
        throw new ToolError(
          'SNAPSHOT_IN_USE',
          `snapshot ${snapshotId} lies under ${snapshot.forks.length} fork(s); delete them first`,
          { details: { snapshotId, forks: snapshot.forks } },
        );
      }
      return true;
    });
    if (removal.outcome === 'gone') throw new ToolError('NOT_FOUND', `no snapshot ${snapshotId}`);
    if (removal.outcome !== 'removed') {
      throw new ToolError(
        'SNAPSHOT_IN_USE',
        `snapshot ${snapshotId} is being copied, restored, forked or deleted now`,
        { details: { snapshotId, forks: [] } },
      );
    }
    this.#manager.log.info({ snapshotId }, 'snapshot deleted');
  }

  /**
   * Puts the snapshot's files back into the sandbox's workspace. Its container is
   * stopped first (every command ends; their number is returned), the workspace
   * emptied and filled from the snapshot, and the container started again; tool
   * calls that arrive meanwhile wait for it.
   */
  async restore(sandboxId: string, snapshotId: string): Promise<RestoreResult> {
    const sandbox = this.#manager.get(sandboxId);
    const target = this.#volumeOf(sandbox);
    const engine = this.#engine;
    return this.#pinned(snapshotId, async () => {
      const snapshot = await this.get(snapshotId);
      return this.#exclusive(sandboxId, async () => {
        const started = performance.now();
        const targetInfo = await engine.volumeInfo(target);
        const user = volumeUser(targetInfo?.labels ?? {}) ?? SANDBOX_USER;
        let stoppedCommands = 0;
        let release = () => {};
        sandbox.maintenance = new Promise<void>((resolve) => {
          release = resolve;
        });
        let counts: { files: number; bytes: number } | undefined;
        try {
          if (sandbox.link.isReady) {
            const status = await sandbox.link.call('ping', {}, { timeoutMs: 5000 }).catch(() => undefined);
            stoppedCommands = status?.activeCommands ?? 0;
          }
          await this.#manager.stop(sandboxId, 'restore');
          const spec = this.#helper(sandbox.loaded, 'restore', RESTORE_SCRIPT, [
            { volume: snapshotVolumeName(snapshotId), target: '/src', isReadOnly: true },
            { volume: target, target: '/dst', isReadOnly: false },
          ]);
          spec.env = { OWNER: user.uid === snapshot.uid ? '' : `${user.uid}:${user.gid}` };
          const result = await engine.runHelper(spec);
          counts = parseCopyResult(result.output);
          if (result.exitCode !== 0 || counts === undefined) {
            throw new ToolError('INTERNAL_ERROR', `the restore copy failed (exit ${result.exitCode})`, {
              details: { output: result.output.slice(-1000) },
            });
          }
        } finally {
          sandbox.maintenance = undefined;
          release();
        }
        await this.#manager.acquire(sandboxId);
        const ms = Math.round(performance.now() - started);
        this.#manager.log.info({ sandboxId, snapshotId, stoppedCommands, ms }, 'snapshot restored');
        return { snapshotId, sandboxId, stoppedCommands, ...counts, ms };
      });
    });
  }

  /**
   * `count` new sandboxes over the snapshot's files, copy-on-write: each gets a
   * layer volume and an overlay volume over the snapshot, then a worker like any
   * sandbox. They run as the snapshot's uid (its files are that uid's).
   */
  async fork(
    snapshotId: string,
    count: number,
    optionsFor: (id: string) => ForkCreateOptions,
  ): Promise<Sandbox[]> {
    return this.#pinned(snapshotId, async () =>
      this.#forkPinned(await this.get(snapshotId), count, optionsFor),
    );
  }

  /**
   * `count` new sandboxes from the sandbox's files now, over a snapshot of their
   * own (ephemeral: the sweep removes it once the last of them is gone). The
   * snapshot stays pinned from its copy to its forks, so no sweep takes it in between.
   */
  async forkSandbox(
    sandboxId: string,
    count: number,
    optionsFor: (id: string) => ForkCreateOptions,
  ): Promise<{ snapshotId: string; sandboxes: Sandbox[] }> {
    this.#checkFork(count);
    const { view, unpin } = await this.#take(sandboxId, { isEphemeral: true, label: `fork of ${sandboxId}` });
    try {
      return { snapshotId: view.snapshotId, sandboxes: await this.#forkPinned(view, count, optionsFor) };
    } finally {
      unpin();
    }
  }

  /** Refuses a count past the fork limit, or more sandboxes than the quota leaves. */
  #checkFork(count: number): void {
    if (count < 1 || count > this.limits.maxForks) {
      throw new ToolError('INVALID_ARGUMENT', `count: 1 to ${this.limits.maxForks} sandboxes per fork`);
    }
    const { quotas } = this.#manager;
    const live = this.#manager.list().filter((sandbox) => sandbox.isLive).length;
    if (live + count > quotas.maxSandboxes) {
      throw new ToolError(
        'QUOTA_EXCEEDED',
        `${count} more sandboxes would pass the limit of ${quotas.maxSandboxes} (${live} run)`,
        { details: { limit: 'maxSandboxes', value: quotas.maxSandboxes } },
      );
    }
  }

  /** fork() over a snapshot the caller has pinned. */
  async #forkPinned(
    snapshot: SnapshotView,
    count: number,
    optionsFor: (id: string) => ForkCreateOptions,
  ): Promise<Sandbox[]> {
    const engine = this.#engine;
    const { snapshotId } = snapshot;
    this.#checkFork(count);
    const ids = Array.from({ length: count }, () => `sb-${randomBytes(6).toString('hex')}`);
    const createOptions = new Map(ids.map((id) => [id, optionsFor(id)]));
    const lower = snapshotVolumeName(snapshotId);
    const common = {
      ...managedLabels,
      [LABEL_STATE_DIR]: this.#manager.stateDir,
      [LABEL_BASE_SNAPSHOT]: snapshotId,
    };
    try {
      await Promise.all(ids.map((id) => this.#manager.driver.createVolume(layerVolumeName(id), common)));
      const spec = this.#helper(
        (createOptions.get(ids[0] as string) as ForkCreateOptions).policy,
        'layer',
        LAYER_SCRIPT,
        [
          { volume: lower, target: '/snap', isReadOnly: true },
          ...ids.map((id, index) => ({
            volume: layerVolumeName(id),
            target: `/l${index}`,
            isReadOnly: false,
          })),
        ],
      );
      spec.args = ids.map((_, index) => `/l${index}`);
      spec.capabilities = LAYER_CAPABILITIES;
      const layered = await engine.runHelper(spec);
      if (layered.exitCode !== 0) {
        throw new ToolError(
          'INTERNAL_ERROR',
          `preparing the forks' layers failed (exit ${layered.exitCode})`,
          {
            details: { output: layered.output.slice(-1000) },
          },
        );
      }
      await Promise.all(
        ids.map((id) =>
          engine.createOverlayVolume(
            workspaceVolumeName(id),
            { ...common, [LABEL_ID]: id, [LABEL_UID]: String(snapshot.uid) },
            { lower, layer: layerVolumeName(id) },
          ),
        ),
      );
    } catch (error) {
      await this.#removeForkVolumes(ids);
      throw error;
    }
    const made = await Promise.allSettled(
      ids.map((id) =>
        this.#manager.create({
          ...(createOptions.get(id) as ForkCreateOptions),
          id,
          workspace: { kind: 'volume', name: workspaceVolumeName(id) },
          ownsVolume: true,
        }),
      ),
    );
    const failure = made.find((outcome) => outcome.status === 'rejected');
    if (failure !== undefined) {
      // All or none: the caller gets every fork or an error, never some it cannot name.
      await Promise.allSettled(
        made.flatMap((outcome) =>
          outcome.status === 'fulfilled' ? [this.#manager.destroy(outcome.value.id)] : [],
        ),
      );
      await this.#removeForkVolumes(ids);
      throw failure.reason;
    }
    const sandboxes = made.map((outcome) => (outcome as PromiseFulfilledResult<Sandbox>).value);
    this.#manager.log.info({ snapshotId, forks: ids }, 'forked');
    return sandboxes;
  }

  async #removeForkVolumes(ids: string[]): Promise<void> {
    const { driver } = this.#manager;
    await Promise.allSettled(
      ids.map(async (id) => {
        await driver.removeVolume(workspaceVolumeName(id));
        await driver.removeVolume(layerVolumeName(id));
      }),
    );
  }

  start(intervalMs: number): void {
    this.#periodic.start(intervalMs);
  }

  stop(): Promise<void> {
    return this.#periodic.stop();
  }

  /** Removes expired snapshots no fork uses, forks' own ones once unused, and copies that never finished. */
  sweep(): Promise<void> {
    return this.#periodic.sweep();
  }

  async #sweep(): Promise<void> {
    const now = this.#now();
    const reasonFor = (snapshot: SnapshotView, isBusy = false) =>
      reapReason(snapshot, snapshot.forks.length, isBusy, now);
    for (const seen of await this.list()) {
      if (reasonFor(seen, this.#busy.has(seen.snapshotId)) === undefined) continue;
      // The list may be out of date by now (a fork made, a copy finished): decided again on fresh facts.
      const removal = await this.#removeIf(seen.snapshotId, (fresh) => reasonFor(fresh) !== undefined).catch(
        (error: unknown) => {
          this.#manager.log.warn(
            { snapshotId: seen.snapshotId, error: String(error) },
            'snapshot not removed',
          );
          return undefined;
        },
      );
      if (removal?.outcome !== 'removed') continue;
      const reason = reasonFor(removal.snapshot);
      if (reason === undefined) continue;
      this.#manager.log.info({ snapshotId: seen.snapshotId, reason }, 'snapshot reaped');
      this.#manager.emit('snapshot-reaped', seen.snapshotId, reason);
    }
  }
}
