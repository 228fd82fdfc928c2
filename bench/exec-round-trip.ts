/**
 * Exec round trip: MCP HTTP `exec_command` of `["true"]` (an argv: the program
 * itself, as `docker exec` runs it) through one connected client, against
 * `docker exec CTR true` (the CLI, spawned) on a plain `docker run -d IMAGE
 * sleep infinity` container and a host-native `child_process.spawn('true')`.
 * More arms: the string `"true"` (which runs through `bash -c`), and the argv
 * call over the agent link of an in-process sandbox (no HTTP, no MCP), to split
 * the control plane's share from the agent's. The arms are interleaved round
 * by round with a rotating order.
 *
 *   node bench/exec-round-trip.ts [--quick] [--set mcp=200] [--set shell=100] [--set docker=50]
 *                                 [--set spawn=200] [--set link=100]
 */

import { DEFAULT_WORKER_IMAGE } from '../src/policy/schema.ts';
import { ExecCommandTool } from '../src/protocol/tools/commands.ts';
import { plainContainer, timeSpawn } from './lib/baseline-container.ts';
import { directSandbox } from './lib/direct.ts';
import { BenchPlane, callTool } from './lib/plane.ts';
import { formatMs, latencyTable, summarize } from './lib/stats.ts';
import { type Bench, type BenchResult, isMain, p50p95, ratioCell, runStandalone } from './lib/suite.ts';

const GOAL_FASTER = 10;
const IMAGE = DEFAULT_WORKER_IMAGE;

type Counts = { mcp: number; shell: number; docker: number; spawn: number; link: number; warmup: number };

