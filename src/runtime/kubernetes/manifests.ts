import type { V1NetworkPolicy, V1PersistentVolumeClaim, V1Pod, V1Secret } from '@kubernetes/client-node';
import { AGENT_AUTH_DIR, AGENT_CA_FILE, AGENT_TOKEN_FILE } from '../../protocol/dial.ts';
import type { ContainerSpec } from '../driver.ts';
import { LABEL_ID, LABEL_MANAGED, LABEL_SECCOMP } from '../labels.ts';

/**
 * What the cluster gives a worker beyond its container spec. The seccomp
 * profile must be installed on every node (under the kubelet's seccomp root);
 * 'runtime-default' is for nodes that lack it, and is reported as such.
 */
export interface PodSettings {
  namespace: string;
  /** A profile file under the kubelet's seccomp root, or the runtime's default where nodes lack it. */
  seccomp: { kind: 'localhost'; profile: string } | { kind: 'runtime-default' };
  /** runtimeClassName for policies with `runtime: runsc`. */
  gvisorRuntimeClass: string;
  /** Labels of the control plane's pods: the only destination a worker's NetworkPolicy allows. */
  controlPlaneLabels: Record<string, string>;
  /** The agent port (TCP) on those pods. */
  agentPort: number;
  /** The agent address's name → its IP, written into the pod's /etc/hosts: workers need no DNS. */
  hostAlias?: { hostname: string; ip: string };
  /**
   * A pod whose node lacks the profile (the container cannot be created) is made
   * again under RuntimeDefault, and says so; false: it stays failed.
   */
  seccompFallback: boolean;
  /** Size requested for a named workspace's PVC, e.g. '10Gi'. */
  workspaceSize: string;
  storageClassName?: string;
}

/** The files the worker's Secret carries: token, CA, and its passwd/group (read from the spec's host files). */
export interface SecretFiles {
  token: string;
  ca?: string;
  passwd: string;
  group: string;
}

/** Kubernetes label values: ≤ 63 of [A-Za-z0-9_.-], alphanumeric at both ends (or empty). */
export function isLabelValue(value: string): boolean {
  return value === '' || /^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$/.test(value);
}

/**
 * Our labels as the API can hold them: every one as an annotation (paths and
 * timestamps are no label values), and those that are label values as labels too,
 * so reconcile and the watch can select by them.
 */
export function metadataOf(labels: Record<string, string>): {
  labels: Record<string, string>;
  annotations: Record<string, string>;
} {
  const selectable = Object.fromEntries(Object.entries(labels).filter(([, value]) => isLabelValue(value)));
  return { labels: selectable, annotations: { ...labels } };
}

export const SECRET_SUFFIX = '-auth';
export const SECCOMP_ANNOTATION = 'seccomp.security.alpha.kubernetes.io/pod';
export const POLICY_SUFFIX = '-net';

const MEMORY_MEDIUM = 'Memory';

function quantityOfBytes(bytes: number): string {
  return String(bytes);
}

function cpuQuantity(nanoCpus: number): string {
  return `${Math.max(1, Math.round(nanoCpus / 1e6))}m`;
}

/**
 * The pod for a worker, with the hardening the Docker driver applies in
 * Kubernetes terms (SECURITY.md has the table). Everything not taken from the
 * spec or the settings is fixed.
 */
