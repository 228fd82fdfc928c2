import type { V1NetworkPolicy, V1PersistentVolumeClaim, V1Pod, V1Secret } from '@kubernetes/client-node';

/** An API answer that is not 2xx, by its HTTP status (404 missing, 409 conflict, 410 gone). */
export class KubeApiError extends Error {
  readonly status: number;

  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

export function statusOf(error: unknown): number | undefined {
  return error instanceof KubeApiError ? error.status : undefined;
}

export type WatchEvent = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

export interface WatchHandle {
  abort(): void;
}

/**
 * The few calls the driver makes, in one namespace. kube-api.ts implements it
 * over @kubernetes/client-node; unit tests use an in-memory fake with the same
 * conflicts, watch events and expired resource versions as an API server.
 */
export interface KubeApi {
  readonly namespace: string;
  version(): Promise<string>;
  createPod(pod: V1Pod): Promise<V1Pod>;
  readPod(name: string): Promise<V1Pod>;
  deletePod(name: string, graceSeconds?: number): Promise<void>;
  listPods(labelSelector: string): Promise<{ items: V1Pod[]; resourceVersion: string }>;
  /** Events after `resourceVersion`; `done` with a 410 KubeApiError when it is too old. */
  watchPods(
    labelSelector: string,
    resourceVersion: string,
    onEvent: (type: WatchEvent, pod: V1Pod) => void,
    done: (error?: unknown) => void,
  ): Promise<WatchHandle>;
  podLogs(name: string, tailLines: number): Promise<string>;
  createSecret(secret: V1Secret): Promise<V1Secret>;
  replaceSecret(secret: V1Secret): Promise<V1Secret>;
  createNetworkPolicy(policy: V1NetworkPolicy): Promise<V1NetworkPolicy>;
  replaceNetworkPolicy(policy: V1NetworkPolicy): Promise<V1NetworkPolicy>;
  createClaim(claim: V1PersistentVolumeClaim): Promise<V1PersistentVolumeClaim>;
  readClaim(name: string): Promise<V1PersistentVolumeClaim>;
  deleteClaim(name: string): Promise<void>;
  listClaims(labelSelector: string): Promise<V1PersistentVolumeClaim[]>;
}
