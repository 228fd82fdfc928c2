/**
 * Warm acquire: `POST /v1/sandboxes` on a control plane whose pool is full →
 * an MCP client on the returned mcpUrl with its token → the first
 * `exec_command ["true"]` (argv: no shell) answered. The client speaks MCP 2026-07-28, whose
 * connect is one request (server/discover); every other sample also takes a
 * client with the 2025-11-25 handshake (initialize, initialized and the GET
 * the SDK tries for a stream), reported beside it. Baseline, in the same run
 * and interleaved: the same on a second control plane with no pool (the cold
 * path).
 *
 *   node bench/warm-acquire.ts [--quick] [--set samples=20] [--set baseline=5] [--set pool=4]
 */
import { LABEL_ID, LABEL_POOL } from '../src/runtime/labels.ts';
import { BenchPlane, type CreatedSandbox, callTool } from './lib/plane.ts';
import { formatMs, latencyTable, summarize } from './lib/stats.ts';
import { type Bench, type BenchResult, isMain, p50p95, ratioCell, runStandalone } from './lib/suite.ts';

const GOAL_MS = 20;
/** Connects (each with a first call) made on one sandbox before the samples, not counted. */
const WARM_UP_CONNECTS = 200;

interface Sample {
  createMs: number;
  connectMs: number;
  firstCallMs: number;
  totalMs: number;
  /** The same call once more right after, not counted: what the first one paid for a fresh agent. */
  secondCallMs: number;
}

type Era = 'modern' | 'legacy';

async function acquire(plane: BenchPlane, era: Era): Promise<{ sample: Sample; sandbox: CreatedSandbox }> {
  const startedAt = performance.now();
  const sandbox = await plane.create({});
  const created = performance.now();
  const client = await plane.client(sandbox, era);
  const connected = performance.now();
  const result = await callTool(client, 'exec_command', { cmd: ['true'] });
  const answered = performance.now();
  if (result.exit_code !== 0) throw new Error(`exec_command true: ${JSON.stringify(result).slice(0, 200)}`);
  await callTool(client, 'exec_command', { cmd: ['true'] });
  const secondCallMs = performance.now() - answered;
  await plane.closeClient(client);
  return {
    sandbox,
    sample: {
      createMs: created - startedAt,
      connectMs: connected - created,
      firstCallMs: answered - connected,
      totalMs: answered - startedAt,
      secondCallMs,
    },
  };
}