export function podManifest(spec: ContainerSpec, settings: PodSettings): V1Pod {
  if (spec.workspace.kind !== 'volume') {
    throw new Error('a host folder cannot be a workspace on Kubernetes: use a named workspace (a PVC)');
  }
  if (spec.dialHome === undefined) {
    throw new Error(
      'a pod shares no socket directory with the control plane: the agent must dial home over TCP',
    );
  }
  const { uid, gid } = spec.user;
  const secretName = `${spec.name}${SECRET_SUFFIX}`;
  const resources = { cpu: cpuQuantity(spec.nanoCpus), memory: quantityOfBytes(spec.memoryBytes) };
  const tmpfsVolumes = spec.tmpfs.map((mount, index) => ({
    name: `tmpfs-${index}`,
    // Memory-backed and bounded, counted against the pod's memory limit as a tmpfs is under Docker.
    emptyDir: { medium: MEMORY_MEDIUM, sizeLimit: quantityOfBytes(mount.sizeBytes) },
  }));
  const authItems = [
    { key: AGENT_TOKEN_FILE, path: AGENT_TOKEN_FILE },
    ...(spec.dialHome.caFile === undefined ? [] : [{ key: AGENT_CA_FILE, path: AGENT_CA_FILE }]),
  ];
  const metadata = metadataOf({
    ...spec.labels,
    [LABEL_SECCOMP]: settings.seccomp.kind === 'localhost' ? 'policy' : 'runtime-default',
  });
  // The field is what Kubernetes reads; the annotation (the same value, which older API servers
  // check against the field) is what Podman's kube play reads.
  metadata.annotations[SECCOMP_ANNOTATION] =
    settings.seccomp.kind === 'localhost' ? `localhost/${settings.seccomp.profile}` : 'runtime/default';
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: spec.name, namespace: settings.namespace, ...metadata },
    spec: {
      restartPolicy: 'Never',
      hostname: spec.hostname,
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      hostNetwork: false,
      hostPID: false,
      hostIPC: false,
      // The pause container is PID 1 and reaps orphans, as Docker's Init does; it is the pod's only other process.
      shareProcessNamespace: true,
      terminationGracePeriodSeconds: 5,
      // Nothing but the agent port is reachable; a resolver would only be a way to leak names.
      dnsPolicy: 'None',
      dnsConfig: { nameservers: ['127.0.0.1'] },
      ...(settings.hostAlias === undefined
        ? {}
        : { hostAliases: [{ ip: settings.hostAlias.ip, hostnames: [settings.hostAlias.hostname] }] }),
      ...(spec.runtime === 'runsc' ? { runtimeClassName: settings.gvisorRuntimeClass } : {}),
      securityContext: {
        runAsNonRoot: true,
        runAsUser: uid,
        runAsGroup: gid,
        // The PVC is the filesystem's, usually root's: the group makes it the sandbox's to write.
        fsGroup: gid,
        supplementalGroups: [],
        seccompProfile:
          settings.seccomp.kind === 'localhost'
            ? { type: 'Localhost', localhostProfile: settings.seccomp.profile }
            : { type: 'RuntimeDefault' },
      },
      containers: [
        {
          name: 'worker',
          image: spec.image,
          imagePullPolicy: 'IfNotPresent',
          ...(spec.command === undefined ? {} : { command: spec.command }),
          workingDir: spec.workingDir,
          env: Object.entries(spec.env).map(([name, value]) => ({ name, value })),
          resources: { requests: resources, limits: resources },
          securityContext: {
            runAsNonRoot: true,
            runAsUser: uid,
            runAsGroup: gid,
            readOnlyRootFilesystem: true,
            allowPrivilegeEscalation: false,
            privileged: false,
            capabilities: { drop: ['ALL'] },
          },
          volumeMounts: [
            { name: 'workspace', mountPath: '/workspace' },
            ...spec.tmpfs.map((mount, index) => ({ name: `tmpfs-${index}`, mountPath: mount.target })),
            { name: 'auth', mountPath: AGENT_AUTH_DIR, readOnly: true },
            { name: 'identity', mountPath: '/etc/passwd', subPath: 'passwd', readOnly: true },
            { name: 'identity', mountPath: '/etc/group', subPath: 'group', readOnly: true },
          ],
        },
      ],
      volumes: [
        { name: 'workspace', persistentVolumeClaim: { claimName: spec.workspace.name } },
        ...tmpfsVolumes,
        { name: 'auth', secret: { secretName, items: authItems, defaultMode: 0o444, optional: false } },
        {
          name: 'identity',
          secret: {
            secretName,
            items: [
              { key: 'passwd', path: 'passwd' },
              { key: 'group', path: 'group' },
            ],
            defaultMode: 0o444,
            optional: false,
          },
        },
      ],
    },
  };
}

/** The worker's Secret: its token (and the CA), its passwd and group. */
export function secretManifest(spec: ContainerSpec, settings: PodSettings, files: SecretFiles): V1Secret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'Opaque',
    metadata: {
      name: `${spec.name}${SECRET_SUFFIX}`,
      namespace: settings.namespace,
      ...metadataOf(spec.labels),
    },
    // `data`, not `stringData`: Podman's kube play reads only `data`.
    data: Object.fromEntries(
      Object.entries({
        [AGENT_TOKEN_FILE]: files.token,
        ...(files.ca === undefined ? {} : { [AGENT_CA_FILE]: files.ca }),
        passwd: files.passwd,
        group: files.group,
      }).map(([key, value]) => [key, Buffer.from(value, 'utf8').toString('base64')]),
    ),
  };
}

/** No ingress at all; egress to the control plane's agent port only (egress and previews ride it). */
export function networkPolicyManifest(spec: ContainerSpec, settings: PodSettings): V1NetworkPolicy {
  const id = spec.labels[LABEL_ID] ?? spec.name;
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: {
      name: `${spec.name}${POLICY_SUFFIX}`,
      namespace: settings.namespace,
      ...metadataOf(spec.labels),
    },
    spec: {
      podSelector: { matchLabels: { [LABEL_MANAGED]: 'true', [LABEL_ID]: id } },
      policyTypes: ['Ingress', 'Egress'],
      ingress: [],
      egress: [
        {
          to: [{ podSelector: { matchLabels: settings.controlPlaneLabels } }],
          ports: [{ protocol: 'TCP', port: settings.agentPort }],
        },
      ],
    },
  };
}

/** A named workspace's claim. */
export function claimManifest(
  name: string,
  labels: Record<string, string>,
  settings: PodSettings,
): V1PersistentVolumeClaim {
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: { name, namespace: settings.namespace, ...metadataOf(labels) },
    spec: {
      accessModes: ['ReadWriteOnce'],
      resources: { requests: { storage: settings.workspaceSize } },
      ...(settings.storageClassName === undefined ? {} : { storageClassName: settings.storageClassName }),
    },
  };
}

/** The spec's host file for a Secret key (the driver reads them). */
export function secretSources(spec: ContainerSpec): {
  token: string;
  ca?: string;
  passwd: string;
  group: string;
} {
  const dialHome = spec.dialHome;
  const identity = spec.identity;
  if (dialHome === undefined || identity === undefined) {
    throw new Error('a pod needs the agent token and identity files (TCP mode)');
  }
  return {
    token: dialHome.tokenFile,
    ...(dialHome.caFile === undefined ? {} : { ca: dialHome.caFile }),
    passwd: identity.passwd,
    group: identity.group,
  };
}
