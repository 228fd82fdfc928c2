/**
 * gVisor against runc, in the same run on the same control plane: the default
 * policy under runc and the same policy under runsc (its seccomp variant), each
 * measured the way the other benchmarks measure sandboxd, the arms interleaved
 * round by round in a rotating order:
 *   - cold start: `POST /v1/sandboxes` → 201 (container started, agent dialled home), then DELETE;
 *   - exec round trip: MCP `exec_command` of `["true"]`, one connected client per sandbox;
 *   - read_file: MCP `read_file` of a 4 KiB file, one connected client per sandbox.
 * Skipped, with the reason in its rows, when the engine has no runsc registered.
 *
 *   node bench/gvisor.ts [--quick] [--set cold=10] [--set exec=200] [--set read=300] [--set warmup=300]
 */
import type { Client } from '@modelcontextprotocol/client';
import { DockerDriver } from '../src/runtime/docker/driver.ts';
import { runtimeFields } from '../test/support/runtime.ts';
import { BenchPlane, type CreatedSandbox, callTool } from './lib/plane.ts';
import { formatMs, latencyTable, summarize } from './lib/stats.ts';
import {
  type Bench,
  type BenchResult,
  isMain,
  p50p95,
  ratioCell,
  runStandalone,
  type SummaryRow,
} from './lib/suite.ts';
import { FOUR_KIB } from './read-file.ts';

const RUNTIMES = ['runc', 'runsc'] as const;
type Runtime = (typeof RUNTIMES)[number];
/** The policy each runtime's sandboxes are made from: policies/default.yaml, and the same under runsc. */
const POLICY: Record<Runtime, string> = { runc: 'default', runsc: 'gvisor' };

type Counts = { cold: number; exec: number; read: number; warmup: number };
type Series = Record<Runtime, number[]>;

const series = (): Series => ({ runc: [], runsc: [] });

