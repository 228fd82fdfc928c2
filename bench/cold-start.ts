/**
 * Cold start, side by side in one run: sandboxd `create()` → agent ready against
 * a bare `docker run --rm IMAGE true`, and the same container through dockerode
 * (with the default network, and with no network as sandboxd asks for). The arms
 * are interleaved with a rotating order, so machine noise hits each alike.
 *
 *   node bench/cold-start.ts [--samples 20] [--warmup 1] [--image REF] [--out FILE]
 *
 * Exits non-zero only when the bench cannot run (no engine, no image, an arm
 * failing) or is interrupted; a missed goal is reported, not an error.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { type LoadedPolicy, loadPolicy } from '../src/policy/load.ts';
import { DockerDriver } from '../src/runtime/docker/driver.ts';
import { LABEL_ID } from '../src/runtime/labels.ts';
import { SandboxManager } from '../src/sandbox/manager.ts';
import { type EngineRunTimes, runCommand, timeDockerRun, timeEngineRun } from './lib/baselines.ts';
import { formatMs, latencyTable, summarize } from './lib/stats.ts';
import { DriverCallLog } from './lib/timed-driver.ts';

const GOAL_RATIO = 1.5;
/** Every container this run creates carries this label with the run's id, so cleanup can sweep by it. */
const BENCH_LABEL = 'io.sandboxd.bench-run';

const { values: flags } = parseArgs({
  options: {
    samples: { type: 'string', default: '20' },
    warmup: { type: 'string', default: '1' },
    /** Measure another worker image (every arm), e.g. a candidate build, without retagging the shared one. */
    image: { type: 'string' },
    out: { type: 'string', default: path.join(import.meta.dirname, 'results', 'cold-start.md') },
  },
});

function countFlag(name: string, text: string, minimum: number): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < minimum) {
    process.stderr.write(`cold-start: --${name} must be a whole number ≥ ${minimum}, got ${text}\n`);
    process.exit(2);
  }
  return value;
}

const samples = countFlag('samples', flags.samples, 1);
const warmup = countFlag('warmup', flags.warmup, 0);
const runId = randomUUID();
const runLabel = `${BENCH_LABEL}=${runId}`;
const progress = (line: string) => process.stderr.write(`${line}\n`);

const engine = new DockerDriver();
const callLog = new DriverCallLog();
const log = pino({ level: process.env.SANDBOXD_BENCH_LOG ?? 'silent' }, pino.destination(2));
const interrupt = new AbortController();
/** What this run created, for cleanup: sandbox ids (their volumes are found by id) and the state dir. */
const sandboxIds: string[] = [];
let stateDir: string | undefined;
let manager: SandboxManager | undefined;

// --- sandboxd, split by driver call --------------------------------------------------

interface SandboxdSample {
  totalMs: number;
  imageCheckMs: number;
  volumeCreateMs: number;
  containerCreateMs: number;
  containerStartMs: number;
  startToReadyMs: number;
  /** Socket directory + listen, the spec: the part of create() before start that is no engine call. */
  otherMs: number;
  /** How often the manager's exit watcher inspected the container while waiting for the agent. */
  inspects: number;
  destroyMs: number;
}

function lastCall(method: Parameters<DriverCallLog['last']>[0]): { ms: number; endMs: number } {
  const call = callLog.last(method);
  if (call === undefined) throw new Error(`the manager never called driver.${method}()`);
  return { ms: call.endMs - call.startMs, endMs: call.endMs };
}

async function timeSandboxd(
  active: SandboxManager,
  policy: LoadedPolicy,
  index: number,
): Promise<SandboxdSample> {
  const id = `bench-${runId.slice(0, 8)}-${index}`;
  sandboxIds.push(id);
  callLog.clear();
  const startedAt = performance.now();
  await active.create({ policy, id, labels: { [BENCH_LABEL]: runId }, signal: interrupt.signal });
  const totalMs = performance.now() - startedAt;
  const imageCheck = lastCall('hasImage');
  const volumeCreate = lastCall('createVolume');
  const containerCreate = lastCall('create');
  const containerStart = lastCall('start');
  const startToReadyMs = startedAt + totalMs - containerStart.endMs;
  const inspects = callLog.count('inspect');
  const destroyStartedAt = performance.now();
  await active.destroy(id);
  return {
    totalMs,
    imageCheckMs: imageCheck.ms,
    volumeCreateMs: volumeCreate.ms,
    containerCreateMs: containerCreate.ms,
    containerStartMs: containerStart.ms,
    startToReadyMs,
    otherMs:
      totalMs - imageCheck.ms - volumeCreate.ms - containerCreate.ms - containerStart.ms - startToReadyMs,
    inspects,
    destroyMs: performance.now() - destroyStartedAt,
  };
}

