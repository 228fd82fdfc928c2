import type {
  V1NetworkPolicy,
  V1ObjectMeta,
  V1PersistentVolumeClaim,
  V1Pod,
  V1Secret,
} from '@kubernetes/client-node';
import { type KubeApi, KubeApiError, type WatchEvent, type WatchHandle } from './api.ts';

interface Watcher {
  selector: Record<string, string>;
  onEvent: (type: WatchEvent, pod: V1Pod) => void;
  done: (error?: unknown) => void;
}

function parseSelector(selector: string): Record<string, string> {
  return Object.fromEntries(selector.split(',').map((pair) => pair.split('=', 2) as [string, string]));
}

function selects(selector: Record<string, string>, metadata: V1ObjectMeta | undefined): boolean {
  return Object.entries(selector).every(([key, value]) => metadata?.labels?.[key] === value);
}

/**
 * An in-memory twin of the namespace's API for the driver's unit tests: names
 * conflict (409), missing objects are 404, every change bumps the resource
 * version and reaches the watches, and `expire()` ends them with 410 as a
 * server does when a resource version is too old. Pods go Pending → Running
 * when told to (`run`), as a kubelet would.
 */
export class MemoryKubeApi implements KubeApi {
  readonly namespace: string;
  readonly pods = new Map<string, V1Pod>();
  readonly secrets = new Map<string, V1Secret>();
  readonly policies = new Map<string, V1NetworkPolicy>();
  readonly claims = new Map<string, V1PersistentVolumeClaim>();
  readonly calls: string[] = [];
  #version = 1;
  #uid = 1;
  #watchers = new Set<Watcher>();
  /** Resource versions older than this are gone (410). */
  #oldestVersion = 0;

  constructor(namespace = 'sandboxd') {
    this.namespace = namespace;
  }

  #stamp<T extends { metadata?: V1ObjectMeta }>(object: T): T {
    const copy = structuredClone(object);
    copy.metadata = {
      ...copy.metadata,
      resourceVersion: String(++this.#version),
      uid: copy.metadata?.uid ?? `uid-${this.#uid++}`,
      creationTimestamp: copy.metadata?.creationTimestamp ?? new Date(),
    };
    return copy;
  }

