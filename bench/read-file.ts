/**
 * read_file: MCP HTTP `read_file` of a 4 KiB file through one connected client,
 * split against what lies under it, all in the same run and interleaved:
 *   - the same call as a bare JSON-RPC POST (no client SDK),
 *   - the raw agent round trip (an in-process SandboxManager's agent link: no HTTP, no MCP),
 *   - `GET /healthz` on the same control plane (an HTTP round trip and routing, nothing else),
 *   - the host's own `fs.readFile` of a 4 KiB file.
 *
 *   node bench/read-file.ts [--quick] [--set mcp=500] [--set raw=200] [--set agent=200] [--set healthz=200]
 *                           [--set host=200] [--set warmup=1500]
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ReadFileInput } from '../src/protocol/tools/files.ts';
import { directSandbox } from './lib/direct.ts';
import { BenchPlane, callTool, rawToolCall } from './lib/plane.ts';
import { formatMs, latencyTable, type Summary, summarize } from './lib/stats.ts';
import { type Bench, type BenchResult, isMain, p50p95, ratioCell, runStandalone } from './lib/suite.ts';

const GOAL_MS = 2;
/** The MCP arm's first warm-up calls, reported apart: a fresh client and control plane. */
const FIRST_CALLS = 100;
export const FILE_BYTES = 4096;
/** 64 lines of 63 characters and a newline: 4 KiB of text. */
export const FOUR_KIB = Array.from(
  { length: 64 },
  (_, line) => `${String(line).padStart(4, '0')} ${'abcdefghijklmnopqrstuvwxyz'.repeat(3).slice(0, 58)}\n`,
).join('');

type Arm = { name: string; total: number; samples: number[]; call: () => Promise<void> };
type Counts = { mcp: number; raw: number; agent: number; healthz: number; host: number; warmup: number };

