import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { type LoadedPolicy, loadPolicy } from '../../policy/load.ts';
import { containerSpec } from '../../sandbox/container-spec.ts';
import { encodeSandboxLabels } from '../../sandbox/labels.ts';
import type { ContainerSpec } from '../driver.ts';
import type { PodSettings } from './manifests.ts';

/** Pod settings and container specs for the Kubernetes driver's tests. */
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

export interface TcpSpecInput {
  id: string;
  stateDir: string;
  user: { uid: number; gid: number };
  address: string;
  loaded?: LoadedPolicy;
}

/**
 * The container spec the manager makes for a sandbox dialling home over TCP:
 * its labels as the manager writes them, its files in its socket directory.
 */
export async function tcpSpecFor(input: TcpSpecInput): Promise<ContainerSpec> {
  const loaded = input.loaded ?? (await loadPolicy('default'));
  const socketDir = path.join(input.stateDir, 'sockets', input.id);
  const workspace = `sandboxd-ws-${input.id}`;
  return containerSpec(loaded, {
    id: input.id,
    workspace: { kind: 'volume', name: workspace },
    socketDir,
    user: input.user,
    labels: encodeSandboxLabels({
      id: input.id,
      policy: loaded.policy.name,
      workspace,
      socketDir,
      created: new Date().toISOString(),
      user: `${input.user.uid}:${input.user.gid}`,
      ownsVolume: true,
      lifetime: 'persistent',
      stateDir: input.stateDir,
    }),
    identity: { passwd: path.join(socketDir, 'passwd'), group: path.join(socketDir, 'group') },
    dialHome: { address: input.address, tokenFile: path.join(socketDir, 'token') },
  });
}

/** The spec the unit tests build manifests from. */
export async function tcpSpec(id = 'sb-0123456789ab', runtime?: 'runsc'): Promise<ContainerSpec> {
  const loaded = await loadPolicy('default');
  return tcpSpecFor({
    id,
    stateDir: '/var/lib/sandboxd',
    user: { uid: 100_123, gid: 100_123 },
    address: 'sandboxd-agent.sandboxd.svc:7070',
    loaded: runtime === undefined ? loaded : { ...loaded, policy: { ...loaded.policy, runtime } },
  });
}

/** A spec whose host files (token, passwd, group) exist, in the state directory `stateDir`. */
export async function tcpSpecWithFiles(stateDir: string, id: string): Promise<ContainerSpec> {
  const spec = await tcpSpecFor({
    id,
    stateDir,
    user: { uid: 100_000, gid: 100_000 },
    address: '10.0.0.1:7070',
  });
  await mkdir(spec.socketDir, { recursive: true });
  for (const file of ['token', 'passwd', 'group']) {
    await writeFile(path.join(spec.socketDir, file), `${file} of ${id}\n`);
  }
  return spec;
}
