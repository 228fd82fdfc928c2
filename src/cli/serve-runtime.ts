import { lookup } from 'node:dns/promises';
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { z } from 'zod';
import { parseAddress } from '../protocol/dial.ts';
import { DockerDriver } from '../runtime/docker/driver.ts';
import type { RuntimeDriver } from '../runtime/driver.ts';
import { KubernetesDriver } from '../runtime/kubernetes/driver.ts';
import { kubeApi } from '../runtime/kubernetes/kube-api.ts';
import type { PodSettings } from '../runtime/kubernetes/manifests.ts';
import { AgentPort } from '../sandbox/agent-port.ts';
import { AgentTokens } from '../sandbox/agent-tokens.ts';
import type { DialHomeOptions, SandboxManager } from '../sandbox/manager.ts';

const HostPort = z.string().refine((value) => {
  try {
    parseAddress(value);
    return true;
  } catch {
    return false;
  }
}, 'expected host:port');

/**
 * Where workers run and how their agents reach the control plane: the part of
 * `serve`'s configuration for the runtime driver and the agent port.
 */
export const RuntimeConfig = z.object({
  runtimeDriver: z.enum(['docker', 'kubernetes']).default('docker'),
  /** Kubernetes: the one namespace the control plane creates pods, Secrets, PVCs and policies in. */
  namespace: z
    .string()
    .regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, 'a namespace name')
    .default('sandboxd'),
  /** host:port the agent port listens on; without it, agents dial their socket directory (Docker only). */
  agentListen: HostPort.optional(),
  /** host:port workers dial (a Service name on Kubernetes); the listen address by default. */
  agentAddress: HostPort.optional(),
  /** Docker: the network workers join, which must reach only the agent port. */
  agentNetwork: z.string().min(1).optional(),
  /** PEM files: the agent port speaks TLS; workers get the CA file. */
  agentTlsCert: z.string().min(1).optional(),
  agentTlsKey: z.string().min(1).optional(),
  agentTlsCa: z.string().min(1).optional(),
  /** Kubernetes: the seccomp profile, 'localhost/<path under the kubelet's seccomp root>' or 'runtime-default'. */
  kubeSeccomp: z
    .string()
    .regex(/^(localhost\/[A-Za-z0-9._/-]+|runtime-default)$/)
    .default('localhost/sandboxd-worker.json'),
  /** Kubernetes: make a pod again under RuntimeDefault when its node lacks the profile (reported per sandbox). */
  kubeSeccompFallback: z.boolean().default(true),
  /** Kubernetes: the RuntimeClass for policies with runtime: runsc. */
  kubeGvisorClass: z.string().min(1).default('gvisor'),
  /** Kubernetes: labels of the control plane's pods, "k=v,k=v" (workers may reach only those). */
  kubeControlPlaneLabels: z.string().default('app.kubernetes.io/name=sandboxd'),
  kubeWorkspaceSize: z
    .string()
    .regex(/^\d+(Ki|Mi|Gi|Ti)$/)
    .default('10Gi'),
  kubeStorageClass: z.string().min(1).optional(),
});
export type RuntimeConfig = z.infer<typeof RuntimeConfig>;

export const runtimeArgOptions = {
  'runtime-driver': { type: 'string' },
  namespace: { type: 'string' },
  'agent-listen': { type: 'string' },
  'agent-address': { type: 'string' },
  'agent-network': { type: 'string' },
} as const;

export function rawRuntimeConfig(
  values: Partial<Record<keyof typeof runtimeArgOptions, string | boolean | undefined>>,
  env: NodeJS.ProcessEnv,
): Record<string, unknown> {
  return {
    runtimeDriver: values['runtime-driver'] ?? env.SANDBOXD_RUNTIME_DRIVER,
    namespace: values.namespace ?? env.SANDBOXD_NAMESPACE,
    agentListen: values['agent-listen'] ?? env.SANDBOXD_AGENT_LISTEN,
    agentAddress: values['agent-address'] ?? env.SANDBOXD_AGENT_ADDRESS,
    agentNetwork: values['agent-network'] ?? env.SANDBOXD_AGENT_NETWORK,
    agentTlsCert: env.SANDBOXD_AGENT_TLS_CERT,
    agentTlsKey: env.SANDBOXD_AGENT_TLS_KEY,
    agentTlsCa: env.SANDBOXD_AGENT_TLS_CA,
    kubeSeccomp: env.SANDBOXD_KUBE_SECCOMP,
    kubeSeccompFallback:
      env.SANDBOXD_KUBE_SECCOMP_FALLBACK === undefined
        ? undefined
        : env.SANDBOXD_KUBE_SECCOMP_FALLBACK !== '0',
    kubeGvisorClass: env.SANDBOXD_KUBE_GVISOR_CLASS,
    kubeControlPlaneLabels: env.SANDBOXD_KUBE_CONTROL_PLANE_LABELS,
    kubeWorkspaceSize: env.SANDBOXD_KUBE_WORKSPACE_SIZE,
    kubeStorageClass: env.SANDBOXD_KUBE_STORAGE_CLASS,
  };
}