export const execRoundTrip: Bench<Counts> = {
  name: 'exec-round-trip',
  title: 'exec round trip',
  counts: (quick) =>
    quick
      ? { mcp: 40, shell: 20, docker: 10, spawn: 40, link: 20, warmup: 5 }
      : { mcp: 200, shell: 100, docker: 50, spawn: 200, link: 100, warmup: 100 },
  async run(context, counts): Promise<BenchResult> {
    const { signal, progress } = context;
    const [plane, container, direct] = await Promise.all([
      BenchPlane.start(context),
      plainContainer(context, IMAGE),
      directSandbox(context),
    ]);
    const sandbox = await plane.create({});
    const client = await plane.client(sandbox);
    const mcpMs: number[] = [];
    const shellMs: number[] = [];
    const dockerMs: number[] = [];
    const spawnMs: number[] = [];
    const linkMs: number[] = [];
    const agentReportedMs: number[] = [];
    const exec = async (cmd: string | string[], reported: number[] | undefined) => {
      const startedAt = performance.now();
      const result = await callTool(client, 'exec_command', { cmd });
      const ms = performance.now() - startedAt;
      if (result.exit_code !== 0) {
        throw new Error(`exec_command ${JSON.stringify(cmd)}: ${JSON.stringify(result).slice(0, 200)}`);
      }
      reported?.push(Number(result.duration_ms));
      return ms;
    };
    const execTrue = () => exec(['true'], agentReportedMs);
    const execShellTrue = () => exec('true', undefined);
    const agentInput = ExecCommandTool.input.parse({ cmd: ['true'] });
    const linkTrue = async () => {
      const startedAt = performance.now();
      const reply = await direct.callTool('exec_command', agentInput);
      const ms = performance.now() - startedAt;
      if ((reply.result as { exit_code?: number }).exit_code !== 0) {
        throw new Error('exec_command true over the agent link failed');
      }
      return ms;
    };
    const dockerExec = () => timeSpawn('docker', ['exec', container, 'true']);
    const hostSpawn = () => timeSpawn('true', []);

    progress('warming up');
    for (let index = 0; index < counts.warmup; index++) {
      await execTrue();
      await execShellTrue();
      await linkTrue();
      await hostSpawn();
    }
    await dockerExec();
    agentReportedMs.length = 0;
    const before = await plane.toolSeconds('exec_command');

    // Every round takes one docker exec and a share of the other arms.
    const rounds = Math.max(1, counts.docker);
    const share = (total: number, round: number) =>
      Math.floor(((round + 1) * total) / rounds) - Math.floor((round * total) / rounds);
    const repeat = async (total: number, round: number, into: number[], call: () => Promise<number>) => {
      for (let index = 0; index < share(total, round); index++) into.push(await call());
    };
    const arms = [
      (round: number) => repeat(counts.mcp, round, mcpMs, execTrue),
      (round: number) => repeat(counts.shell, round, shellMs, execShellTrue),
      (round: number) => repeat(counts.docker, round, dockerMs, dockerExec),
      (round: number) => repeat(counts.spawn, round, spawnMs, hostSpawn),
      (round: number) => repeat(counts.link, round, linkMs, linkTrue),
    ];
    for (let round = 0; round < rounds; round++) {
      for (let offset = 0; offset < arms.length; offset++) {
        signal.throwIfAborted();
        await (arms[(round + offset) % arms.length] as (round: number) => Promise<void>)(round);
      }
      if ((round + 1) % Math.max(1, Math.floor(rounds / 5)) === 0) {
        progress(
          `[${round + 1}/${rounds}] mcp p50 ${formatMs(summarize(mcpMs).p50)} ms · docker exec p50 ` +
            `${formatMs(summarize(dockerMs).p50)} ms · agent link p50 ${formatMs(summarize(linkMs).p50)} ms · ` +
            `host spawn p50 ${formatMs(summarize(spawnMs).p50)} ms`,
        );
      }
    }
    const after = await plane.toolSeconds('exec_command');
    const serverMeanMs = ((after.sum - before.sum) / Math.max(1, after.count - before.count)) * 1000;

    const mcp = summarize(mcpMs);
    const shell = summarize(shellMs);
    const docker = summarize(dockerMs);
    const host = summarize(spawnMs);
    const link = summarize(linkMs);
    const reported = summarize(agentReportedMs);
    return {
      rows: [
        {
          what: 'exec round trip',
          how:
            `MCP HTTP \`exec_command\` of \`["true"]\` (argv, no shell, as docker exec runs it), one connected ` +
            `client, p50 / p95 of ${mcp.n}; vs \`docker exec CTR true\` (CLI, n=${docker.n}) on a plain ` +
            '`sleep infinity` container, interleaved',
          result: `${p50p95(mcp)}; the string \`"true"\` (through \`bash -c\`) ${p50p95(shell)}`,
          baseline: `docker exec ${p50p95(docker)}; host spawn('true') ${p50p95(host)}`,
          ratio: ratioCell(mcp.p50, docker.p50),
          goal: `≥ ${GOAL_FASTER}× faster than docker exec (p50)`,
          met: docker.p50 / mcp.p50 >= GOAL_FASTER ? 'yes' : 'no',
        },
      ],
      details: [
        '### Exec round trip',
        '',
        `${rounds} rounds, each with one \`docker exec\` and a share of the other arms, in a rotating order; ` +
          `${counts.warmup} warm-up calls per arm not kept. The baseline container is a plain ` +
          `\`docker run -d ${IMAGE} sleep infinity\` (default network, no sandboxd hardening).`,
        '',
        latencyTable([
          ['sandboxd: MCP HTTP `exec_command` `["true"]` (client → answer)', mcpMs],
          ['sandboxd: MCP HTTP `exec_command` `"true"`, through `bash -c` (client → answer)', shellMs],
          ['the same over the agent link of an in-process sandbox (no HTTP, no MCP)', linkMs],
          ["the agent's own `duration_ms` for the MCP arm's calls (spawn → exit)", agentReportedMs],
          ['`docker exec CTR true` (CLI spawn → exit)', dockerMs],
          ["host `child_process.spawn('true')` (spawn → exit)", spawnMs],
        ]),
        '',
        `Of the MCP call's p50 of ${formatMs(mcp.p50)} ms, the agent link takes ${formatMs(link.p50)} ms and the ` +
          `command itself (the launcher's spawn of \`true\` until its exit) ${formatMs(reported.p50)} ` +
          `ms; a host-native spawn of \`true\` alone takes ${formatMs(host.p50)} ms on this machine. The control ` +
          `plane's own view (\`sandboxd_tool_call_seconds\`): mean ${formatMs(serverMeanMs)} ms per call, against ` +
          `a client-side mean of ${formatMs(mcp.mean)} ms.`,
      ].join('\n'),
    };
  },
};

if (isMain(import.meta.url)) await runStandalone(execRoundTrip);
