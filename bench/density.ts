/**
 * Density: as many idle sandboxes as fit (goal 100) at once, created via /v1
 * four at a time within a time budget, then per sandbox: the agent's RSS (and
 * PSS, which splits shared pages fairly), the engine's memory for the
 * container (its memory cgroup, as `docker stats` counts it), the containerd
 * shim, and the control plane's RSS. Baseline, same run: a plain `docker run
 * -d IMAGE sleep infinity` container of the same image.
 *
 *   node bench/density.ts [--quick] [--set sandboxes=100] [--set budgetSeconds=150]
 */

import { DEFAULT_WORKER_IMAGE } from '../src/policy/schema.ts';
import { agentProcesses } from './lib/agents.ts';
import { plainContainer } from './lib/baseline-container.ts';
import { BenchPlane, engine } from './lib/plane.ts';
import { containerMemory, memAvailableBytes, parentPid, processMemory } from './lib/procfs.ts';
import { markdownTable, summarize } from './lib/stats.ts';
import { type Bench, type BenchResult, isMain, mib, ratioCell, runStandalone, sleep } from './lib/suite.ts';

const GOAL_MIB = 40;
const IMAGE = DEFAULT_WORKER_IMAGE;
/** Stop creating when the host has less than this left. */
const MEMORY_FLOOR_BYTES = 2 * 2 ** 30;

type Series = { what: string; values: number[] };

function memoryRow(series: Series): string[] {
  const summary = summarize(series.values);
  return [series.what, mib(summary.p50), mib(summary.p95), mib(summary.mean), String(summary.n)];
}

