/**
 * Noisy neighbour: sandbox A runs, one at a time, a fork bomb, a memory bomb
 * (python3 allocating past the memory limit, again and again) and a ~1 GB
 * output flood (`yes | head -c 1G`), while sandbox B's `read_file` latency is
 * measured. Baseline, same run: B's latency with A quiet, measured before each
 * bomb and after the last; each bomb is compared with the quiet phases on
 * either side of it, so a drift of the machine over the run (the previous
 * benchmark's clean-up, code warming up) is not read as the bomb's effect.
 *
 *   node bench/noisy-neighbour.ts [--quick] [--set quietSeconds=3] [--set bombSeconds=8] [--set floodMaxSeconds=60]
 */
import type { Client } from '@modelcontextprotocol/client';
import { agentProcesses } from './lib/agents.ts';
import { BenchPlane, callTool } from './lib/plane.ts';
import { formatMs, latencyTable, markdownTable, summarize } from './lib/stats.ts';
import { type Bench, type BenchResult, isMain, ratioCell, runStandalone, sleep } from './lib/suite.ts';
import { FOUR_KIB } from './read-file.ts';

const GOAL_RATIO = 2;

interface Bomb {
  name: string;
  cmd: string;
  /** Runs until it exits by itself (bounded by floodMaxSeconds), not for a fixed window. */
  runsToEnd: boolean;
}

const BOMBS: Bomb[] = [
  {
    name: 'fork bomb',
    // The classic bomb, with a sleep started first so the command stays running (and killable) for the window.
    cmd: 'sleep 3600 & bomb() { bomb | bomb & }; bomb; wait',
    runsToEnd: false,
  },
  {
    name: 'memory bomb',
    // Touches every page (b"x" * n), so the cgroup limit is hit: OOM-killed, started again, for the window.
    cmd: 'while :; do python3 -c \'a = []\nwhile True: a.append(b"x" * (64 << 20))\'; done',
    runsToEnd: false,
  },
  { name: '1 GB output flood', cmd: 'yes | head -c 1G', runsToEnd: true },
];

interface Phase {
  name: string;
  latencies: number[];
  seconds: number;
  note: string;
}

/** B reads its file back to back until `until` resolves. */
async function measureB(client: Client, until: Promise<unknown>, signal: AbortSignal): Promise<number[]> {
  let isDone = false;
  const stop = until.finally(() => {
    isDone = true;
  });
  const latencies: number[] = [];
  while (!isDone) {
    signal.throwIfAborted();
    const startedAt = performance.now();
    const result = await callTool(client, 'read_file', { path: 'file.txt' });
    if (result.bytes_returned !== FOUR_KIB.length) throw new Error('B read a short file');
    latencies.push(performance.now() - startedAt);
  }
  await stop;
  return latencies;
}

const QUIET_OUTPUT = { max_output_bytes: 256, verbosity: 'minimal' };

/** B calls read_file this long before the first quiet phase, not counted. */
const WARM_UP_MS = 3000;

