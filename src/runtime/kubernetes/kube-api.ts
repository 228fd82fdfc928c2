import {
  ApiException,
  CoreV1Api,
  type KubeConfig,
  NetworkingV1Api,
  type V1Pod,
  VersionApi,
  Watch,
} from '@kubernetes/client-node';
import { type KubeApi, KubeApiError, type WatchEvent } from './api.ts';

/** The client's exceptions as KubeApiError, so the driver sees one kind of failure. */
async function call<T>(request: () => Promise<T>): Promise<T> {
  try {
    return await request();
  } catch (error) {
    if (error instanceof ApiException) {
      const body = error.body as { message?: string } | string | undefined;
      const message =
        typeof body === 'object' && body?.message !== undefined ? body.message : String(error.message);
      throw new KubeApiError(error.code, message);
    }
    throw error;
  }
}

/** KubeApi over @kubernetes/client-node, in one namespace. */
export function kubeApi(config: KubeConfig, namespace: string): KubeApi {
  const core = config.makeApiClient(CoreV1Api);
  const networking = config.makeApiClient(NetworkingV1Api);
  const version = config.makeApiClient(VersionApi);
  const watch = new Watch(config);
  return {
    namespace,
    version: () => call(async () => (await version.getCode()).gitVersion),
    createPod: (body) => call(() => core.createNamespacedPod({ namespace, body })),
    readPod: (name) => call(() => core.readNamespacedPod({ namespace, name })),
    deletePod: async (name, gracePeriodSeconds) => {
      await call(() =>
        core.deleteNamespacedPod({
          namespace,
          name,
          ...(gracePeriodSeconds === undefined ? {} : { gracePeriodSeconds }),
        }),
      );
    },
    listPods: (labelSelector) =>
      call(async () => {
        const list = await core.listNamespacedPod({ namespace, labelSelector });
        return { items: list.items, resourceVersion: list.metadata?.resourceVersion ?? '' };
      }),
    watchPods: async (labelSelector, resourceVersion, onEvent, done) => {
      const controller = await watch.watch(
        `/api/v1/namespaces/${namespace}/pods`,
        { labelSelector, resourceVersion, allowWatchBookmarks: true },
        (type: string, object: unknown) => {
          if (type === 'ERROR') {
            const status = object as { code?: number; message?: string };
            done(new KubeApiError(status.code ?? 500, status.message ?? 'watch error'));
            return;
          }
          onEvent(type as WatchEvent, object as V1Pod);
        },
        (error: unknown) => done(error ?? undefined),
      );
      return { abort: () => controller.abort() };
    },
    podLogs: (name, tailLines) => call(() => core.readNamespacedPodLog({ namespace, name, tailLines })),
    createSecret: (body) => call(() => core.createNamespacedSecret({ namespace, body })),
    replaceSecret: (body) =>
      call(() => core.replaceNamespacedSecret({ namespace, name: body.metadata?.name ?? '', body })),
    createNetworkPolicy: (body) => call(() => networking.createNamespacedNetworkPolicy({ namespace, body })),
    replaceNetworkPolicy: (body) =>
      call(() =>
        networking.replaceNamespacedNetworkPolicy({ namespace, name: body.metadata?.name ?? '', body }),
      ),
    createClaim: (body) => call(() => core.createNamespacedPersistentVolumeClaim({ namespace, body })),
    readClaim: (name) => call(() => core.readNamespacedPersistentVolumeClaim({ namespace, name })),
    deleteClaim: async (name) => {
      await call(() => core.deleteNamespacedPersistentVolumeClaim({ namespace, name }));
    },
    listClaims: (labelSelector) =>
      call(async () => (await core.listNamespacedPersistentVolumeClaim({ namespace, labelSelector })).items),
  };
}
