import { rm } from 'node:fs/promises';
import { egressAllowList } from '../policy/derived.ts';
import type { LoadedPolicy } from '../policy/load.ts';
import type { ContainerInfo, WorkspaceSource } from '../runtime/driver.ts';
import { LABEL_MANAGED, layerVolumeName, workspaceVolumeName } from '../runtime/labels.ts';
import { decodeSandboxLabels } from './labels.ts';
import type { SandboxManager } from './manager.ts';
import { loadAssignment, removeAssignment } from './metadata.ts';
import { probeOwner } from './owner-socket.ts';
import { Sandbox } from './sandbox.ts';
import { socketDirFor, stateDirOf } from './state-dir.ts';

export interface ReconcileOptions {
  loadPolicyNamed: (name: string) => Promise<LoadedPolicy>;
  onPoolMember?: (policy: string, sandbox: Sandbox) => void;
  /**
   * Why a container no longer matches what this control plane is configured to
   * serve (another folder, policy, image or user), or undefined when it matches.
   * A mismatching container is removed, never served; its volume stays.
   */
  mismatch?: (container: ContainerInfo) => Promise<string | undefined>;
}

/**
 * After a control-plane restart: adopt every container this state directory's
 * control plane created, re-create its socket so the agent (which kept running,
 * with its commands) redials. Running containers come back ready once the agent
 * is connected; stopped ones stay stopped until a call starts them. Containers
 * that no longer match the configuration, and those of a `stdio` or `run`
 * process that died, are removed. Returns the adopted sandboxes.
 */
export async function reconcile(manager: SandboxManager, options: ReconcileOptions): Promise<Sandbox[]> {
  const containers = await manager.driver.list({ [LABEL_MANAGED]: 'true' });
  const adopted: Sandbox[] = [];
  for (const container of containers) {
    const decoded = decodeSandboxLabels(container.labels);
    if (decoded === undefined || manager.find(decoded.labels.id) !== undefined) continue;
    const { labels } = decoded;
    const id = labels.id;
    // Another control plane (another state directory) on the same engine owns its own sandboxes.
    const socketDir = socketDirFor(manager.stateDir, id);
    if (stateDirOf(container.labels) !== manager.stateDir || labels.socketDir !== socketDir) continue;
    const owner = labels.controlSocket;
    if (owner !== undefined && owner !== manager.controlSocket) {
      // A `stdio` or `run` process's sandbox: its process serves it while it lives.
      if ((await probeOwner(owner)).state === 'gone') {
        await discard(manager, container, id, 'the process that made it is gone');
      }
      continue;
    }
    const reason = await options.mismatch?.(container);
    if (reason !== undefined) {
      await discard(manager, container, id, reason);
      continue;
    }
    const sandbox = await adopt(manager, container, decoded, options);
    if (sandbox !== undefined) adopted.push(sandbox);
  }
  return adopted;
}

/** Removes a container we will not serve, with its socket directory; its workspace stays. */
async function discard(manager: SandboxManager, container: ContainerInfo, id: string, reason: string) {
  const labels = decodeSandboxLabels(container.labels)?.labels;
  manager.log.warn({ sandboxId: id, reason }, 'reconcile: removing a sandbox that will not be served');
  await manager.driver.remove(container.id);
  await rm(socketDirFor(manager.stateDir, id), { recursive: true, force: true });
  await removeAssignment(manager.stateDir, id);
  // A volume the sandbox owned (a /v1 or `run` sandbox's own) would otherwise be left forever.
  const volume = labels?.workspace ?? '';
  if (labels?.ownsVolume === true && volume !== '' && !volume.startsWith('/')) {
    await manager.driver
      .removeVolume(volume)
      // A fork's writes live in a layer volume under its overlay volume (sandbox/snapshots.ts).
      .then(() =>
        volume === workspaceVolumeName(id) ? manager.driver.removeVolume(layerVolumeName(id)) : undefined,
      )
      .catch((error: unknown) =>
        manager.log.warn(
          { sandboxId: id, volume, error: String(error) },
          'reconcile: the volume could not be removed',
        ),
      );
  }
}

async function adopt(
  manager: SandboxManager,
  container: ContainerInfo,
  { labels, callerLabels }: NonNullable<ReturnType<typeof decodeSandboxLabels>>,
  options: ReconcileOptions,
): Promise<Sandbox | undefined> {
  const id = labels.id;
  // A warm-pool member taken by a task, or a sandbox whose egress changed, has an assignment.
  const loadedAssignment = await loadAssignment(manager.stateDir, id);
  if (loadedAssignment.state === 'unreadable') {
    // Taken by a task we can no longer name: neither serve it to anyone nor pool it again.
    await discard(manager, container, id, `its assignment cannot be read (${loadedAssignment.reason})`);
    return undefined;
  }
  const assignment = loadedAssignment.state === 'assigned' ? loadedAssignment.assignment : undefined;
  let loaded: LoadedPolicy;
  try {
    loaded = await options.loadPolicyNamed(labels.policy);
  } catch (error) {
    manager.log.warn({ sandboxId: id, error: String(error) }, 'reconcile: policy unavailable, using default');
    loaded = await options.loadPolicyNamed('default');
  }
  const source = labels.workspace;
  const workspace: WorkspaceSource = source.startsWith('/')
    ? { kind: 'bind', hostPath: source }
    : { kind: 'volume', name: source };
  const { link, egress, preview } = manager.doors(
    id,
    loaded,
    assignment?.egress === undefined ? egressAllowList(loaded) : assignment.egress,
  );
  const expires = assignment?.expiresAt ?? labels.expires;
  const created = Date.parse(labels.created);
  const sandbox = new Sandbox({
    id,
    ...(Number.isNaN(created) ? {} : { createdAt: new Date(created) }),
    loaded,
    workspace,
    link,
    egress,
    preview,
    ownsVolume: labels.ownsVolume,
    expiresAt: expires === undefined ? undefined : new Date(expires),
    owner: assignment?.owner ?? labels.owner,
    labels: assignment?.labels ?? callerLabels,
    tokenSha256: assignment?.tokenSha256 ?? labels.tokenSha256,
    lifetime: labels.lifetime,
  });
  sandbox.containerId = container.id;
  sandbox.workspaceIdentity = labels.workspaceInode;
  await link.listen();
  await egress.listen();
  manager.adopt(sandbox);
  if (container.state === 'running') {
    // 'creating' (as made) until the agent redials; acquire() waits for it.
    link.once('ready', () => {
      if (sandbox.state === 'creating') manager.transition(sandbox, 'ready', { reason: 'reconciled' });
    });
  } else {
    manager.transition(sandbox, 'stopped', { reason: `adopted a ${container.state} container` });
  }
  const pool = labels.pool;
  if (pool !== undefined && assignment === undefined) {
    if (container.state !== 'running' || options.onPoolMember === undefined) {
      // An unassigned pool member that stopped is worth nothing: the pool makes a fresh one.
      await manager.destroy(id);
      return undefined;
    }
    options.onPoolMember(pool, sandbox);
  }
  manager.log.info({ sandboxId: id, container: container.state }, 'reconciled sandbox');
  return sandbox;
}