export const density: Bench<{ sandboxes: number; budgetSeconds: number; settleSeconds: number }> = {
  name: 'density',
  title: 'density',
  counts: (quick) =>
    quick
      ? { sandboxes: 10, budgetSeconds: 60, settleSeconds: 2 }
      : { sandboxes: 100, budgetSeconds: 150, settleSeconds: 5 },
  async run(context, counts): Promise<BenchResult> {
    const { signal, progress } = context;
    const limit = String(Math.max(150, counts.sandboxes + 10));
    const [plane, plain] = await Promise.all([
      BenchPlane.start(context, {
        env: { SANDBOXD_MAX_SANDBOXES: limit, SANDBOXD_MAX_SANDBOXES_PER_TOKEN: limit },
      }),
      plainContainer(context, IMAGE),
    ]);
    await sleep(1000, signal);
    const planeBefore = await processMemory(plane.pid);
    const availableBefore = await memAvailableBytes();

    progress(`creating up to ${counts.sandboxes} sandboxes, 4 at a time, within ${counts.budgetSeconds} s`);
    const startedAt = performance.now();
    const deadline = startedAt + counts.budgetSeconds * 1000;
    const ids: string[] = [];
    let stopReason: string | undefined;
    let next = 0;
    const worker = async () => {
      while (next < counts.sandboxes && stopReason === undefined) {
        signal.throwIfAborted();
        if (performance.now() > deadline) {
          stopReason = `the ${counts.budgetSeconds} s budget ran out`;
          return;
        }
        if ((await memAvailableBytes()) < MEMORY_FLOOR_BYTES) {
          stopReason = `the host had less than ${mib(MEMORY_FLOOR_BYTES)} available`;
          return;
        }
        next++;
        try {
          ids.push((await plane.create({}, signal)).id);
        } catch (error) {
          signal.throwIfAborted();
          stopReason = `a create failed: ${(error as Error).message.slice(0, 200)}`;
          return;
        }
        if (ids.length % 10 === 0) {
          progress(`${ids.length} sandboxes after ${((performance.now() - startedAt) / 1000).toFixed(0)} s`);
        }
      }
    };
    await Promise.all([worker(), worker(), worker(), worker()]);
    const createSeconds = (performance.now() - startedAt) / 1000;
    if (ids.length === 0) throw new Error(`no sandbox could be created: ${stopReason}`);
    progress(
      `${ids.length} sandboxes in ${createSeconds.toFixed(0)} s` +
        `${stopReason === undefined ? '' : ` (stopped: ${stopReason})`}; settling ${counts.settleSeconds} s`,
    );
    await sleep(counts.settleSeconds * 1000, signal);

    const agents = await agentProcesses(plane, new Set(ids));
    const agentRss: number[] = [];
    const agentAnon: number[] = [];
    const agentPss: number[] = [];
    const cgroupUsage: number[] = [];
    const cgroupWorkingSet: number[] = [];
    const shimPss: number[] = [];
    for (const agent of agents) {
      const memory = agent.agentPid === undefined ? undefined : await processMemory(agent.agentPid);
      if (memory !== undefined) {
        agentRss.push(memory.rssBytes);
        agentAnon.push(memory.anonBytes);
        agentPss.push(memory.pssBytes);
      }
      const cgroup = await containerMemory(agent.containerId);
      if (cgroup !== undefined) {
        cgroupUsage.push(cgroup.usageBytes);
        cgroupWorkingSet.push(cgroup.workingSetBytes);
      }
      const shim = agent.shimPid === undefined ? undefined : await processMemory(agent.shimPid);
      if (shim !== undefined) shimPss.push(shim.pssBytes);
    }
    const planeAfter = await processMemory(plane.pid);
    const availableAfter = await memAvailableBytes();
    const plainCgroup = await containerMemory(plain);
    const plainInit = await engine.docker.getContainer(plain).inspect();
    const plainShimPid = await parentPid(plainInit.State.Pid);
    const plainShim = plainShimPid === undefined ? undefined : await processMemory(plainShimPid);

    const count = ids.length;
    const planeRss = planeAfter?.rssBytes ?? Number.NaN;
    const planeGrowthPerSandbox = (planeRss - (planeBefore?.rssBytes ?? Number.NaN)) / count;
    const engineMean = summarize(cgroupWorkingSet).mean;
    const shimMean = summarize(shimPss).mean;
    const perSandbox = engineMean + shimMean + planeGrowthPerSandbox;
    const hostPerSandbox = (availableBefore - availableAfter) / count;
    const plainTotal = (plainCgroup?.workingSetBytes ?? Number.NaN) + (plainShim?.pssBytes ?? Number.NaN);
    const shortNote =
      count < counts.sandboxes
        ? ` — only ${count} of ${counts.sandboxes} fit: ${stopReason ?? 'unknown reason'}`
        : '';
    return {
      rows: [
        {
          what: 'density',
          how:
            `${count} idle sandboxes at once (via /v1, 4 at a time, ${createSeconds.toFixed(0)} s)${shortNote}; ` +
            'per sandbox: container memory cgroup (as `docker stats`) + containerd shim PSS + control-plane RSS growth',
          result:
            `${mib(perSandbox)} per sandbox (engine ${mib(engineMean)}, shim ${mib(shimMean)}, control plane ` +
            `${mib(planeGrowthPerSandbox)}); agent RSS p50 ${mib(summarize(agentRss).p50)} (PSS ` +
            `${mib(summarize(agentPss).p50)}); control plane RSS ${mib(planeRss)}`,
          baseline: `plain \`sleep infinity\` container: ${mib(plainTotal)} (engine + shim)`,
          ratio: ratioCell(perSandbox, plainTotal, { isTime: false }),
          goal: `≤ ${GOAL_MIB} MiB per sandbox`,
          met: perSandbox <= GOAL_MIB * 2 ** 20 ? 'yes' : 'no',
        },
      ],
      details: [
        '### Density',
        '',
        `${count} sandboxes created in ${createSeconds.toFixed(1)} s${shortNote}, measured after ` +
          `${counts.settleSeconds} s idle. Agent processes found for ${agents.length}.`,
        '',
        markdownTable(
          ['per sandbox', 'p50', 'p95', 'mean', 'n'],
          [
            { what: 'agent VmRSS (shared pages counted in full)', values: agentRss },
            { what: 'agent RssAnon (private heap and stacks)', values: agentAnon },
            { what: 'agent PSS (shared pages split)', values: agentPss },
            { what: 'container memory cgroup usage (page cache included)', values: cgroupUsage },
            { what: 'container memory cgroup working set (`docker stats`)', values: cgroupWorkingSet },
            { what: 'containerd-shim-runc-v2 PSS', values: shimPss },
          ].map(memoryRow),
          ['left', 'right', 'right', 'right', 'right'],
        ),
        '',
        `- control plane RSS: ${mib(planeBefore?.rssBytes ?? Number.NaN)} before, ${mib(planeRss)} with ` +
          `${count} sandboxes (${mib(planeGrowthPerSandbox)} per sandbox)`,
        `- host MemAvailable fell by ${mib(availableBefore - availableAfter)}: ${mib(hostPerSandbox)} per ` +
          'sandbox (everything: engine, shims, kernel; other users of the machine move this too)',
        `- plain \`docker run -d ${IMAGE} sleep infinity\`: cgroup working set ` +
          `${mib(plainCgroup?.workingSetBytes ?? Number.NaN)}, shim PSS ${mib(plainShim?.pssBytes ?? Number.NaN)}`,
      ].join('\n'),
    };
  },
};

if (isMain(import.meta.url)) await runStandalone(density);
