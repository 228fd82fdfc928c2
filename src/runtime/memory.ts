import type {
  ContainerInfo,
  ContainerSpec,
  ContainerState,
  HelperResult,
  HelperSpec,
  RuntimeDriver,
  RuntimeFacts,
  SnapshotEngine,
  VolumeInfo,
} from './driver.ts';

/** What runs "inside" an in-memory container while it is running: an in-process agent, or nothing. */
export interface MemoryWorkload {
  stop(): void | Promise<void>;
}

export interface MemoryDriverOptions {
  /** Image references that exist; `hasImage` is false for any other. */
  images?: string[];
  /** Started with each container (start), stopped with it (stop, remove, exit). */
  run?: (spec: ContainerSpec) => MemoryWorkload;
  /**
   * Gives the driver a snapshot engine whose helpers copy nothing: each answers
   * `result 1 1` once `helper` (awaited first, e.g. to hold a copy midway) returns.
   */
  snapshots?: { helper?: (spec: HelperSpec) => Promise<void> };
}

interface MemoryContainer {
  spec: ContainerSpec;
  info: ContainerInfo;
  workload: MemoryWorkload | undefined;
}

function hasLabels(have: Record<string, string>, want: Record<string, string>): boolean {
  return Object.entries(want).every(([key, value]) => have[key] === value);
}

/**
 * A container engine in memory, the twin of the Docker driver for unit tests:
 * quotas, reaping, reconcile, the pool and /v1 run against it in milliseconds.
 * Nothing is isolated and nothing runs but the workload the test gives; the
 * Docker driver keeps its own tests on the real engine.
 */
export class MemoryDriver implements RuntimeDriver {
  readonly name = 'memory';
  readonly #images: Set<string>;
  readonly #run: MemoryDriverOptions['run'];
  readonly #volumes = new Map<string, Record<string, string>>();
  readonly #containers = new Map<string, MemoryContainer>();
  #nextId = 1;
  readonly snapshots?: SnapshotEngine;

  constructor(options: MemoryDriverOptions = {}) {
    this.#images = new Set(options.images ?? []);
    this.#run = options.run;
    const helper = options.snapshots?.helper;
    if (options.snapshots !== undefined) this.snapshots = this.#snapshotEngine(helper);
  }

  #snapshotEngine(helper: ((spec: HelperSpec) => Promise<void>) | undefined): SnapshotEngine {
    return {
      pause: async (id) => void this.#get(id),
      unpause: async (id) => void this.#get(id),
      volumeInfo: async (name): Promise<VolumeInfo | undefined> => {
        const labels = this.#volumes.get(name);
        return labels === undefined ? undefined : { labels: { ...labels }, mountpoint: `/memory/${name}` };
      },
      createOverlayVolume: async (name, labels) => void (await this.createVolume(name, labels)),
      runHelper: async (spec): Promise<HelperResult> => {
        await helper?.(spec);
        // As an engine does: a volume a container mounts is created if it does not exist.
        for (const mount of spec.mounts) await this.createVolume(mount.volume, {});
        return { exitCode: 0, output: 'result 1 1\n' };
      },
    };
  }

  async facts(): Promise<RuntimeFacts> {
    return { engineVersion: 'memory', apiVersion: '0', runtimes: ['runc'], cpus: 1, memoryBytes: 1024 ** 3 };
  }

  async hasImage(ref: string): Promise<boolean> {
    return this.#images.has(ref);
  }

  async imageId(ref: string): Promise<string | undefined> {
    return this.#images.has(ref) ? `sha256:${ref}` : undefined;
  }

  async createVolume(name: string, labels: Record<string, string>): Promise<Record<string, string>> {
    const kept = this.#volumes.get(name);
    if (kept !== undefined) return kept;
    this.#volumes.set(name, { ...labels });
    return { ...labels };
  }

  async removeVolume(name: string): Promise<void> {
    this.#volumes.delete(name);
  }

  async listVolumes(labels: Record<string, string>): Promise<string[]> {
    return [...this.#volumes].filter(([, have]) => hasLabels(have, labels)).map(([name]) => name);
  }

  async listVolumeLabels(labels: Record<string, string>): Promise<Record<string, string>[]> {
    return [...this.#volumes.values()].filter((have) => hasLabels(have, labels));
  }

  async create(spec: ContainerSpec): Promise<string> {
    const id = `mem-${this.#nextId++}`;
    this.#containers.set(id, {
      spec,
      workload: undefined,
      info: {
        id,
        name: spec.name,
        state: 'created',
        labels: { ...spec.labels },
        exitCode: null,
        isOomKilled: false,
        imageId: `sha256:${spec.image}`,
        createdMs: Date.now(),
      },
    });
    return id;
  }

  async start(id: string): Promise<void> {
    const container = this.#get(id);
    if (container.info.state === 'running') return;
    container.info.state = 'running';
    container.info.exitCode = null;
    container.workload = this.#run?.(container.spec);
  }

  async stop(id: string): Promise<void> {
    await this.exit(id, 0);
  }

  async remove(id: string): Promise<void> {
    if (!this.#containers.has(id)) return;
    await this.exit(id, 137);
    this.#containers.delete(id);
  }

  async inspect(id: string): Promise<ContainerInfo | undefined> {
    const container = this.#containers.get(id);
    return container === undefined ? undefined : { ...container.info, labels: { ...container.info.labels } };
  }

  async list(labels: Record<string, string>): Promise<ContainerInfo[]> {
    return [...this.#containers.values()]
      .filter((container) => hasLabels(container.info.labels, labels))
      .map((container) => ({ ...container.info, labels: { ...container.info.labels } }));
  }

  async logsTail(): Promise<string> {
    return '';
  }

  /** The container's workload ends (a crash, the OOM killer, an engine restart): it is exited. */
  async exit(id: string, exitCode: number, state: ContainerState = 'exited'): Promise<void> {
    const container = this.#get(id);
    const workload = container.workload;
    container.workload = undefined;
    if (container.info.state === 'running') {
      container.info.state = state;
      container.info.exitCode = exitCode;
    }
    await workload?.stop();
  }

  /** The container is removed behind sandboxd's back (`docker rm -f`). */
  async vanish(id: string): Promise<void> {
    await this.remove(id);
  }

  /** Names of the volumes that exist. */
  volumeNames(): string[] {
    return [...this.#volumes.keys()];
  }

  #get(id: string): MemoryContainer {
    const container = this.#containers.get(id);
    if (container === undefined) throw new Error(`no container ${id}`);
    return container;
  }
}
