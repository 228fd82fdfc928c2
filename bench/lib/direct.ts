/**
 * A sandbox driven in-process, as bench/cold-start.ts does: the benchmark's own
 * SandboxManager and the agent link, no HTTP and no MCP. Calls through it are
 * the raw agent round trip (framing, the Unix socket, the agent's tool), the
 * floor under every MCP call.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import type { Lookup } from '../../src/egress/resolve.ts';
import { type LoadedPolicy, loadPolicy } from '../../src/policy/load.ts';
import { DockerDriver } from '../../src/runtime/docker/driver.ts';
import { LABEL_ID } from '../../src/runtime/labels.ts';
import { SandboxManager } from '../../src/sandbox/manager.ts';
import type { Sandbox } from '../../src/sandbox/sandbox.ts';
import { BENCH_LABEL } from './baseline-container.ts';
import type { BenchContext } from './suite.ts';

/** `policy` replaces the default one; `egressLookup` resolves egress names (loopback test names). */
export async function directSandbox(
  context: BenchContext,
  options: {
    policy?: LoadedPolicy;
    egressLookup?: Lookup;
    onManager?: (manager: SandboxManager) => void;
  } = {},
): Promise<Sandbox> {
  const driver = new DockerDriver();
  const runId = randomUUID();
  const id = `bench-${runId.slice(0, 12)}`;
  const stateDir = await mkdtemp(path.join(os.tmpdir(), 'sandboxd-bench-direct-'));
  const manager = new SandboxManager({
    driver,
    stateDir,
    log: pino({ level: process.env.SANDBOXD_BENCH_LOG ?? 'silent' }, pino.destination(2)),
    ...(options.egressLookup === undefined ? {} : { egressLookup: options.egressLookup }),
  });
  context.cleanup.add('remove the in-process sandbox', async () => {
    await manager.destroyAll().catch(() => undefined);
    for (const container of await driver.list({ [BENCH_LABEL]: runId })) await driver.remove(container.id);
    for (const volume of await driver.listVolumes({ [LABEL_ID]: id })) await driver.removeVolume(volume);
    await rm(stateDir, { recursive: true, force: true });
  });
  await manager.init();
  options.onManager?.(manager);
  return manager.create({
    policy: options.policy ?? (await loadPolicy('default')),
    id,
    labels: { [BENCH_LABEL]: runId },
    signal: context.signal,
  });
}
