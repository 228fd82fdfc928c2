import { readFile } from 'node:fs/promises';
import type { V1ObjectMeta, V1OwnerReference, V1Pod } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type {
  ContainerInfo,
  ContainerSpec,
  ContainerState,
  RuntimeDriver,
  RuntimeFacts,
  SeccompInForce,
} from '../driver.ts';
import { LABEL_MANAGED, LABEL_SECCOMP } from '../labels.ts';
import { type KubeApi, statusOf, type WatchEvent, type WatchHandle } from './api.ts';
import {
  claimManifest,
  networkPolicyManifest,
  type PodSettings,
  podManifest,
  secretManifest,
  secretSources,
} from './manifests.ts';

/** Every object the driver makes carries this label: the watch and reconcile select by it. */
const SELECTOR = `${LABEL_MANAGED}=true`;
const MAX_REWATCH_DELAY_MS = 5000;

function labelsOf(metadata: V1ObjectMeta | undefined): Record<string, string> {
  // Annotations carry every label whole (label values cannot hold paths or timestamps).
  return { ...metadata?.labels, ...metadata?.annotations };
}

function matches(labels: Record<string, string>, wanted: Record<string, string>): boolean {
  return Object.entries(wanted).every(([key, value]) => labels[key] === value);
}

/** A pod as the manager sees a container. */
export function containerInfoOf(pod: V1Pod): ContainerInfo {
  const status = pod.status?.containerStatuses?.[0];
  const terminated = status?.state?.terminated;
  let state: ContainerState;
  if (pod.metadata?.deletionTimestamp !== undefined) state = 'removing';
  else if (pod.status?.phase === 'Running') state = 'running';
  else if (pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') state = 'exited';
  else state = 'created';
  return {
    id: pod.metadata?.name ?? '',
    name: pod.metadata?.name ?? '',
    state,
    labels: labelsOf(pod.metadata),
    exitCode: terminated === undefined ? null : terminated.exitCode,
    isOomKilled: terminated?.reason === 'OOMKilled',
    // The cluster pulls by reference; the reference is what names the image here.
    imageId: pod.spec?.containers[0]?.image ?? '',
    createdMs: new Date(pod.metadata?.creationTimestamp ?? 0).getTime(),
  };
}

export interface KubernetesDriverOptions {
  api: KubeApi;
  settings: PodSettings;
  log: Logger;
}

/**
 * Runs workers as pods in one namespace. A watch keeps every sandboxd pod in a
 * cache (listed once, then kept current; a resource version that expired means
 * listing again), so inspect() and list() read memory, not the API. A pod
 * cannot be stopped: stop() deletes it and start() makes it again from the spec
 * it was created with; the PVC keeps the workspace. The pod's Secret and
 * NetworkPolicy belong to it (ownerReferences): the cluster removes them with it.
 */
export class KubernetesDriver implements RuntimeDriver {
  readonly name = 'kubernetes';
  readonly #api: KubeApi;
  readonly #settings: PodSettings;
  readonly #log: Logger;
  readonly #pods = new Map<string, V1Pod>();
  readonly #specs = new Map<string, ContainerSpec>();
  /** Pods being made again under RuntimeDefault (their node lacks our profile). */
  readonly #fallingBack = new Set<string>();
  /** Pods that run under RuntimeDefault: made again (start after stop) under it too. */
  readonly #fellBack = new Set<string>();
  #resourceVersion = '';
  #isSynced = false;
  #watch: WatchHandle | undefined;
  #isClosed = false;
  #rewatchDelayMs = 100;
  #rewatchTimer: NodeJS.Timeout | undefined;

  constructor(options: KubernetesDriverOptions) {
    this.#api = options.api;
    this.#settings = options.settings;
    this.#log = options.log;
  }

  /** Lists the pods once and watches from there; resolves once the cache holds them. */
  async startWatching(): Promise<void> {
    await this.#relist();
    await this.#watchFrom();
  }

  close(): void {
    this.#isClosed = true;
    clearTimeout(this.#rewatchTimer);
    this.#watch?.abort();
  }

  async #relist(): Promise<void> {
    const { items, resourceVersion } = await this.#api.listPods(SELECTOR);
    this.#pods.clear();
    for (const pod of items) this.#pods.set(pod.metadata?.name ?? '', pod);
    this.#resourceVersion = resourceVersion;
    this.#isSynced = true;
  }

  async #watchFrom(): Promise<void> {
    if (this.#isClosed) return;
    this.#watch = await this.#api.watchPods(
      SELECTOR,
      this.#resourceVersion,
      (type, pod) => this.#onEvent(type, pod),
      (error) => this.#onWatchEnd(error),
    );
  }

  #onEvent(type: WatchEvent, pod: V1Pod): void {
    const name = pod.metadata?.name ?? '';
    if (pod.metadata?.resourceVersion !== undefined) this.#resourceVersion = pod.metadata.resourceVersion;
    this.#rewatchDelayMs = 100;
    if (type === 'ADDED' || type === 'MODIFIED') this.#pods.set(name, pod);
    else if (type === 'DELETED') this.#pods.delete(name);
    if (type === 'MODIFIED' && lacksProfile(pod)) this.#fallBack(name);
  }

  /**
   * The node could not load our seccomp profile: the pod is made again under the
   * runtime's default, labelled so (GET /v1/sandboxes/:id reports it), when the
   * operator allows it. Its sandbox waits for the agent meanwhile, as for any start.
   */
  #fallBack(name: string): void {
    const spec = this.#specs.get(name);
    if (!this.#settings.seccompFallback || spec === undefined || this.#fallingBack.has(name)) return;
    this.#fallingBack.add(name);
    this.#log.warn(
      { pod: name },
      'kubernetes: the node lacks the seccomp profile; making the pod again under RuntimeDefault',
    );
    const settings: PodSettings = { ...this.#settings, seccomp: { kind: 'runtime-default' } };
    void this.#api
      .deletePod(name, 0)
      .catch(ignoreStatus(404))
      .then(() => this.#waitGone(name))
      .then(() => {
        this.#fellBack.add(name);
        return this.#createPod(spec, settings);
      })
      .catch((error: unknown) =>
        this.#log.error({ pod: name, error: String(error) }, 'kubernetes: the pod could not be made again'),
      )
      .finally(() => this.#fallingBack.delete(name));
  }

  seccompOf(id: string): SeccompInForce {
    const pod = this.#pods.get(id);
    return labelsOf(pod?.metadata)[LABEL_SECCOMP] === 'runtime-default' ? 'runtime-default' : 'policy';
  }

  /** A watch ends (the server closes them every few minutes, or an error): watch again, listing first if expired. */
  #onWatchEnd(error: unknown): void {
    this.#watch = undefined;
    if (this.#isClosed) return;
    const isExpired = statusOf(error) === 410;
    if (error !== undefined && !isExpired)
      this.#log.warn({ error: String(error) }, 'kubernetes: pod watch ended');
    const delay = isExpired ? 0 : this.#rewatchDelayMs;
    this.#rewatchDelayMs = Math.min(this.#rewatchDelayMs * 2, MAX_REWATCH_DELAY_MS);
    this.#rewatchTimer = setTimeout(() => {
      const resume = isExpired ? this.#relist().then(() => this.#watchFrom()) : this.#watchFrom();
      resume.catch((failure: unknown) => this.#onWatchEnd(failure));
    }, delay);
  }

  async facts(): Promise<RuntimeFacts> {
    return {
      engineVersion: await this.#api.version(),
      apiVersion: 'v1',
      runtimes: ['runc', 'runsc'],
      cpus: 0,
      memoryBytes: 0,
    };
  }

  /** The kubelet pulls images on the nodes; the control plane cannot see them. */
  async hasImage(): Promise<boolean> {
    return true;
  }

  async imageId(ref: string): Promise<string | undefined> {
    return ref;
  }

  async createVolume(name: string, labels: Record<string, string>): Promise<Record<string, string>> {
    try {
      await this.#api.createClaim(claimManifest(name, labels, this.#settings));
      return labels;
    } catch (error) {
      // A named workspace's claim outlives its sandboxes: it keeps the labels it was made with.
      if (statusOf(error) !== 409) throw error;
      return labelsOf((await this.#api.readClaim(name)).metadata);
    }
  }

  async removeVolume(name: string): Promise<void> {
    await this.#api.deleteClaim(name).catch(ignoreStatus(404));
  }

  async listVolumes(labels: Record<string, string>): Promise<string[]> {
    const claims = await this.#api.listClaims(SELECTOR);
    return claims
      .filter((claim) => matches(labelsOf(claim.metadata), labels))
      .map((claim) => claim.metadata?.name ?? '');
  }

  async listVolumeLabels(labels: Record<string, string>): Promise<Record<string, string>[]> {
    const claims = await this.#api.listClaims(SELECTOR);
    return claims.map((claim) => labelsOf(claim.metadata)).filter((found) => matches(found, labels));
  }

  async create(spec: ContainerSpec): Promise<string> {
    const pod = await this.#createPod(spec);
    this.#specs.set(spec.name, spec);
    return pod.metadata?.name ?? spec.name;
  }

  async #createPod(
    spec: ContainerSpec,
    settings: PodSettings = this.#podSettingsOf(spec.name),
  ): Promise<V1Pod> {
    const sources = secretSources(spec);
    const files = {
      token: (await readFile(sources.token, 'utf8')).trim(),
      passwd: await readFile(sources.passwd, 'utf8'),
      group: await readFile(sources.group, 'utf8'),
      ...(sources.ca === undefined ? {} : { ca: await readFile(sources.ca, 'utf8') }),
    };
    const pod = await this.#api.createPod(podManifest(spec, settings));
    this.#pods.set(spec.name, pod);
    // Owned by the pod: deleting the pod deletes them. The kubelet waits for the Secret before starting it.
    const owner: V1OwnerReference = {
      apiVersion: 'v1',
      kind: 'Pod',
      name: pod.metadata?.name ?? spec.name,
      uid: pod.metadata?.uid ?? '',
    };
    const secret = secretManifest(spec, this.#settings, files);
    secret.metadata = { ...secret.metadata, ownerReferences: [owner] };
    const policy = networkPolicyManifest(spec, this.#settings);
    policy.metadata = { ...policy.metadata, ownerReferences: [owner] };
    try {
      // A Secret or policy left by an earlier pod of the same name (its removal still pending) is replaced.
      await this.#api.createSecret(secret).catch(onConflict(() => this.#api.replaceSecret(secret)));
      await this.#api
        .createNetworkPolicy(policy)
        .catch(onConflict(() => this.#api.replaceNetworkPolicy(policy)));
    } catch (error) {
      await this.#api.deletePod(spec.name, 0).catch(ignoreStatus(404));
      throw error;
    }
    return pod;
  }

  /** A pod made again keeps the profile its sandbox fell back to. */
  #podSettingsOf(name: string): PodSettings {
    return this.seccompOf(name) === 'runtime-default' || this.#fellBack.has(name)
      ? { ...this.#settings, seccomp: { kind: 'runtime-default' } }
      : this.#settings;
  }

  /** A pod runs from its creation; one that was stopped (deleted) or has ended is made again. */
  async start(id: string): Promise<void> {
    const current = await this.#podNamed(id);
    if (current !== undefined) {
      const state = containerInfoOf(current).state;
      if (state === 'running' || state === 'created') return;
      await this.#api.deletePod(id, 0).catch(ignoreStatus(404));
      await this.#waitGone(id);
    }
    const spec = this.#specs.get(id);
    if (spec === undefined) {
      throw new Error(
        `pod ${id} is gone and this control plane did not create it: it cannot be started again`,
      );
    }
    await this.#createPod(spec);
  }

  async #waitGone(name: string): Promise<void> {
    for (let waitedMs = 0; waitedMs < 30_000; waitedMs += 100) {
      if ((await this.#podNamed(name)) === undefined) return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`pod ${name} is still being deleted after 30 s`);
  }

  async stop(id: string, graceSeconds: number): Promise<void> {
    await this.#api.deletePod(id, graceSeconds).catch(ignoreStatus(404));
  }

  async remove(id: string): Promise<void> {
    this.#specs.delete(id);
    this.#fellBack.delete(id);
    await this.#api.deletePod(id, 0).catch(ignoreStatus(404));
  }

  async #podNamed(name: string): Promise<V1Pod | undefined> {
    if (this.#isSynced && this.#watch !== undefined) return this.#pods.get(name);
    try {
      return await this.#api.readPod(name);
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw error;
    }
  }

  async inspect(id: string): Promise<ContainerInfo | undefined> {
    const pod = await this.#podNamed(id);
    return pod === undefined ? undefined : containerInfoOf(pod);
  }

  async list(labels: Record<string, string>): Promise<ContainerInfo[]> {
    const pods =
      this.#isSynced && this.#watch !== undefined
        ? [...this.#pods.values()]
        : (await this.#api.listPods(SELECTOR)).items;
    return pods.map(containerInfoOf).filter((info) => matches(info.labels, labels));
  }

  async logsTail(id: string, lines: number): Promise<string> {
    return this.#api.podLogs(id, lines).catch(() => '');
  }
}

/** The kubelet could not create the container for want of its seccomp profile. */
function lacksProfile(pod: V1Pod): boolean {
  const waiting = pod.status?.containerStatuses?.[0]?.state?.waiting;
  if (waiting === undefined) return false;
  const isCreateError = /^(CreateContainerError|CreateContainerConfigError|RunContainerError)$/.test(
    waiting.reason ?? '',
  );
  return (
    isCreateError &&
    /seccomp/i.test(waiting.message ?? '') &&
    labelsOf(pod.metadata)[LABEL_SECCOMP] !== 'runtime-default'
  );
}

function ignoreStatus(status: number): (error: unknown) => void {
  return (error) => {
    if (statusOf(error) !== status) throw error;
  };
}

function onConflict<T>(then: () => Promise<T>): (error: unknown) => Promise<T> {
  return (error) => {
    if (statusOf(error) !== 409) throw error;
    return then();
  };
}