/** What is wrong with the combination, or undefined. */
export function runtimeConfigProblem(config: RuntimeConfig): string | undefined {
  if (config.runtimeDriver === 'kubernetes' && config.agentListen === undefined)
    return 'the kubernetes driver needs --agent-listen (pods share no socket directory with the control plane)';
  if (
    config.runtimeDriver === 'docker' &&
    config.agentListen !== undefined &&
    config.agentNetwork === undefined
  )
    return '--agent-listen on Docker needs --agent-network: the network workers join to reach the agent port';
  const tls = [config.agentTlsCert, config.agentTlsKey, config.agentTlsCa].filter(
    (file) => file !== undefined,
  );
  if (tls.length !== 0 && tls.length !== 3)
    return 'TLS on the agent port needs all of SANDBOXD_AGENT_TLS_CERT, SANDBOXD_AGENT_TLS_KEY and SANDBOXD_AGENT_TLS_CA';
  return undefined;
}

export interface Runtime {
  driver: RuntimeDriver;
  dialHome?: DialHomeOptions;
  /** Starts the agent port for `manager`'s sandboxes (TCP mode only). */
  startAgentPort(manager: SandboxManager): Promise<AgentPort | undefined>;
  /** Ends what the driver keeps open (the Kubernetes pod watch). */
  close(): void;
}

/** The runtime driver and, in TCP mode, the agent port's settings. */
export async function runtimeOf(config: RuntimeConfig, stateDir: string, log: Logger): Promise<Runtime> {
  const kubernetes = config.runtimeDriver === 'kubernetes' ? await kubernetesDriver(config, log) : undefined;
  const driver = kubernetes ?? new DockerDriver();
  const close = () => kubernetes?.close();
  const listen = config.agentListen;
  if (listen === undefined) return { driver, close, startAgentPort: async () => undefined };
  const tokens = await AgentTokens.load(stateDir);
  const dialHome: DialHomeOptions = {
    address: config.agentAddress ?? listen,
    tokens,
    ...(config.agentNetwork === undefined ? {} : { network: config.agentNetwork }),
    ...(config.agentTlsCa === undefined ? {} : { caFile: config.agentTlsCa }),
  };
  const tls =
    config.agentTlsCert === undefined || config.agentTlsKey === undefined
      ? undefined
      : {
          cert: await readFile(config.agentTlsCert, 'utf8'),
          key: await readFile(config.agentTlsKey, 'utf8'),
        };
  return {
    driver,
    dialHome,
    close,
    async startAgentPort(manager) {
      const { host, port } = parseAddress(listen);
      const agentPort = new AgentPort({
        host,
        port,
        tokens,
        log,
        doors: (id) => manager.find(id),
        ...(tls === undefined ? {} : { tls }),
      });
      await agentPort.listen();
      return agentPort;
    },
  };
}

/** Pod settings from the configuration; the agent address's name is resolved once, for the pods' /etc/hosts. */
export async function podSettings(config: RuntimeConfig): Promise<PodSettings> {
  const listen = parseAddress(config.agentListen ?? '');
  const dialed = parseAddress(config.agentAddress ?? config.agentListen ?? '');
  const controlPlaneLabels = Object.fromEntries(
    config.kubeControlPlaneLabels
      .split(',')
      .filter((pair) => pair.includes('='))
      .map((pair) => pair.split('=', 2).map((part) => part.trim()) as [string, string]),
  );
  const hostAlias =
    net.isIP(dialed.host) === 0
      ? { hostname: dialed.host, ip: (await lookup(dialed.host)).address }
      : undefined;
  return {
    namespace: config.namespace,
    seccomp:
      config.kubeSeccomp === 'runtime-default'
        ? { kind: 'runtime-default' }
        : { kind: 'localhost', profile: config.kubeSeccomp.slice('localhost/'.length) },
    seccompFallback: config.kubeSeccompFallback,
    gvisorRuntimeClass: config.kubeGvisorClass,
    controlPlaneLabels,
    agentPort: listen.port,
    workspaceSize: config.kubeWorkspaceSize,
    ...(hostAlias === undefined ? {} : { hostAlias }),
    ...(config.kubeStorageClass === undefined ? {} : { storageClassName: config.kubeStorageClass }),
  };
}

/** In the cluster (service account) or from KUBECONFIG; the cache is filled before serving. */
async function kubernetesDriver(config: RuntimeConfig, log: Logger): Promise<KubernetesDriver> {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromDefault();
  const driver = new KubernetesDriver({
    api: kubeApi(kubeConfig, config.namespace),
    settings: await podSettings(config),
    log,
  });
  await driver.startWatching();
  return driver;
}
