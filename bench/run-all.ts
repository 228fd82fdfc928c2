/**
 * `npm run bench`: every benchmark under bench/, one after another, each against
 * a baseline measured in the same run. Prints one markdown table, writes it with
 * the machine's facts and every benchmark's details to bench/results/latest.md,
 * and with --update-readme puts the table in README.md between the bench markers.
 *
 *   node bench/run-all.ts [--quick] [--only a,b] [--skip a,b] [--set NAME.KEY=N]...
 *                         [--update-readme] [--out FILE]
 *
 * Benchmarks: cold-start, warm-acquire, exec-round-trip, read-file, throughput,
 * density, noisy-neighbour, egress, preview, snapshots, audit, gvisor (runsc against runc; skipped without runsc).
 * --set overrides one count, e.g. --set read-file.mcp=1000 (each file's header
 * lists its counts). Exits 1 when a benchmark could not run,
 * 130 when interrupted, never because a goal was missed.
 */
import { execFile } from 'node:child_process';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { DEFAULT_WORKER_IMAGE } from '../src/policy/schema.ts';
import { auditBench } from './audit.ts';
import { density } from './density.ts';
import { egressBench } from './egress.ts';
import { execRoundTrip } from './exec-round-trip.ts';
import { gvisorBench } from './gvisor.ts';
import { coldStart } from './lib/cold-start-spawn.ts';
import { engine } from './lib/plane.ts';
import {
  type Bench,
  type Counts,
  interruptOnSignals,
  RESULTS_DIR,
  runBench,
  type SummaryRow,
  summaryTable,
} from './lib/suite.ts';
import { noisyNeighbour } from './noisy-neighbour.ts';
import { previewBench } from './preview.ts';
import { readFileBench } from './read-file.ts';
import { snapshotsBench } from './snapshots.ts';
import { throughput } from './throughput.ts';
import { warmAcquire } from './warm-acquire.ts';

const ROOT = path.join(import.meta.dirname, '..');
const README = path.join(ROOT, 'README.md');
const START_MARKER = '<!-- bench:start -->';
const END_MARKER = '<!-- bench:end -->';
const IMAGE = DEFAULT_WORKER_IMAGE;

const ALL: Bench<Counts>[] = [
  coldStart,
  warmAcquire,
  execRoundTrip,
  readFileBench,
  throughput,
  density,
  noisyNeighbour,
  egressBench,
  previewBench,
  snapshotsBench,
  auditBench,
  gvisorBench,
] as unknown as Bench<Counts>[];

const progress = (line: string) => process.stderr.write(`run-all: ${line}\n`);
const run = promisify(execFile);

function parseFlags() {
  try {
    return parseArgs({
      options: {
        quick: { type: 'boolean', default: false },
        only: { type: 'string' },
        skip: { type: 'string' },
        set: { type: 'string', multiple: true, default: [] },
        'update-readme': { type: 'boolean', default: false },
        out: { type: 'string', default: path.join(RESULTS_DIR, 'latest.md') },
      },
    }).values;
  } catch (error) {
    progress(`${(error as Error).message}`);
    progress(
      'usage: node bench/run-all.ts [--quick] [--only a,b] [--skip a,b] [--set NAME.KEY=N]... ' +
        `[--update-readme] [--out FILE]; benchmarks: ${ALL.map((bench) => bench.name).join(', ')}`,
    );
    process.exit(2);
  }
}

const flags = parseFlags();

function selected(): Bench<Counts>[] {
  const names = (text: string | undefined) => new Set((text ?? '').split(',').filter((name) => name !== ''));
  const only = names(flags.only);
  const skip = names(flags.skip);
  for (const name of [...only, ...skip]) {
    if (!ALL.some((bench) => bench.name === name)) {
      throw new Error(`no benchmark ${name}; known: ${ALL.map((bench) => bench.name).join(', ')}`);
    }
  }
  for (const entry of flags.set) {
    const name = entry.split('.')[0] ?? '';
    if (!ALL.some((bench) => bench.name === name)) throw new Error(`--set ${entry}: no benchmark ${name}`);
  }
  return ALL.filter((bench) => (only.size === 0 || only.has(bench.name)) && !skip.has(bench.name));
}

async function preflight(): Promise<string | undefined> {
  try {
    await engine.facts();
  } catch (error) {
    return `cannot reach the Docker engine: ${(error as Error).message}`;
  }
  if (!(await engine.hasImage(IMAGE))) {
    return `the worker image ${IMAGE} is not built: node scripts/build.ts && node bin/sandboxd.js image build`;
  }
  if ((await stat(path.join(ROOT, 'dist', 'cli.mjs')).catch(() => undefined)) === undefined) {
    return 'dist/cli.mjs is missing: node scripts/build.ts';
  }
  return undefined;
}