// --- the run -------------------------------------------------------------------------

interface Results {
  sandboxd: SandboxdSample[];
  dockerRun: number[];
  dockerode: EngineRunTimes[];
  dockerodeNoNetwork: EngineRunTimes[];
}

/** One arm of the comparison: takes a sample, keeps it unless warming up, returns its progress text. */
type Arm = (iteration: number, isKept: boolean) => Promise<string>;

function arms(policy: LoadedPolicy, active: SandboxManager, results: Results): Arm[] {
  const image = policy.policy.image;
  const engineRun = (into: EngineRunTimes[], name: string, network: object): Arm => {
    return async (_iteration, isKept) => {
      const times = await timeEngineRun(engine.docker, {
        Image: image,
        Cmd: ['true'],
        Labels: { [BENCH_LABEL]: runId },
        ...network,
      });
      if (isKept) into.push(times);
      return `${name} ${formatMs(times.totalMs)} ms`;
    };
  };
  return [
    async (iteration, isKept) => {
      const sample = await timeSandboxd(active, policy, iteration);
      if (isKept) results.sandboxd.push(sample);
      return (
        `sandboxd ${formatMs(sample.totalMs)} ms (volume ${formatMs(sample.volumeCreateMs)}, ` +
        `create ${formatMs(sample.containerCreateMs)}, start ${formatMs(sample.containerStartMs)}, ` +
        `→ready ${formatMs(sample.startToReadyMs)}; destroy ${formatMs(sample.destroyMs)})`
      );
    },
    async (_iteration, isKept) => {
      const ms = await timeDockerRun(image, ['true'], { label: runLabel, signal: interrupt.signal });
      if (isKept) results.dockerRun.push(ms);
      return `docker run ${formatMs(ms)} ms`;
    },
    engineRun(results.dockerode, 'dockerode', {}),
    // As sandboxd asks for it: with NetworkDisabled the engine skips libnetwork's sandbox
    // and runc makes an empty network namespace itself, far cheaper than `--network none`.
    engineRun(results.dockerodeNoNetwork, 'dockerode no-network', {
      NetworkDisabled: true,
      HostConfig: { NetworkMode: 'none' },
    }),
  ];
}

async function measure(policy: LoadedPolicy, active: SandboxManager): Promise<Results> {
  const results: Results = { sandboxd: [], dockerRun: [], dockerode: [], dockerodeNoNetwork: [] };
  const all = arms(policy, active, results);
  for (let iteration = 0; iteration < warmup + samples; iteration++) {
    const isWarmup = iteration < warmup;
    // Rotate which arm goes first, so no arm always runs right after the same neighbour.
    const order = all.map((_, index) => all[(index + iteration) % all.length] as Arm);
    const parts: string[] = [];
    for (const arm of order) {
      interrupt.signal.throwIfAborted();
      parts.push(await arm(iteration, !isWarmup));
    }
    const label = isWarmup
      ? `[warm-up ${iteration + 1}/${warmup}]`
      : `[${iteration - warmup + 1}/${samples}]`;
    progress(`${label} ${parts.join(' · ')}`);
  }
  return results;
}

// --- report ----------------------------------------------------------------------------

async function machineFacts(image: string): Promise<string[]> {
  const [facts, info, cli, imageInfo] = await Promise.all([
    engine.facts(),
    engine.docker.info() as Promise<Record<string, unknown>>,
    runCommand('docker', ['version', '--format', '{{.Client.Version}}']),
    engine.docker.getImage(image).inspect(),
  ]);
  const gib = (bytes: number) => `${(bytes / 2 ** 30).toFixed(1)} GiB`;
  const bundle = await stat(path.join(import.meta.dirname, '..', 'dist', 'agent.mjs')).catch(() => undefined);
  return [
    `cores: ${os.availableParallelism()} (${os.cpus()[0]?.model ?? 'unknown CPU'}); the engine sees ${facts.cpus}`,
    `memory: ${gib(os.totalmem())}; the engine sees ${gib(facts.memoryBytes)}`,
    `kernel: ${os.release()} (${String(info.OperatingSystem ?? os.type())})`,
    `engine: Docker ${facts.engineVersion} (API ${facts.apiVersion}), storage ${String(info.Driver)}, ` +
      `cgroup v${String(info.CgroupVersion ?? '?')} (${String(info.CgroupDriver)}), runtime ${String(info.DefaultRuntime)}`,
    `docker CLI ${cli}; control plane on Node ${process.version}`,
    `image: ${image} (${imageInfo.Id.slice(7, 19)}, ${Math.round(imageInfo.Size / 1e6)} MB)` +
      (bundle === undefined ? '' : `; dist/agent.mjs ${Math.round(bundle.size / 1024)} KiB`),
  ];
}