  #emit(type: WatchEvent, pod: V1Pod): void {
    for (const watcher of this.#watchers) {
      if (selects(watcher.selector, pod.metadata)) watcher.onEvent(type, structuredClone(pod));
    }
  }

  async version(): Promise<string> {
    return 'v1.30.0-memory';
  }

  async createPod(pod: V1Pod): Promise<V1Pod> {
    const name = pod.metadata?.name ?? '';
    this.calls.push(`create pod ${name}`);
    if (this.pods.has(name)) throw new KubeApiError(409, `pods "${name}" already exists`);
    const stored = this.#stamp({ ...pod, status: { phase: 'Pending' } });
    this.pods.set(name, stored);
    this.#emit('ADDED', stored);
    return structuredClone(stored);
  }

  /** The kubelet started it (or it ended: 'Succeeded' / 'Failed'). */
  setPhase(name: string, phase: 'Running' | 'Succeeded' | 'Failed', exitCode = 0): void {
    const pod = this.pods.get(name);
    if (pod === undefined) throw new Error(`no pod ${name}`);
    const terminated =
      phase === 'Running' ? undefined : { exitCode, reason: exitCode === 137 ? 'OOMKilled' : 'Error' };
    const updated = this.#stamp({
      ...pod,
      status: {
        phase,
        containerStatuses: [
          {
            name: 'worker',
            image: pod.spec?.containers[0]?.image ?? '',
            imageID: '',
            ready: phase === 'Running',
            restartCount: 0,
            state: terminated === undefined ? { running: {} } : { terminated },
          },
        ],
      },
    });
    this.pods.set(name, updated);
    this.#emit('MODIFIED', updated);
  }

  /** The kubelet cannot create the container (e.g. its seccomp profile is missing on the node). */
  setWaiting(name: string, reason: string, message: string): void {
    const pod = this.pods.get(name);
    if (pod === undefined) throw new Error(`no pod ${name}`);
    const image = pod.spec?.containers[0]?.image ?? '';
    const updated = this.#stamp({
      ...pod,
      status: {
        phase: 'Pending',
        containerStatuses: [
          {
            name: 'worker',
            image,
            imageID: '',
            ready: false,
            restartCount: 0,
            state: { waiting: { reason, message } },
          },
        ],
      },
    });
    this.pods.set(name, updated);
    this.#emit('MODIFIED', updated);
  }

  async readPod(name: string): Promise<V1Pod> {
    const pod = this.pods.get(name);
    if (pod === undefined) throw new KubeApiError(404, `pods "${name}" not found`);
    return structuredClone(pod);
  }

  async deletePod(name: string): Promise<void> {
    this.calls.push(`delete pod ${name}`);
    const pod = this.pods.get(name);
    if (pod === undefined) throw new KubeApiError(404, `pods "${name}" not found`);
    this.pods.delete(name);
    // The garbage collector: what the pod owns goes with it.
    const uid = pod.metadata?.uid;
    for (const owned of [this.secrets, this.policies] as Map<string, { metadata?: V1ObjectMeta }>[]) {
      for (const [key, object] of owned) {
        if (object.metadata?.ownerReferences?.some((owner) => owner.uid === uid)) owned.delete(key);
      }
    }
    this.#emit('DELETED', this.#stamp(pod));
  }

  async listPods(labelSelector: string): Promise<{ items: V1Pod[]; resourceVersion: string }> {
    this.calls.push('list pods');
    const selector = parseSelector(labelSelector);
    const items = [...this.pods.values()].filter((pod) => selects(selector, pod.metadata));
    return { items: structuredClone(items), resourceVersion: String(this.#version) };
  }

  async watchPods(
    labelSelector: string,
    resourceVersion: string,
    onEvent: (type: WatchEvent, pod: V1Pod) => void,
    done: (error?: unknown) => void,
  ): Promise<WatchHandle> {
    this.calls.push(`watch pods from ${resourceVersion}`);
    if (Number(resourceVersion) < this.#oldestVersion) {
      setImmediate(() => done(new KubeApiError(410, 'too old resource version')));
      return { abort: () => undefined };
    }
    const watcher: Watcher = { selector: parseSelector(labelSelector), onEvent, done };
    this.#watchers.add(watcher);
    return { abort: () => this.#watchers.delete(watcher) };
  }

  /** Ends every watch with 410, and forgets every version up to now (a compaction). */
  expire(): void {
    this.#oldestVersion = this.#version + 1;
    for (const watcher of this.#watchers) watcher.done(new KubeApiError(410, 'too old resource version'));
    this.#watchers.clear();
  }

  /** Ends every watch normally, as a server does after its timeout. */
  closeWatches(): void {
    for (const watcher of this.#watchers) watcher.done();
    this.#watchers.clear();
  }

  /** A change the watch does not see (made while no watch was open). */
  createPodUnwatched(pod: V1Pod): void {
    const stored = this.#stamp({ ...pod, status: { phase: 'Running' } });
    this.pods.set(stored.metadata?.name ?? '', stored);
  }

  async podLogs(name: string): Promise<string> {
    return `logs of ${name}\n`;
  }

  async createSecret(secret: V1Secret): Promise<V1Secret> {
    return this.#create(this.secrets, secret, 'secrets');
  }

  async replaceSecret(secret: V1Secret): Promise<V1Secret> {
    return this.#replace(this.secrets, secret, 'secrets');
  }

  async createNetworkPolicy(policy: V1NetworkPolicy): Promise<V1NetworkPolicy> {
    return this.#create(this.policies, policy, 'networkpolicies');
  }

  async replaceNetworkPolicy(policy: V1NetworkPolicy): Promise<V1NetworkPolicy> {
    return this.#replace(this.policies, policy, 'networkpolicies');
  }

  async createClaim(claim: V1PersistentVolumeClaim): Promise<V1PersistentVolumeClaim> {
    return this.#create(this.claims, claim, 'persistentvolumeclaims');
  }

  async readClaim(name: string): Promise<V1PersistentVolumeClaim> {
    const claim = this.claims.get(name);
    if (claim === undefined) throw new KubeApiError(404, `persistentvolumeclaims "${name}" not found`);
    return structuredClone(claim);
  }

  async deleteClaim(name: string): Promise<void> {
    if (!this.claims.delete(name)) throw new KubeApiError(404, `persistentvolumeclaims "${name}" not found`);
  }

  async listClaims(labelSelector: string): Promise<V1PersistentVolumeClaim[]> {
    const selector = parseSelector(labelSelector);
    return structuredClone([...this.claims.values()].filter((claim) => selects(selector, claim.metadata)));
  }

  #create<T extends { metadata?: V1ObjectMeta }>(store: Map<string, T>, object: T, kind: string): T {
    const name = object.metadata?.name ?? '';
    this.calls.push(`create ${kind} ${name}`);
    if (store.has(name)) throw new KubeApiError(409, `${kind} "${name}" already exists`);
    const stored = this.#stamp(object);
    store.set(name, stored);
    return structuredClone(stored);
  }

  #replace<T extends { metadata?: V1ObjectMeta }>(store: Map<string, T>, object: T, kind: string): T {
    const name = object.metadata?.name ?? '';
    this.calls.push(`replace ${kind} ${name}`);
    if (!store.has(name)) throw new KubeApiError(404, `${kind} "${name}" not found`);
    const stored = this.#stamp(object);
    store.set(name, stored);
    return structuredClone(stored);
  }
}
