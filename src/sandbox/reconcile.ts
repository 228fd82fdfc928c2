import { agentLimits } from '../policy/container-spec.ts';
import type { LoadedPolicy } from '../policy/load.ts';
import type { WorkspaceSource } from '../runtime/driver.ts';
import {
  LABEL_EXPIRES,
  LABEL_ID,
  LABEL_MANAGED,
  LABEL_OWNER,
  LABEL_OWNS_VOLUME,
  LABEL_POLICY,
  LABEL_POOL,
  LABEL_SOCKET_DIR,
  LABEL_TOKEN_SHA256,
  LABEL_WORKSPACE,
  userLabels,
} from '../runtime/labels.ts';
import { AgentLink } from './agent-link.ts';
import type { SandboxManager } from './manager.ts';
import { loadAssignment } from './metadata.ts';
import { Sandbox } from './sandbox.ts';
import { socketDirFor } from './state-dir.ts';

/**
 * After a control-plane restart: adopt every container we created, re-create
 * its socket so the agent (which kept running, with its commands) redials.
 * Running containers come back ready once the agent is connected; stopped ones
 * stay stopped until a call starts them. Returns the adopted sandboxes.
 */
export async function reconcile(
  manager: SandboxManager,
  loadPolicyNamed: (name: string) => Promise<LoadedPolicy>,
  onPoolMember?: (policy: string, sandbox: Sandbox) => void,
): Promise<Sandbox[]> {
  const containers = await manager.driver.list({ [LABEL_MANAGED]: 'true' });
  const adopted: Sandbox[] = [];
  for (const container of containers) {
    const labels = container.labels;
    const id = labels[LABEL_ID];
    if (id === undefined || manager.find(id) !== undefined) continue;
    // Another control plane (another state directory) on the same engine owns its own sandboxes.
    const socketDir = socketDirFor(manager.stateDir, id);
    if (labels[LABEL_SOCKET_DIR] !== socketDir) continue;
    let loaded: LoadedPolicy;
    try {
      loaded = await loadPolicyNamed(labels[LABEL_POLICY] ?? 'default');
    } catch (error) {
      manager.log.warn(
        { sandboxId: id, error: String(error) },
        'reconcile: policy unavailable, using default',
      );
      loaded = await loadPolicyNamed('default');
    }
    const source = labels[LABEL_WORKSPACE] ?? '';
    const workspace: WorkspaceSource = source.startsWith('/')
      ? { kind: 'bind', hostPath: source }
      : { kind: 'volume', name: source };
    const link = new AgentLink({
      sandboxId: id,
      socketDir,
      limits: agentLimits(loaded.policy),
      log: manager.log,
    });
    // A warm-pool member taken by a task has its assignment in the state directory.
    const assignment = await loadAssignment(manager.stateDir, id);
    const expires = assignment?.expiresAt ?? labels[LABEL_EXPIRES];
    const sandbox = new Sandbox({
      id,
      loaded,
      workspace,
      link,
      ownsVolume: labels[LABEL_OWNS_VOLUME] === 'true',
      expiresAt: expires === undefined ? undefined : new Date(expires),
      owner: assignment?.owner ?? labels[LABEL_OWNER],
      labels: assignment?.labels ?? userLabels(labels),
      tokenSha256: assignment?.tokenSha256 ?? labels[LABEL_TOKEN_SHA256],
    });
    sandbox.containerId = container.id;
    await link.listen();
    manager.adopt(sandbox);
    if (container.state === 'running') {
      // 'creating' until the agent redials; acquire() waits for it.
      sandbox.state = 'creating';
      link.once('ready', () => {
        if (sandbox.state === 'creating') manager.transition(sandbox, 'ready', { reason: 'reconciled' });
      });
    } else {
      sandbox.state = 'stopped';
    }
    const pool = labels[LABEL_POOL];
    if (pool !== undefined && assignment === undefined) {
      if (container.state !== 'running' || onPoolMember === undefined) {
        // An unassigned pool member that stopped is worth nothing: the pool makes a fresh one.
        await manager.destroy(id);
        continue;
      }
      onPoolMember(pool, sandbox);
    }
    manager.log.info({ sandboxId: id, container: container.state }, 'reconciled sandbox');
    adopted.push(sandbox);
  }
  return adopted;
}