export const noisyNeighbour: Bench<{ quietSeconds: number; bombSeconds: number; floodMaxSeconds: number }> = {
  name: 'noisy-neighbour',
  title: 'noisy neighbour',
  counts: (quick) =>
    quick
      ? { quietSeconds: 1.5, bombSeconds: 3, floodMaxSeconds: 30 }
      : { quietSeconds: 3, bombSeconds: 8, floodMaxSeconds: 60 },
  async run(context, counts): Promise<BenchResult> {
    const { signal, progress } = context;
    const plane = await BenchPlane.start(context);
    const [a, b] = await Promise.all([plane.create({}), plane.create({})]);
    const [clientA, clientB] = await Promise.all([plane.client(a), plane.client(b)]);
    await callTool(clientB, 'write_file', { path: 'file.txt', content: FOUR_KIB });
    const agentA = async () => (await agentProcesses(plane, new Set([a.id])))[0]?.agentPid;
    const agentPidBefore = await agentA();

    const phases: Phase[] = [];
    const quiet = async (name: string) => {
      const latencies = await measureB(clientB, sleep(counts.quietSeconds * 1000, signal), signal);
      phases.push({ name, latencies, seconds: counts.quietSeconds, note: 'A idle' });
      progress(`${name}: B read_file p50 ${formatMs(summarize(latencies).p50)} ms (n=${latencies.length})`);
    };

    progress('warming up');
    await measureB(clientB, sleep(WARM_UP_MS, signal), signal);
    for (const bomb of BOMBS) {
      await quiet(`quiet before the ${bomb.name}`);
      const windowSeconds = bomb.runsToEnd ? counts.floodMaxSeconds : counts.bombSeconds;
      const started = await callTool(clientA, 'exec_command', {
        cmd: bomb.cmd,
        yield_time_ms: 0,
        timeout_ms: (windowSeconds + 10) * 1000,
        ...QUIET_OUTPUT,
      });
      const commandId = String(started.command_id);
      const startedAt = performance.now();
      let last: Record<string, unknown> = started;
      // A's command ends by itself (the flood) or at the end of the window; A is polled cheaply meanwhile.
      const window = (async () => {
        const deadline = startedAt + windowSeconds * 1000;
        while (last.status === 'running' && performance.now() < deadline) {
          signal.throwIfAborted();
          const wait = Math.max(1, Math.min(1000, Math.round(deadline - performance.now())));
          last = await callTool(
            clientA,
            'write_stdin',
            { command_id: commandId, chars: '', yield_time_ms: wait, ...QUIET_OUTPUT },
            60_000,
          );
        }
      })();
      const latencies = await measureB(clientB, window, signal);
      const seconds = (performance.now() - startedAt) / 1000;
      let killed = '';
      if (last.status === 'running') {
        const kill = await callTool(
          clientA,
          'kill_command',
          { command_id: commandId, signal: 'KILL' },
          60_000,
        );
        killed = `, then killed (${String(kill.status)})`;
        last = kill;
      }
      // A is usable again when a command runs there (a fork bomb's last processes may take a moment to go).
      const recoveredAt = performance.now();
      let check: Record<string, unknown> = {};
      while (performance.now() - recoveredAt < 30_000) {
        signal.throwIfAborted();
        check = await callTool(clientA, 'exec_command', { cmd: 'true', timeout_ms: 10_000 }, 60_000).catch(
          (error: Error) => ({ error: error.message }),
        );
        if (check.exit_code === 0) break;
        await sleep(200, signal);
      }
      const recoveryMs = performance.now() - recoveredAt;
      const totalBytes = last.total_bytes as { stdout?: number } | undefined;
      const note =
        `A's command: ${String(last.status)}` +
        (last.exit_code === null || last.exit_code === undefined ? '' : ` (exit ${String(last.exit_code)})`) +
        (last.signal ? ` (${String(last.signal)})` : '') +
        killed +
        (bomb.runsToEnd ? `, ${Math.round((totalBytes?.stdout ?? 0) / 1e6)} MB of output` : '') +
        `; A answered \`true\` ${check.exit_code === 0 ? 'again' : 'with an error'} ` +
        `${formatMs(recoveryMs)} ms later`;
      phases.push({ name: bomb.name, latencies, seconds, note });
      progress(
        `${bomb.name}: B read_file p50 ${formatMs(summarize(latencies).p50)} ms (n=${latencies.length}) · ${note}`,
      );
    }
    await quiet('quiet after the last bomb');
    const agentPidAfter = await agentA();

    const isQuiet = (phase: Phase) => phase.note === 'A idle';
    const quietLatencies = phases.filter(isQuiet).flatMap((phase) => phase.latencies);
    const quietP50 = summarize(quietLatencies).p50;
    /** Each bomb against the quiet phases right before and right after it. */
    const compared = phases.flatMap((phase, index) => {
      if (isQuiet(phase)) return [];
      const around = [phases[index - 1], phases[index + 1]].filter(
        (neighbour): neighbour is Phase => neighbour !== undefined && isQuiet(neighbour),
      );
      const aroundP50 = summarize(around.flatMap((neighbour) => neighbour.latencies)).p50;
      const p50 = summarize(phase.latencies).p50;
      return [{ phase, p50, aroundP50, ratio: p50 / aroundP50 }];
    });
    const worst = compared.reduce((worse, each) => (each.ratio > worse.ratio ? each : worse));
    const agentNote =
      agentPidBefore !== undefined && agentPidBefore === agentPidAfter
        ? "A's agent process survived all three"
        : `A's agent process changed (${agentPidBefore} → ${agentPidAfter})`;
    return {
      rows: [
        {
          what: 'noisy neighbour',
          how:
            'sandbox A runs a fork bomb, a memory bomb (python3 past the 1 GiB limit, repeatedly), a 1 GB ' +
            `output flood, one at a time; sandbox B's MCP \`read_file\` p50 meanwhile (${agentNote})`,
          result: compared
            .map(
              (each) =>
                `${each.phase.name} ${formatMs(each.p50)} ms (quiet around it ${formatMs(each.aroundP50)})`,
            )
            .join('; '),
          baseline: `A quiet (before each, after the last): ${formatMs(quietP50)} ms, n=${quietLatencies.length}`,
          ratio: `${ratioCell(worst.p50, worst.aroundP50, { isTime: false })} (worst: ${worst.phase.name})`,
          goal: `B's p50 within ${GOAL_RATIO}× of quiet`,
          met: compared.every((each) => each.ratio <= GOAL_RATIO) ? 'yes' : 'no',
        },
      ],
      details: [
        '### Noisy neighbour',
        '',
        `Both sandboxes use the default policy (1 CPU, 1 GiB, 512 pids) on one control plane. Bombs run ` +
          `${counts.bombSeconds} s each (the flood until it ends, at most ${counts.floodMaxSeconds} s); quiet ` +
          `phases ${counts.quietSeconds} s, after ${WARM_UP_MS / 1000} s of B's calls not counted. Each bomb is ` +
          'compared with the quiet phases right before and after it. ' +
          `${agentNote}.`,
        '',
        latencyTable(phases.map((phase) => [`B \`read_file\`: ${phase.name}`, phase.latencies])),
        '',
        markdownTable(
          ['bomb', 'ran', 'B p50 ÷ quiet p50 around it', 'B p50 ÷ every quiet phase', 'what happened to A'],
          compared.map((each) => [
            each.phase.name,
            `${each.phase.seconds.toFixed(1)} s`,
            ratioCell(each.p50, each.aroundP50, { isTime: false }),
            ratioCell(each.p50, quietP50, { isTime: false }),
            each.phase.note,
          ]),
        ),
      ].join('\n'),
    };
  },
};

if (isMain(import.meta.url)) await runStandalone(noisyNeighbour);
