/**
 * Throughput: N sandboxes (via /v1), N concurrent MCP clients (one per
 * sandbox) each calling `read_file` of a 4 KiB file in a loop for a fixed
 * time; calls/s in total. Baseline, same run: one client alone, sequential.
 * Also where the machine's CPU went during the window (control plane, agents,
 * this benchmark's clients, everything else).
 *
 *   node bench/throughput.ts [--quick] [--set sandboxes=20] [--set seconds=10] [--set baselineSeconds=3]
 */
import os from 'node:os';
import type { Client } from '@modelcontextprotocol/client';
import { agentProcesses } from './lib/agents.ts';
import { BenchPlane, type CreatedSandbox, callTool } from './lib/plane.ts';
import { cpuSeconds, machineBusySeconds } from './lib/procfs.ts';
import { formatMs, latencyTable, markdownTable, summarize } from './lib/stats.ts';
import { type Bench, type BenchResult, isMain, mapLimit, ratioCell, runStandalone } from './lib/suite.ts';
import { FOUR_KIB } from './read-file.ts';

const GOAL_PER_SECOND = 1000;

interface Window {
  calls: number;
  errors: number;
  seconds: number;
  latencies: number[];
  firstError: string | undefined;
}

/** Every client calls read_file back to back until `seconds` have passed. */
async function hammer(clients: Client[], seconds: number, signal: AbortSignal): Promise<Window> {
  const window: Window = { calls: 0, errors: 0, seconds, latencies: [], firstError: undefined };
  const startedAt = performance.now();
  const deadline = startedAt + seconds * 1000;
  await Promise.all(
    clients.map(async (client) => {
      while (performance.now() < deadline && !signal.aborted) {
        const callStartedAt = performance.now();
        try {
          const result = await callTool(client, 'read_file', { path: 'file.txt' });
          if (result.bytes_returned !== FOUR_KIB.length) throw new Error('short read');
          window.calls++;
          window.latencies.push(performance.now() - callStartedAt);
        } catch (error) {
          window.errors++;
          window.firstError ??= (error as Error).message;
        }
      }
    }),
  );
  signal.throwIfAborted();
  window.seconds = (performance.now() - startedAt) / 1000;
  return window;
}

export const throughput: Bench<{ sandboxes: number; seconds: number; baselineSeconds: number }> = {
  name: 'throughput',
  title: 'throughput',
  counts: (quick) =>
    quick
      ? { sandboxes: 8, seconds: 3, baselineSeconds: 1.5 }
      : { sandboxes: 20, seconds: 10, baselineSeconds: 3 },
  async run(context, counts): Promise<BenchResult> {
    const { signal, progress } = context;
    const plane = await BenchPlane.start(context);
    progress(`creating ${counts.sandboxes} sandboxes, 4 at a time`);
    const sandboxes = await mapLimit(
      Array.from({ length: counts.sandboxes }),
      4,
      async (): Promise<CreatedSandbox> => {
        signal.throwIfAborted();
        return plane.create({}, signal);
      },
    );
    const clients = await mapLimit(sandboxes, 4, async (sandbox) => {
      const client = await plane.client(sandbox);
      await callTool(client, 'write_file', { path: 'file.txt', content: FOUR_KIB });
      return client;
    });
    const agents = await agentProcesses(plane);

    progress('warming up');
    await hammer(clients, 1, signal);
    progress(`baseline: one client for ${counts.baselineSeconds} s`);
    const single = await hammer(clients.slice(0, 1), counts.baselineSeconds, signal);

    progress(`${clients.length} clients for ${counts.seconds} s`);
    const agentPids = agents.map((agent) => agent.agentPid).filter((pid): pid is number => pid !== undefined);
    const cpu = async () => ({
      plane: await cpuSeconds(plane.pid),
      agents: (await Promise.all(agentPids.map(cpuSeconds))).reduce((sum, value) => sum + value, 0),
      bench: (process.cpuUsage().user + process.cpuUsage().system) / 1e6,
      machine: await machineBusySeconds(),
    });
    const cpuBefore = await cpu();
    const loaded = await hammer(clients, counts.seconds, signal);
    const cpuAfter = await cpu();

    const singleRate = single.calls / single.seconds;
    const rate = loaded.calls / loaded.seconds;
    const cores = os.availableParallelism();
    const share = (field: keyof typeof cpuBefore) =>
      (cpuAfter[field] - cpuBefore[field]) / loaded.seconds / cores;
    const perCall = (field: keyof typeof cpuBefore) =>
      formatMs(((cpuAfter[field] - cpuBefore[field]) * 1000) / Math.max(1, loaded.calls));
    const percent = (value: number) => `${Math.round(value * 100)} %`;
    const others = share('machine') - share('plane') - share('agents') - share('bench');
    const errorNote =
      loaded.errors === 0
        ? ''
        : `; ${loaded.errors} calls failed (first: ${loaded.firstError?.slice(0, 120)})`;
    progress(`${Math.round(rate)} calls/s (one client alone: ${Math.round(singleRate)} calls/s)${errorNote}`);
    return {
      rows: [
        {
          what: 'throughput',
          how:
            `${clients.length} sandboxes (via /v1), ${clients.length} concurrent MCP clients (one each) calling ` +
            `\`read_file\` of 4 KiB in a loop for ${counts.seconds} s${errorNote}`,
          result: `${Math.round(rate)} calls/s (p50 ${formatMs(summarize(loaded.latencies).p50)} ms per call)`,
          baseline: `one client alone, sequential: ${Math.round(singleRate)} calls/s`,
          ratio: ratioCell(rate, singleRate, { isTime: false }),
          goal: `≥ ${GOAL_PER_SECOND} calls/s on ${cores} cores`,
          met: rate >= GOAL_PER_SECOND ? 'yes' : 'no',
        },
      ],
      details: [
        '### Throughput',
        '',
        `${loaded.calls} calls in ${loaded.seconds.toFixed(1)} s by ${clients.length} clients ` +
          `(${loaded.errors} failed); the one-client baseline made ${single.calls} calls in ` +
          `${single.seconds.toFixed(1)} s just before, after a 1 s warm-up of all clients.`,
        '',
        latencyTable([
          [`per-call latency, ${clients.length} clients at once`, loaded.latencies],
          ['per-call latency, one client alone', single.latencies],
        ]),
        '',
        `Where the machine's ${cores} cores went during the ${clients.length}-client window (share of all cores, ` +
          'from /proc):',
        '',
        markdownTable(
          ['process', 'share of all cores', 'CPU ms per call'],
          [
            ['control plane (`sandboxd serve`, one Node process)', percent(share('plane')), perCall('plane')],
            [`agents (${agentPids.length} \`node agent.mjs\`)`, percent(share('agents')), perCall('agents')],
            ['this benchmark (the MCP client SDK)', percent(share('bench')), perCall('bench')],
            ['everything else (engine, kernel, other users of the machine)', percent(others), '–'],
            ['= machine busy', percent(share('machine')), perCall('machine')],
          ],
          ['left', 'right', 'right'],
        ),
      ].join('\n'),
    };
  },
};

if (isMain(import.meta.url)) await runStandalone(throughput);