export const readFileBench: Bench<Counts> = {
  name: 'read-file',
  title: 'read_file',
  counts: (quick) =>
    quick
      ? { mcp: 100, raw: 40, agent: 40, healthz: 40, host: 40, warmup: 200 }
      : { mcp: 500, raw: 200, agent: 200, healthz: 200, host: 200, warmup: 1500 },
  async run(context, counts): Promise<BenchResult> {
    const { signal, progress } = context;
    if (FOUR_KIB.length !== FILE_BYTES) throw new Error(`the test file is ${FOUR_KIB.length} bytes`);
    const hostDir = await mkdtemp(path.join(os.tmpdir(), 'sandboxd-bench-read-'));
    context.cleanup.add('remove the host file', () => rm(hostDir, { recursive: true, force: true }));
    const hostFile = path.join(hostDir, 'file.txt');
    await writeFile(hostFile, FOUR_KIB);

    const [plane, direct] = await Promise.all([BenchPlane.start(context), directSandbox(context)]);
    const sandbox = await plane.create({});
    const client = await plane.client(sandbox);
    await callTool(client, 'write_file', { path: 'file.txt', content: FOUR_KIB });
    const agentInput = ReadFileInput.parse({ path: 'file.txt' });
    await direct.callTool('write_file', {
      path: 'file.txt',
      content: FOUR_KIB,
      create_dirs: false,
      overwrite: true,
    });

    const check = (result: Record<string, unknown> | undefined, via: string) => {
      if (result?.bytes_returned !== FILE_BYTES) {
        throw new Error(`read_file via ${via} returned ${JSON.stringify(result).slice(0, 200)}`);
      }
    };
    const arm = (name: string, total: number, call: () => Promise<void>): Arm => ({
      name,
      total,
      samples: [],
      call,
    });
    const arms: Arm[] = [
      arm('mcp', counts.mcp, async () =>
        check(await callTool(client, 'read_file', { path: 'file.txt' }), 'MCP'),
      ),
      arm('raw', counts.raw, async () =>
        check(await rawToolCall(sandbox, 'read_file', { path: 'file.txt' }), 'raw HTTP'),
      ),
      arm('agent', counts.agent, async () =>
        check((await direct.callTool('read_file', agentInput)).result as Record<string, unknown>, 'the link'),
      ),
      arm('healthz', counts.healthz, async () => {
        const response = await plane.control.fetch('/healthz');
        if (response.status !== 200) throw new Error(`GET /healthz: ${response.status}`);
        await response.text();
      }),
      arm('host', counts.host, async () => {
        if ((await readFile(hostFile)).length !== FILE_BYTES) throw new Error('short host read');
      }),
    ];
    // A long warm-up: the client SDK, the control plane and the agent run their code optimised only
    // after a few thousand calls, as a long-running control plane and client do. The MCP arm's first
    // calls are kept to show what a fresh process pays.
    progress(`warming up (${counts.warmup} calls per arm)`);
    const firstCalls: number[] = [];
    for (const each of arms) {
      for (let index = 0; index < counts.warmup; index++) {
        const startedAt = performance.now();
        await each.call();
        if (each.name === 'mcp' && index < FIRST_CALLS) firstCalls.push(performance.now() - startedAt);
      }
    }
    const before = await plane.toolSeconds('read_file');

    const rounds = 20;
    for (let round = 0; round < rounds; round++) {
      for (let offset = 0; offset < arms.length; offset++) {
        const each = arms[(round + offset) % arms.length] as Arm;
        const share =
          Math.floor(((round + 1) * each.total) / rounds) - Math.floor((round * each.total) / rounds);
        for (let index = 0; index < share; index++) {
          signal.throwIfAborted();
          const startedAt = performance.now();
          await each.call();
          each.samples.push(performance.now() - startedAt);
        }
      }
      if ((round + 1) % 5 === 0) {
        progress(
          `[${round + 1}/${rounds}] ` +
            arms.map((each) => `${each.name} p50 ${formatMs(summarize(each.samples).p50)} ms`).join(' · '),
        );
      }
    }
    const after = await plane.toolSeconds('read_file');
    const mcpCalls = after.count - before.count;
    const serverMeanMs = ((after.sum - before.sum) / Math.max(1, mcpCalls)) * 1000;

    const [mcp, raw, agent, healthz, host] = arms.map((each) => summarize(each.samples)) as [
      Summary,
      Summary,
      Summary,
      Summary,
      Summary,
    ];
    const series = (index: number) => arms[index]?.samples ?? [];
    return {
      rows: [
        {
          what: 'read_file',
          how: `MCP HTTP \`read_file\` of a 4 KiB file, one connected client, p50 / p95 of ${mcp.n} after ${counts.warmup} warm-up calls`,
          result: p50p95(mcp),
          baseline:
            `raw agent round trip ${p50p95(agent)}; bare JSON-RPC POST ${p50p95(raw)}; ` +
            `host fs.readFile ${p50p95(host)}`,
          ratio: `${ratioCell(mcp.p50, agent.p50)} of the agent round trip`,
          goal: `p50 ≤ ${GOAL_MS} ms`,
          met: mcp.p50 <= GOAL_MS ? 'yes' : 'no',
        },
      ],
      details: [
        '### read_file',
        '',
        `A 4 KiB text file (64 lines), read whole. ${rounds} rounds, each arm taking its share per round in a ` +
          `rotating order, after ${counts.warmup} warm-up calls per arm (the MCP arm's first ${FIRST_CALLS} are ` +
          `the table's last row: the same call from a fresh client on a fresh control plane). The agent-link arm is a second sandbox ` +
          'driven by an in-process SandboxManager (what the control plane does under each MCP call).',
        '',
        latencyTable([
          ['sandboxd: MCP HTTP `read_file` (client SDK → answer)', series(0)],
          ['the same as a bare JSON-RPC POST (fetch, no SDK)', series(1)],
          ['raw agent round trip (`Sandbox.callTool`, no HTTP/MCP)', series(2)],
          ['`GET /healthz` on the same control plane (HTTP + routing only)', series(3)],
          ['host `fs.readFile` of 4 KiB', series(4)],
          [
            `MCP \`read_file\`, the first ${FIRST_CALLS} calls of the warm-up (not counted above)`,
            firstCalls,
          ],
        ]),
        '',
        `Where an MCP call's time goes (p50s): the client SDK ≈ ${formatMs(mcp.p50 - raw.p50)} ms (SDK − bare ` +
          `POST); an HTTP round trip to the control plane ≈ ${formatMs(healthz.p50)} ms (\`/healthz\`); the ` +
          `agent round trip ≈ ${formatMs(agent.p50)} ms (the read itself ≈ ${formatMs(host.p50)} ms on the ` +
          `host); what is left, ≈ ${formatMs(raw.p50 - healthz.p50 - agent.p50)} ms, is the control plane's MCP ` +
          "layer (host, origin and token checks, body parsing, the SDK's classification and dispatch, one JSON " +
          'answer). The control plane’s ' +
          `own handler time (\`sandboxd_tool_call_seconds\`: tool handler start → result, agent round trip ` +
          `included) averaged ${formatMs(serverMeanMs)} ms over the ${mcpCalls} HTTP calls.`,
      ].join('\n'),
    };
  },
};

if (isMain(import.meta.url)) await runStandalone(readFileBench);