function verdict(name: string, sandboxdMs: number, dockerRunMs: number): string {
  const ratio = sandboxdMs / dockerRunMs;
  const mark = ratio <= GOAL_RATIO ? 'PASS' : 'MISS';
  return (
    `- sandboxd ${name} / \`docker run\` ${name} = ${formatMs(sandboxdMs)} / ${formatMs(dockerRunMs)} ms ` +
    `= **${ratio.toFixed(2)}×** (goal ≤ ${GOAL_RATIO}×): **${mark}**`
  );
}

function engineRows(network: string, rows: EngineRunTimes[]): [string, number[]][] {
  const pick = (field: keyof EngineRunTimes) => rows.map((row) => row[field]);
  return [
    [`${network}: create`, pick('createMs')],
    [`${network}: start`, pick('startMs')],
    [`${network}: wait (\`true\` runs and exits)`, pick('waitMs')],
    [`${network}: remove`, pick('removeMs')],
    [`${network}: = total`, pick('totalMs')],
  ];
}

function report(results: Results, facts: string[], loadBefore: number[], image: string): string {
  const s = results.sandboxd;
  const pick = (field: keyof SandboxdSample) => s.map((sample) => sample[field]);
  const sandboxd = summarize(pick('totalMs'));
  const dockerRun = summarize(results.dockerRun);
  const inspects = summarize(pick('inspects'));
  const load = (values: number[]) => values.map((value) => value.toFixed(2)).join(' ');
  const isBusy = Math.max(loadBefore[0] ?? 0, os.loadavg()[0] ?? 0) > os.availableParallelism();
  return [
    '# Cold start: sandboxd vs `docker run`',
    '',
    `${new Date().toISOString()} · ${samples} samples per arm after ${warmup} warm-up round(s), ` +
      'arms interleaved in a rotating order · `node bench/cold-start.ts`',
    '',
    '## Machine',
    '',
    ...facts.map((line) => `- ${line}`),
    `- load average (1, 5, 15 min) before / after: ${load(loadBefore)} / ${load(os.loadavg())}` +
      (isBusy ? ' — busier than its cores: expect noise' : ''),
    '',
    '## Result',
    '',
    latencyTable([
      ['sandboxd `create()` → agent ready (default policy, fresh volume)', pick('totalMs')],
      [`\`docker run --rm ${image} true\` (CLI, spawn → exit)`, results.dockerRun],
      ['dockerode create + start + wait + remove, `Cmd: [true]`', results.dockerode.map((r) => r.totalMs)],
      [
        'the same with no network, as sandboxd (`NetworkDisabled`)',
        results.dockerodeNoNetwork.map((r) => r.totalMs),
      ],
      ['sandboxd `destroy()` (not counted above)', pick('destroyMs')],
    ]),
    '',
    verdict('p50', sandboxd.p50, dockerRun.p50),
    verdict('p95', sandboxd.p95, dockerRun.p95),
    '',
    '## Where sandboxd’s cold start goes',
    '',
    latencyTable([
      ['image check (`driver.hasImage`)', pick('imageCheckMs')],
      ['volume create (`driver.createVolume`)', pick('volumeCreateMs')],
      ['container create (`driver.create`)', pick('containerCreateMs')],
      ['container start (`driver.start`)', pick('containerStartMs')],
      ['start → agent ready (node boot + dial + hello + configure)', pick('startToReadyMs')],
      ['other (socket dir + listen, spec: no engine call)', pick('otherMs')],
      ['= create() → agent ready', pick('totalMs')],
    ]),
    '',
    `While waiting for the agent, the manager's exit watcher inspected the container ` +
      `${inspects.mean.toFixed(1)} times per create on average (at most ${inspects.max}).`,
    '',
    '## The dockerode baselines, by engine call',
    '',
    latencyTable([
      ...engineRows('default network', results.dockerode),
      ...engineRows('no network', results.dockerodeNoNetwork),
    ]),
    '',
    'Percentiles are nearest-rank, so each is an observed sample. `docker run` includes the CLI, attach, ' +
      'wait and removal (`--rm`); sandboxd’s row ends when its agent is ready, and its removal is the ' +
      'destroy row. `docker run` and the first dockerode row use the default bridge network; sandboxd’s ' +
      'containers have none (`NetworkDisabled`), which spares the engine its network setup, as the ' +
      'no-network row shows. sandboxd’s container is also hardened (seccomp profile, read-only root, ' +
      'tmpfs, limits, init, a named volume) and runs Node; the baselines run `true`.',
    '',
  ].join('\n');
}

