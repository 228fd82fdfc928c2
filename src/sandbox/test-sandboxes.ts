/**
 * For unit tests: a SandboxManager over the in-memory driver whose containers
 * run the real agent in this process, against a scratch workspace. No Docker,
 * no image: quotas, reaping, reconcile, the pool and /v1 in milliseconds.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { PROTOCOL_VERSION } from '#protocol/agent-api';
import { defaultAgentLimits } from '#protocol/limits';
import { unixDialer } from '../agent/dial.ts';
import { Dispatcher } from '../agent/dispatch.ts';
import { Link } from '../agent/link.ts';
import type { ToolContext } from '../agent/tools/context.ts';
import { createToolRegistry } from '../agent/tools/registry.ts';
import { type LoadedPolicy, loadPolicy } from '../policy/load.ts';
import type { ContainerSpec } from '../runtime/driver.ts';
import { MemoryDriver, type MemoryDriverOptions, type MemoryWorkload } from '../runtime/memory.ts';
import { type ManagerOptions, SandboxManager } from './manager.ts';

/** The agent, in this process, dialling the socket of the container it stands for. */
export function inProcessAgent(workspaceRoot: string) {
  return (spec: ContainerSpec): MemoryWorkload => {
    const context: ToolContext = { workspaceRoot, limits: defaultAgentLimits };
    const registry = createToolRegistry(() => context, os.tmpdir());
    const link = new Link({
      dialer: unixDialer(spec.socketDir),
      dispatcher: new Dispatcher(registry, context),
      log: () => undefined,
      minBackoffMs: 5,
      maxBackoffMs: 20,
      hello: () => ({
        protocolVersion: PROTOCOL_VERSION,
        agentVersion: 'test',
        pid: process.pid,
        uid: process.getuid?.() ?? 0,
        gid: process.getgid?.() ?? 0,
        activeCommands: registry.commands.activeCount,
      }),
    });
    link.start();
    return {
      stop: () => {
        registry.commands.killAll();
        link.close();
      },
    };
  };
}

export interface MemorySandboxes {
  manager: SandboxManager;
  driver: MemoryDriver;
  policy: LoadedPolicy;
  stateDir: string;
  workspaceRoot: string;
  /** Another manager over the same engine and state directory: a control-plane restart. */
  restart(): Promise<SandboxManager>;
}

/** A manager over the in-memory driver; everything it made is gone when the test ends. */
export async function memorySandboxes(
  t: { after: (fn: () => Promise<void>) => void },
  options: Partial<Omit<ManagerOptions, 'driver' | 'stateDir' | 'log'>> = {},
  driverOptions: Pick<MemoryDriverOptions, 'snapshots'> = {},
): Promise<MemorySandboxes> {
  const scratch = await mkdtemp(path.join(os.tmpdir(), 'sandboxd-memory-'));
  const stateDir = path.join(scratch, 'state');
  const workspaceRoot = path.join(scratch, 'workspace');
  await mkdir(workspaceRoot);
  const policy = await loadPolicy('default');
  const driver = new MemoryDriver({
    images: [policy.policy.image],
    run: inProcessAgent(workspaceRoot),
    ...driverOptions,
  });
  const managers: SandboxManager[] = [];
  const newManager = async () => {
    const manager = new SandboxManager({
      driver,
      stateDir,
      log: pino({ level: 'silent' }),
      defaultLifetime: 'persistent',
      ...options,
    });
    await manager.init();
    managers.push(manager);
    return manager;
  };
  const manager = await newManager();
  t.after(async () => {
    for (const each of managers) await each.destroyAll();
    for (const container of await driver.list({})) await driver.remove(container.id);
    await rm(scratch, { recursive: true, force: true });
  });
  return {
    manager,
    driver,
    policy,
    stateDir,
    workspaceRoot,
    restart: async () => {
      await manager.detachAll();
      return newManager();
    },
  };
}
