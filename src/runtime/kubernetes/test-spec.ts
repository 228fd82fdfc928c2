import { containerSpec } from '../../policy/container-spec.ts';
import { loadPolicy } from '../../policy/load.ts';
import type { ContainerSpec } from '../driver.ts';
import type { PodSettings } from './manifests.ts';

/** Pod settings and a container spec for the Kubernetes driver's unit tests. */
export const settings: PodSettings = {
  namespace: 'sandboxd',
  seccomp: { kind: 'localhost', profile: 'sandboxd-worker.json' },
  gvisorRuntimeClass: 'gvisor',
  controlPlaneLabels: { 'app.kubernetes.io/name': 'sandboxd' },
  agentPort: 7070,
  seccompFallback: true,
  hostAlias: { hostname: 'sandboxd-agent.sandboxd.svc', ip: '10.96.0.20' },
  workspaceSize: '10Gi',
};

/** The container spec the Docker driver would get, for a sandbox dialling home over TCP. */
export async function tcpSpec(id = 'sb-0123456789ab', runtime?: 'runsc'): Promise<ContainerSpec> {
  const loaded = await loadPolicy('default');
  const policy = runtime === undefined ? loaded.policy : { ...loaded.policy, runtime };
  return containerSpec(
    { ...loaded, policy },
    {
      id,
      workspace: { kind: 'volume', name: `sandboxd-ws-${id}` },
      socketDir: `/var/lib/sandboxd/sockets/${id}`,
      user: { uid: 100_123, gid: 100_123 },
      identity: {
        passwd: `/var/lib/sandboxd/sockets/${id}/passwd`,
        group: `/var/lib/sandboxd/sockets/${id}/group`,
      },
      dialHome: {
        address: 'sandboxd-agent.sandboxd.svc:7070',
        tokenFile: `/var/lib/sandboxd/sockets/${id}/token`,
      },
    },
  );
}