// --- setup and cleanup -------------------------------------------------------------------

async function preflight(image: string): Promise<string | undefined> {
  try {
    await engine.facts();
  } catch (error) {
    return `cannot reach the Docker engine: ${(error as Error).message}`;
  }
  if (!(await engine.hasImage(image))) {
    return `the worker image ${image} is not built; run \`node scripts/build.ts && node bin/sandboxd.js image build\``;
  }
  try {
    await runCommand('docker', ['version', '--format', '{{.Client.Version}}']);
  } catch (error) {
    return `the docker CLI does not work: ${(error as Error).message}`;
  }
  return undefined;
}

/** Removes everything this run created: sandboxes, labelled containers, workspace volumes, the state dir. */
async function cleanup(): Promise<void> {
  const attempt = async (what: string, action: () => Promise<unknown>) => {
    try {
      await action();
    } catch (error) {
      progress(`cold-start: cleanup: ${what}: ${(error as Error).message}`);
    }
  };
  const active = manager;
  if (active !== undefined) await attempt('destroy sandboxes', () => active.destroyAll());
  await attempt('remove labelled containers', async () => {
    for (const container of await engine.list({ [BENCH_LABEL]: runId })) await engine.remove(container.id);
  });
  await attempt('remove workspace volumes', async () => {
    for (const id of sandboxIds) {
      for (const volume of await engine.listVolumes({ [LABEL_ID]: id })) await engine.removeVolume(volume);
    }
  });
  const dir = stateDir;
  if (dir !== undefined)
    await attempt('remove the state directory', () => rm(dir, { recursive: true, force: true }));
}

function onSignal(signal: NodeJS.Signals): void {
  if (interrupt.signal.aborted) {
    progress('cold-start: still cleaning up; SIGKILL would leave containers behind');
    return;
  }
  progress(`cold-start: ${signal}: stopping, removing what this run created…`);
  interrupt.abort(new Error(`interrupted by ${signal}`));
}

async function main(): Promise<number> {
  const loaded = await loadPolicy('default');
  const image = flags.image ?? loaded.policy.image;
  const policy: LoadedPolicy = { ...loaded, policy: { ...loaded.policy, image } };
  const problem = await preflight(image);
  if (problem !== undefined) {
    progress(`cold-start: cannot run: ${problem}`);
    return 1;
  }
  if (samples < 20) progress(`cold-start: only ${samples} samples; p95 means little below 20`);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const facts = await machineFacts(image);
    for (const line of facts) progress(`cold-start: ${line}`);
    const loadBefore = os.loadavg();
    stateDir = await mkdtemp(path.join(os.tmpdir(), 'sandboxd-bench-state-'));
    manager = new SandboxManager({ driver: callLog.wrap(engine), stateDir, log });
    await manager.init();
    const results = await measure(policy, manager);
    const markdown = report(results, facts, loadBefore, image);
    await mkdir(path.dirname(flags.out), { recursive: true });
    await writeFile(flags.out, markdown);
    process.stdout.write(`\n${markdown}\n`);
    progress(`cold-start: wrote ${path.relative(process.cwd(), flags.out)}`);
    return 0;
  } catch (error) {
    if (interrupt.signal.aborted) return 130;
    progress(`cold-start: the bench failed: ${(error as Error).stack ?? error}`);
    return 1;
  } finally {
    await cleanup();
  }
}

process.exitCode = await main();
