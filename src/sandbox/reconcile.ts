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
  LABEL_TOKEN_SHA256,
  LABEL_WORKSPACE,
  userLabels,
} from '../runtime/labels.ts';
import { AgentLink } from './agent-link.ts';
import type { SandboxManager } from './manager.ts';
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
): Promise<Sandbox[]> {
  const containers = await manager.driver.list({ [LABEL_MANAGED]: 'true' });
  const adopted: Sandbox[] = [];
  for (const container of containers) {
    const labels = container.labels;
    const id = labels[LABEL_ID];
    if (id === undefined || manager.find(id) !== undefined) continue;
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
    const socketDir = socketDirFor(manager.stateDir, id);
    const link = new AgentLink({
      sandboxId: id,
      socketDir,
      limits: agentLimits(loaded.policy),
      log: manager.log,
    });
    const expires = labels[LABEL_EXPIRES];
    const sandbox = new Sandbox({
      id,
      loaded,
      workspace,
      link,
      ownsVolume: labels[LABEL_OWNS_VOLUME] === 'true',
      expiresAt: expires === undefined ? undefined : new Date(expires),
      owner: labels[LABEL_OWNER],
      labels: userLabels(labels),
      tokenSha256: labels[LABEL_TOKEN_SHA256],
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
    manager.log.info({ sandboxId: id, container: container.state }, 'reconciled sandbox');
    adopted.push(sandbox);
  }
  return adopted;
}