async function machineFacts(): Promise<string[]> {
  const gib = (bytes: number) => `${(bytes / 2 ** 30).toFixed(1)} GiB`;
  const [facts, info, image, cli, commit] = await Promise.all([
    engine.facts(),
    engine.docker.info() as Promise<Record<string, unknown>>,
    engine.docker.getImage(IMAGE).inspect(),
    stat(path.join(ROOT, 'dist', 'cli.mjs')),
    run('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT }).then(
      (result) => result.stdout.trim(),
      () => 'unknown',
    ),
  ]);
  return [
    `date: ${new Date().toISOString()}`,
    `cores: ${os.availableParallelism()} (${os.cpus()[0]?.model ?? 'unknown CPU'}); the engine sees ${facts.cpus}`,
    `memory: ${gib(os.totalmem())}; the engine sees ${gib(facts.memoryBytes)}`,
    `kernel: ${os.release()} (${String(info.OperatingSystem ?? os.type())})`,
    `engine: Docker ${facts.engineVersion} (API ${facts.apiVersion}), storage ${String(info.Driver)}, ` +
      `cgroup v${String(info.CgroupVersion ?? '?')} (${String(info.CgroupDriver)})`,
    `node: ${process.version} (control plane and benchmark clients)`,
    `image: ${IMAGE} ${image.Id.slice(7, 19)} built ${image.Created}; dist/cli.mjs built ${cli.mtime.toISOString()}; ` +
      `commit ${commit} plus uncommitted work`,
  ];
}

function commandLine(): string {
  return ['node', 'bench/run-all.ts', ...process.argv.slice(2)].join(' ');
}

async function updateReadme(table: string, command: string, factsLine: string): Promise<void> {
  const text = await readFile(README, 'utf8');
  const start = text.indexOf(START_MARKER);
  const end = text.indexOf(END_MARKER);
  if (start === -1 || end === -1 || end < start)
    throw new Error(`README.md lacks ${START_MARKER} … ${END_MARKER}`);
  const section = [
    START_MARKER,
    `Produced by \`${command}\` (\`npm run bench\`) — ${factsLine}. Every baseline was measured in the same ` +
      'run, interleaved; the details, with every series, are in `bench/results/latest.md`.',
    '',
    table,
    END_MARKER,
  ].join('\n');
  await writeFile(README, text.slice(0, start) + section + text.slice(end + END_MARKER.length));
}

async function main(): Promise<number> {
  let benches: Bench<Counts>[];
  try {
    benches = selected();
  } catch (error) {
    progress((error as Error).message);
    return 2;
  }
  const problem = await preflight();
  if (problem !== undefined) {
    progress(`cannot run: ${problem}`);
    return 1;
  }
  const interrupt = interruptOnSignals('run-all');
  const facts = await machineFacts();
  const loadBefore = os.loadavg();
  const startedAt = performance.now();
  const rows: SummaryRow[] = [];
  const details: string[] = [];
  const failures: string[] = [];
  for (const bench of benches) {
    if (interrupt.signal.aborted) break;
    progress(`— ${bench.name} —`);
    try {
      const result = await runBench(bench, {
        quick: flags.quick,
        signal: interrupt.signal,
        overrides: flags.set,
        prefix: bench.name,
      });
      rows.push(...result.rows);
      details.push(result.details);
    } catch (error) {
      if (interrupt.signal.aborted) break;
      const message = (error as Error).message.split('\n')[0] ?? String(error);
      progress(`${bench.name} could not run: ${(error as Error).stack ?? error}`);
      failures.push(`${bench.name}: ${message}`);
      rows.push({
        what: bench.title,
        how: '–',
        result: `could not run: ${message.slice(0, 200)}`,
        baseline: '–',
        ratio: '–',
        goal: '–',
        met: 'n/a',
      });
    }
  }
  if (interrupt.signal.aborted) {
    progress('interrupted; everything this run created was removed');
    return 130;
  }

  const command = commandLine();
  const table = summaryTable(rows);
  const load = (values: number[]) => values.map((value) => value.toFixed(2)).join(' ');
  const minutes = (performance.now() - startedAt) / 60_000;
  const markdown = [
    '# sandboxd benchmarks',
    '',
    `\`${command}\` · ${minutes.toFixed(1)} min${flags.quick ? ' · QUICK RUN: small samples, indicative only' : ''}`,
    '',
    '## Machine',
    '',
    ...facts.map((line) => `- ${line}`),
    `- load average (1, 5, 15 min) before / after: ${load(loadBefore)} / ${load(os.loadavg())}` +
      ` on ${os.availableParallelism()} cores — a shared machine; every ratio compares series taken in this run`,
    '',
    '## Summary',
    '',
    table,
    '',
    'Latencies are p50 / p95, nearest-rank (each an observed sample). ratio = result ÷ baseline.',
    ...(failures.length === 0 ? [] : ['', '**Could not run:**', '', ...failures.map((line) => `- ${line}`)]),
    '',
    '## Details',
    '',
    details.join('\n\n'),
    '',
  ].join('\n');
  await mkdir(path.dirname(flags.out), { recursive: true });
  await writeFile(flags.out, markdown);
  process.stdout.write(`${table}\n`);
  progress(`wrote ${path.relative(process.cwd(), flags.out)}`);
  if (flags['update-readme']) {
    const factsLine = `${os.availableParallelism()} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, ${
      facts
        .find((line) => line.startsWith('engine:'))
        ?.slice(8)
        .split(',')[0] ?? 'Docker'
    }, Linux ${os.release()}, Node ${process.version}, ${new Date().toISOString().slice(0, 10)}`;
    await updateReadme(table, command, factsLine);
    progress('updated README.md');
  }
  return failures.length === 0 ? 0 : 1;
}

process.exitCode = await main();
