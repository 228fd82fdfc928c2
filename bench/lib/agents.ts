/**
 * The host processes behind each sandbox of a control plane: the container's
 * init (`docker inspect` State.Pid), the agent below it (`node
 * /opt/sandboxd/agent.mjs`) and the containerd shim above it.
 */
import { LABEL_ID } from '../../src/runtime/labels.ts';
import type { BenchPlane } from './plane.ts';
import { engine } from './plane.ts';
import { findProcess, parentPid } from './procfs.ts';
import { mapLimit } from './suite.ts';

/** The agent itself, not the init whose arguments name it. */
const AGENT_COMMAND = /^(?:\S*\/)?node\s+\/opt\/sandboxd\/agent\.mjs/;

export interface AgentProcess {
  sandboxId: string;
  containerId: string;
  initPid: number;
  agentPid: number | undefined;
  shimPid: number | undefined;
}

export async function agentProcesses(
  plane: BenchPlane,
  onlyIds?: ReadonlySet<string>,
): Promise<AgentProcess[]> {
  const containers = (await plane.containers()).filter(
    (container) => onlyIds === undefined || onlyIds.has(container.labels[LABEL_ID] ?? ''),
  );
  const found = await mapLimit(containers, 8, async (container) => {
    const info = await engine.docker.getContainer(container.id).inspect();
    const initPid = info.State.Pid;
    if (!info.State.Running || initPid <= 0) return undefined;
    return {
      sandboxId: container.labels[LABEL_ID] ?? container.name,
      containerId: info.Id,
      initPid,
      agentPid: await findProcess(initPid, (cmdline) => AGENT_COMMAND.test(cmdline)),
      shimPid: await parentPid(initPid),
    };
  });
  return found.filter((entry): entry is AgentProcess => entry !== undefined);
}