export const gvisorBench: Bench<Counts> = {
  name: 'gvisor',
  title: 'runsc vs runc',
  counts: (quick) =>
    quick ? { cold: 3, exec: 40, read: 60, warmup: 50 } : { cold: 10, exec: 200, read: 300, warmup: 300 },
  async run(context, counts): Promise<BenchResult> {
    const { signal, progress } = context;
    const { runtimes } = await new DockerDriver().facts();
    if (!runtimes.includes('runsc'))
      return skipped(`the engine has no runsc (it has ${runtimes.join(', ')})`);

    const plane = await BenchPlane.start(context, { policies: { gvisor: runtimeFields('runsc') } });
    const sandboxes = {} as Record<Runtime, CreatedSandbox>;
    const clients = {} as Record<Runtime, Client>;
    for (const runtime of RUNTIMES) {
      sandboxes[runtime] = await plane.create({ policy: POLICY[runtime] }, signal);
      clients[runtime] = await plane.client(sandboxes[runtime]);
      await callTool(clients[runtime], 'write_file', { path: 'file.txt', content: FOUR_KIB });
    }

    const execTrue = async (runtime: Runtime) => {
      const result = await callTool(clients[runtime], 'exec_command', { cmd: ['true'] });
      if (result.exit_code !== 0) throw new Error(`exec_command under ${runtime}: ${JSON.stringify(result)}`);
    };
    const readFile = async (runtime: Runtime) => {
      const result = await callTool(clients[runtime], 'read_file', { path: 'file.txt' });
      if (result.bytes_returned !== FOUR_KIB.length)
        throw new Error(`read_file under ${runtime}: short read`);
    };
    const coldStart = async (runtime: Runtime) => {
      const created = await plane.create({ policy: POLICY[runtime] }, signal);
      await plane.delete(created.id);
    };
    const timed = async (into: number[], call: () => Promise<void>) => {
      signal.throwIfAborted();
      const startedAt = performance.now();
      await call();
      into.push(performance.now() - startedAt);
    };

    progress(`warming up (${counts.warmup} calls of each kind per runtime, one cold start each)`);
    for (const runtime of RUNTIMES) {
      await coldStart(runtime);
      for (let index = 0; index < counts.warmup; index++) {
        await execTrue(runtime);
        await readFile(runtime);
      }
    }

    const cold = series();
    const exec = series();
    const read = series();
    // Every round: one cold start per runtime and a share of the calls, the order rotating.
    const rounds = Math.max(1, counts.cold);
    const share = (total: number, round: number) =>
      Math.floor(((round + 1) * total) / rounds) - Math.floor((round * total) / rounds);
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? RUNTIMES : ([...RUNTIMES].reverse() as Runtime[]);
      for (const runtime of order) {
        await timed(cold[runtime], () => coldStart(runtime));
        for (let index = 0; index < share(counts.exec, round); index++) {
          await timed(exec[runtime], () => execTrue(runtime));
        }
        for (let index = 0; index < share(counts.read, round); index++) {
          await timed(read[runtime], () => readFile(runtime));
        }
      }
      progress(
        `[${round + 1}/${rounds}] ` +
          RUNTIMES.map(
            (runtime) =>
              `${runtime}: cold ${formatMs(summarize(cold[runtime]).p50)} ms, exec ${formatMs(summarize(exec[runtime]).p50)} ms, ` +
              `read ${formatMs(summarize(read[runtime]).p50)} ms`,
          ).join(' · '),
      );
    }

    const row = (what: string, how: string, values: Series): SummaryRow => {
      const runsc = summarize(values.runsc);
      const runc = summarize(values.runc);
      return {
        what,
        how,
        result: `runsc ${p50p95(runsc)}`,
        baseline: `runc ${p50p95(runc)}`,
        ratio: ratioCell(runsc.p50, runc.p50),
        goal: '–',
        met: 'n/a',
      };
    };
    return {
      rows: [
        row(
          'cold start, runsc vs runc',
          `\`POST /v1/sandboxes\` → 201 (agent ready), default policy under each runtime, p50 / p95 of ${cold.runsc.length} each, interleaved`,
          cold,
        ),
        row(
          'exec round trip, runsc vs runc',
          `MCP HTTP \`exec_command\` of \`["true"]\`, one client per sandbox, p50 / p95 of ${exec.runsc.length} each, interleaved`,
          exec,
        ),
        row(
          'read_file, runsc vs runc',
          `MCP HTTP \`read_file\` of a 4 KiB file, one client per sandbox, p50 / p95 of ${read.runsc.length} each after ${counts.warmup} warm-up calls, interleaved`,
          read,
        ),
      ],
      details: [
        '### runsc vs runc',
        '',
        'One control plane, two policies: `default` (runc) and the same under runsc with its seccomp variant ' +
          '(`sandboxd-gvisor.json`). In each of ' +
          `${rounds} rounds, each runtime in turn (the order alternating) takes one cold start and its share ` +
          'of the exec and read calls. runsc as Debian 12 ships it (release 2022-12-19, ptrace platform), ' +
          'registered with `--network=none --host-uds=open --oci-seccomp` (SECURITY.md).',
        '',
        latencyTable([
          ['cold start under runc (`POST /v1/sandboxes` → 201)', cold.runc],
          ['cold start under runsc', cold.runsc],
          ['MCP `exec_command ["true"]` under runc', exec.runc],
          ['MCP `exec_command ["true"]` under runsc', exec.runsc],
          ['MCP `read_file` 4 KiB under runc', read.runc],
          ['MCP `read_file` 4 KiB under runsc', read.runsc],
        ]),
      ].join('\n'),
    };
  },
};

function skipped(reason: string): BenchResult {
  const rows = ['cold start', 'exec round trip', 'read_file'].map(
    (what): SummaryRow => ({
      what: `${what}, runsc vs runc`,
      how: '–',
      result: `skipped: ${reason}; \`bash .ci/start-docker.sh\` registers it`,
      baseline: '–',
      ratio: '–',
      goal: '–',
      met: 'n/a',
    }),
  );
  return { rows, details: `### runsc vs runc\n\nSkipped: ${reason}.` };
}

if (isMain(import.meta.url)) await runStandalone(gvisorBench);
