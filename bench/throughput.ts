/**
 * Throughput: N sandboxes (via /v1), N concurrent clients (one per sandbox)
 * each calling `read_file` of a 4 KiB file in a loop for a fixed time; calls/s
 * in total. Twice: with the MCP client SDK, and with thin JSON-RPC clients
 * (node:http, one kept-alive connection each, the same POSTs an SDK sends) —
 * the load generator shares the machine's cores with what it measures, and
 * the SDK spends about as much CPU per call as the control plane does; the
 * thin clients show what the server side sustains. Baseline, same run: one SDK
 * client alone, sequential. Also where the machine's CPU went during each
 * window (control plane, agents, this benchmark's clients, everything else).
 *
 *   node bench/throughput.ts [--quick] [--set sandboxes=20] [--set seconds=10] [--set baselineSeconds=3]
 */
import http from 'node:http';
import os from 'node:os';
import type { Client } from '@modelcontextprotocol/client';
import { agentProcesses } from './lib/agents.ts';
import { BenchPlane, type CreatedSandbox, callTool, toolCallPost } from './lib/plane.ts';
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

export type Caller = () => Promise<void>;

/** Every caller calls read_file back to back until `seconds` have passed. */
export async function hammer(callers: Caller[], seconds: number, signal: AbortSignal): Promise<Window> {
  const window: Window = { calls: 0, errors: 0, seconds, latencies: [], firstError: undefined };
  const startedAt = performance.now();
  const deadline = startedAt + seconds * 1000;
  await Promise.all(
    callers.map(async (call) => {
      while (performance.now() < deadline && !signal.aborted) {
        const callStartedAt = performance.now();
        try {
          await call();
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

function sdkCaller(client: Client): Caller {
  return async () => {
    const result = await callTool(client, 'read_file', { path: 'file.txt' });
    if (result.bytes_returned !== FOUR_KIB.length) throw new Error('short read');
  };
}

/**
 * A thin client: `tools/call` POSTs (toolCallPost) over one kept-alive
 * node:http connection; the answer is parsed and checked like the SDK's.
 */
export function thinCaller(sandbox: CreatedSandbox): Caller {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const url = new URL(sandbox.mcpUrl);
  const { body, headers: postHeaders } = toolCallPost(sandbox, 'read_file', { path: 'file.txt' });
  const headers = { ...postHeaders, 'content-length': String(Buffer.byteLength(body)) };
  return () =>
    new Promise((resolve, reject) => {
      const request = http.request(url, { method: 'POST', agent, headers }, (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('error', reject);
        response.on('end', () => {
          try {
            const answer = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
              result?: { isError?: boolean; structuredContent?: { bytes_returned?: number } };
            };
            if (
              response.statusCode !== 200 ||
              answer.result?.structuredContent?.bytes_returned !== FOUR_KIB.length
            )
              throw new Error(
                `read_file over HTTP: ${response.statusCode} ${JSON.stringify(answer).slice(0, 200)}`,
              );
            resolve();
          } catch (error) {
            reject(error);
          }
        });
      });
      request.on('error', reject);
      request.end(body);
    });
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
    const sdkCallers = clients.map(sdkCaller);
    const thinCallers = sandboxes.map(thinCaller);

    progress('warming up');
    await hammer(sdkCallers, 1, signal);
    await hammer(thinCallers, 1, signal);
    progress(`baseline: one client for ${counts.baselineSeconds} s`);
    const single = await hammer(sdkCallers.slice(0, 1), counts.baselineSeconds, signal);

    const agentPids = agents.map((agent) => agent.agentPid).filter((pid): pid is number => pid !== undefined);
    const cores = os.availableParallelism();
    const cpu = async () => ({
      plane: await cpuSeconds(plane.pid),
      agents: (await Promise.all(agentPids.map(cpuSeconds))).reduce((sum, value) => sum + value, 0),
      bench: (process.cpuUsage().user + process.cpuUsage().system) / 1e6,
      machine: await machineBusySeconds(),
    });
    type Cpu = Awaited<ReturnType<typeof cpu>>;
    /** One loaded window and where the CPU went during it. */
    const measure = async (callers: Caller[], label: string) => {
      progress(`${callers.length} ${label} for ${counts.seconds} s`);
      const before = await cpu();
      const window = await hammer(callers, counts.seconds, signal);
      const after = await cpu();
      const share = (field: keyof Cpu) => (after[field] - before[field]) / window.seconds / cores;
      const perCall = (field: keyof Cpu) =>
        formatMs(((after[field] - before[field]) * 1000) / Math.max(1, window.calls));
      return { window, rate: window.calls / window.seconds, share, perCall };
    };
    const sdk = await measure(sdkCallers, 'MCP SDK clients');
    const thin = await measure(thinCallers, 'thin JSON-RPC clients');

    const singleRate = single.calls / single.seconds;
    const percent = (value: number) => `${Math.round(value * 100)} %`;
    const errorNote = [sdk, thin]
      .filter((each) => each.window.errors > 0)
      .map((each) => `; ${each.window.errors} calls failed (first: ${each.window.firstError?.slice(0, 120)})`)
      .join('');
    progress(
      `SDK clients ${Math.round(sdk.rate)} calls/s, thin clients ${Math.round(thin.rate)} calls/s ` +
        `(one SDK client alone: ${Math.round(singleRate)} calls/s)${errorNote}`,
    );
    const cpuRows = (each: typeof sdk, clientLabel: string) => {
      const others = each.share('machine') - each.share('plane') - each.share('agents') - each.share('bench');
      return [
        [
          'control plane (`sandboxd serve`, one Node process)',
          percent(each.share('plane')),
          each.perCall('plane'),
        ],
        [
          `agents (${agentPids.length} \`node agent.mjs\`)`,
          percent(each.share('agents')),
          each.perCall('agents'),
        ],
        [`this benchmark (${clientLabel})`, percent(each.share('bench')), each.perCall('bench')],
        ['everything else (engine, kernel, other users of the machine)', percent(others), '–'],
        ['= machine busy', percent(each.share('machine')), each.perCall('machine')],
      ];
    };
    return {
      rows: [
        {
          what: 'throughput',
          how:
            `${sandboxes.length} sandboxes (via /v1), ${sandboxes.length} concurrent clients (one each) calling ` +
            `\`read_file\` of 4 KiB over MCP HTTP in a loop for ${counts.seconds} s: thin JSON-RPC clients ` +
            `(node:http keep-alive), then MCP client SDKs, all on the same ${cores} cores${errorNote}`,
          result:
            `thin clients ${Math.round(thin.rate)} calls/s (p50 ${formatMs(summarize(thin.window.latencies).p50)} ms); ` +
            `SDK clients ${Math.round(sdk.rate)} calls/s (p50 ${formatMs(summarize(sdk.window.latencies).p50)} ms)`,
          baseline: `one SDK client alone, sequential: ${Math.round(singleRate)} calls/s`,
          ratio: ratioCell(thin.rate, singleRate, { isTime: false }),
          goal: `≥ ${GOAL_PER_SECOND} calls/s on ${cores} cores`,
          met: thin.rate >= GOAL_PER_SECOND && errorNote === '' ? 'yes' : 'no',
        },
      ],
      details: [
        '### Throughput',
        '',
        `Thin clients: ${thin.window.calls} calls in ${thin.window.seconds.toFixed(1)} s ` +
          `(${thin.window.errors} failed); SDK clients: ${sdk.window.calls} calls in ` +
          `${sdk.window.seconds.toFixed(1)} s (${sdk.window.errors} failed); the one-client baseline made ` +
          `${single.calls} calls in ${single.seconds.toFixed(1)} s, after a 1 s warm-up of each kind. The ` +
          'load generator runs on the same cores as the control plane and the agents; the thin clients spend ' +
          'less of them per call, so their rate is the closer measure of what the server side sustains.',
        '',
        latencyTable([
          [`per-call latency, ${sandboxes.length} thin clients at once`, thin.window.latencies],
          [`per-call latency, ${sandboxes.length} SDK clients at once`, sdk.window.latencies],
          ['per-call latency, one SDK client alone', single.latencies],
        ]),
        '',
        `Where the machine's ${cores} cores went (share of all cores, from /proc), thin clients:`,
        '',
        markdownTable(['process', 'share of all cores', 'CPU ms per call'], cpuRows(thin, 'thin clients'), [
          'left',
          'right',
          'right',
        ]),
        '',
        'SDK clients:',
        '',
        markdownTable(
          ['process', 'share of all cores', 'CPU ms per call'],
          cpuRows(sdk, 'the MCP client SDK'),
          ['left', 'right', 'right'],
        ),
      ].join('\n'),
    };
  },
};

if (isMain(import.meta.url)) await runStandalone(throughput);