export const warmAcquire: Bench<{ samples: number; baseline: number; pool: number }> = {
  name: 'warm-acquire',
  title: 'warm acquire',
  counts: (quick) => ({ samples: quick ? 5 : 20, baseline: quick ? 2 : 5, pool: 4 }),
  async run(context, counts): Promise<BenchResult> {
    const { signal, progress } = context;
    const [warm, cold] = await Promise.all([
      BenchPlane.start(context, { env: { SANDBOXD_POOL: `default=${counts.pool}` } }),
      BenchPlane.start(context),
    ]);
    progress(`waiting for the pool to fill (${counts.pool})`);
    const fillMs = await warm.waitForPool(counts.pool, signal, 180_000);
    progress(`pool full after ${formatMs(fillMs)} ms`);

    const pooledIds = async () =>
      new Set(
        (await warm.containers())
          .filter((container) => container.labels[LABEL_POOL] !== undefined)
          .map((container) => container.labels[LABEL_ID]),
      );
    const warmSamples: Sample[] = [];
    const legacySamples: Sample[] = [];
    const coldSamples: Sample[] = [];
    const refillMs: number[] = [];
    let misses = 0;

    const warmRound = async (era: Era, kept: Sample[] | undefined) => {
      const members = await pooledIds();
      const { sample, sandbox } = await acquire(warm, era);
      if (!members.has(sandbox.id)) misses++;
      await warm.delete(sandbox.id);
      const waited = await warm.waitForPool(counts.pool, signal, 120_000);
      if (kept !== undefined) {
        kept.push(sample);
        refillMs.push(waited);
      }
      return sample;
    };
    const coldRound = async (isKept: boolean) => {
      const { sample, sandbox } = await acquire(cold, 'modern');
      await cold.delete(sandbox.id);
      if (isKept) coldSamples.push(sample);
      return sample;
    };

    // Not kept: the control plane and this process's client SDK serve many sandboxes before the samples,
    // as a long-running control plane has (connect, first call, disconnect, again and again on one
    // sandbox), then one round of each kind.
    progress(`warming up the control plane and the client (${WARM_UP_CONNECTS} connects)`);
    const warmUpSandbox = await warm.create({});
    for (let index = 0; index < WARM_UP_CONNECTS; index++) {
      signal.throwIfAborted();
      const client = await warm.client(warmUpSandbox, index % 2 === 0 ? 'modern' : 'legacy');
      await callTool(client, 'exec_command', { cmd: ['true'] });
      await warm.closeClient(client);
    }
    await warm.delete(warmUpSandbox.id);
    await warm.waitForPool(counts.pool, signal, 120_000);
    await warmRound('modern', undefined);
    await warmRound('legacy', undefined);
    await coldRound(false);
    misses = 0;
    const coldEvery = Math.max(1, Math.floor(counts.samples / Math.max(1, counts.baseline)));
    for (let index = 0; index < counts.samples; index++) {
      signal.throwIfAborted();
      const sample = await warmRound('modern', warmSamples);
      let line =
        `[${index + 1}/${counts.samples}] warm create ${formatMs(sample.createMs)} ms, ` +
        `→ first call ${formatMs(sample.totalMs)} ms`;
      if (index % 2 === 1) {
        const legacy = await warmRound('legacy', legacySamples);
        line += ` · with the 2025-11-25 handshake ${formatMs(legacy.totalMs)} ms`;
      }
      if (coldSamples.length < counts.baseline && (index + 1) % coldEvery === 0) {
        const coldSample = await coldRound(true);
        line += ` · cold create → first call ${formatMs(coldSample.totalMs)} ms`;
      }
      progress(line);
    }
    while (coldSamples.length < counts.baseline) await coldRound(true);

    const pick = (samples: Sample[], field: keyof Sample) => samples.map((sample) => sample[field]);
    const warmTotal = summarize(pick(warmSamples, 'totalMs'));
    const warmCreate = summarize(pick(warmSamples, 'createMs'));
    const coldTotal = summarize(pick(coldSamples, 'totalMs'));
    const legacyTotal = summarize(pick(legacySamples, 'totalMs'));
    const missNote = misses === 0 ? '' : ` (${misses} create(s) did not get a pool member!)`;
    return {
      rows: [
        {
          what: 'warm acquire',
          how:
            `\`POST /v1/sandboxes\` from a full pool of ${counts.pool} → MCP connect (2026-07-28) → first ` +
            `\`exec_command ["true"]\` answered, p50 / p95 of ${warmSamples.length}, pool refilled between ` +
            `samples${missNote}`,
          result:
            `create→first call ${p50p95(warmTotal)} (create only ${p50p95(warmCreate)}); with the ` +
            `2025-11-25 handshake ${p50p95(legacyTotal)}`,
          baseline: `the same with no pool (cold path): ${p50p95(coldTotal)}, n=${coldSamples.length}`,
          ratio: ratioCell(warmTotal.p50, coldTotal.p50),
          goal: `p50 ≤ ${GOAL_MS} ms (create→first call)`,
          met: warmTotal.p50 <= GOAL_MS && misses === 0 ? 'yes' : 'no',
        },
      ],
      details: [
        '### Warm acquire',
        '',
        `Pool of ${counts.pool} filled in ${formatMs(fillMs)} ms after start; ${warmSamples.length} warm samples ` +
          `with a client speaking MCP 2026-07-28 (connect = one \`server/discover\` request) and ` +
          `${legacySamples.length} with the 2025-11-25 handshake (initialize, initialized and the GET the SDK ` +
          `tries for a notification stream), ${coldSamples.length} cold ones on a second control plane without ` +
          'a pool, interleaved. Each sample creates the sandbox, connects a fresh MCP client and runs `true` (an argv, no shell); ' +
          `its deletion and the pool refill are not timed. Before the samples, ${WARM_UP_CONNECTS} connects with a ` +
          'first call each on one sandbox warm the control plane and the client (not counted).' +
          missNote,
        '',
        latencyTable([
          ['warm: `POST /v1/sandboxes` (create only)', pick(warmSamples, 'createMs')],
          ['warm: MCP client connect (server/discover)', pick(warmSamples, 'connectMs')],
          ['warm: first `exec_command ["true"]`', pick(warmSamples, 'firstCallMs')],
          ['warm: = create → first call answered', pick(warmSamples, 'totalMs')],
          [
            'warm: a second `exec_command ["true"]` right after (not counted)',
            pick(warmSamples, 'secondCallMs'),
          ],
          ['warm, 2025-11-25 handshake: MCP client connect', pick(legacySamples, 'connectMs')],
          ['warm, 2025-11-25 handshake: = create → first call answered', pick(legacySamples, 'totalMs')],
          ['cold (no pool): `POST /v1/sandboxes`', pick(coldSamples, 'createMs')],
          ['cold (no pool): = create → first call answered', pick(coldSamples, 'totalMs')],
          ['pool refill after a take (not counted above)', refillMs],
        ]),
      ].join('\n'),
    };
  },
};

if (isMain(import.meta.url)) await runStandalone(warmAcquire);
