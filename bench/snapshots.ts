/**
 * Snapshots and forks of a 20 000-file, 300 MiB workspace (random bytes, in
 * 200 directories): the snapshot's time; one fork → ready (`POST /v1/sandboxes
 * {fromSnapshot}` answered: its agent connected over the overlay volume), p50;
 * ten forks in one request (`POST /v1/snapshots/:id/fork {count: 10}`) → all
 * ready; and the disk the ten take (the snapshot once, plus each fork's layer)
 * against one full copy. Baselines in the same run: the same sandboxes made by
 * a full copy instead (a new sandbox restored from the snapshot: cp -a into its
 * own volume), and their disk.
 *
 *   node bench/snapshots.ts [--quick] [--set files=20000] [--set mib=300] [--set forks=10] [--set copies=3]
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { layerVolumeName, snapshotVolumeName, workspaceVolumeName } from '../src/runtime/labels.ts';
import { BenchPlane, type CreatedSandbox, callTool, engine } from './lib/plane.ts';
import { formatMs, latencyTable, summarize } from './lib/stats.ts';
import { type Bench, type BenchResult, isMain, mib, p50p95, ratioCell, runStandalone } from './lib/suite.ts';

const run = promisify(execFile);
const FORK_P50_GOAL_MS = 1000;
const TEN_FORKS_GOAL_MS = 5000;
const DISK_GOAL = 1.2;

/** Bytes on disk under a volume's directory on the engine's host (du: hard links once, holes not). */
async function volumeBytes(name: string): Promise<number> {
  const info = await engine.snapshots.volumeInfo(name);
  if (info === undefined) throw new Error(`no volume ${name}`);
  const { stdout } = await run('du', ['-s', '-B1', info.mountpoint]);
  return Number(stdout.split('\t')[0]);
}

async function post(plane: BenchPlane, pathname: string, body: unknown): Promise<Record<string, unknown>> {
  const response = await plane.control.fetch(pathname, { method: 'POST', body: JSON.stringify(body) });
  const text = await response.text();
  if (response.status !== 201 && response.status !== 200)
    throw new Error(`POST ${pathname}: ${response.status} ${text}`);
  return JSON.parse(text) as Record<string, unknown>;
}

export const snapshotsBench: Bench<{ files: number; mib: number; forks: number; copies: number }> = {
  name: 'snapshots',
  title: 'snapshots and forks',
  counts: (quick) =>
    quick ? { files: 2000, mib: 30, forks: 4, copies: 1 } : { files: 20_000, mib: 300, forks: 10, copies: 3 },
  async run(context, counts): Promise<BenchResult> {
    const { progress, signal } = context;
    const plane = await BenchPlane.start(context, { env: { SANDBOXD_MAX_SANDBOXES: '100' } });
    const source = await plane.create({});
    const client = await plane.client(source);
    progress(`filling the workspace: ${counts.files} files, ${counts.mib} MiB`);
    const perFile = Math.floor((counts.mib * 2 ** 20) / counts.files);
    await callTool(
      client,
      'exec_command',
      {
        cmd: [
          'python3',
          '-c',
          `import os\nfor i in range(${counts.files}):\n  d = f"d{i % 200}"\n  os.makedirs(d, exist_ok=True)\n  open(f"{d}/f{i}", "wb").write(os.urandom(${perFile}))`,
        ],
        yield_time_ms: 300_000,
      },
      330_000,
    );
    await plane.closeClient(client);
    const sourceBytes = await volumeBytes(workspaceVolumeName(source.id));

    signal.throwIfAborted();
    progress('snapshot');
    const snapshotStarted = performance.now();
    const snapshot = (await post(plane, `/v1/sandboxes/${source.id}/snapshots`, {})) as {
      snapshotId: string;
      files: number;
      bytes: number;
    };
    const snapshotMs = performance.now() - snapshotStarted;
    const copyBytes = await volumeBytes(snapshotVolumeName(snapshot.snapshotId));

    progress(`${counts.forks} single forks, one after another`);
    const singleMs: number[] = [];
    const singles: CreatedSandbox[] = [];
    for (let index = 0; index < counts.forks; index++) {
      signal.throwIfAborted();
      const started = performance.now();
      singles.push(await plane.create({ fromSnapshot: snapshot.snapshotId }));
      singleMs.push(performance.now() - started);
    }
    // One fork answers a call on the snapshot's files (not timed): the forks are real.
    const check = await plane.client(singles[0] as CreatedSandbox);
    const listed = await callTool(check, 'exec_command', { cmd: 'ls d0 | wc -l' });
    await plane.closeClient(check);
    if (Number(String(listed.stdout).trim()) !== Math.ceil(counts.files / 200)) {
      throw new Error(`a fork sees ${String(listed.stdout).trim()} files in d0`);
    }
    for (const single of singles) await plane.delete(single.id);

    progress(`${counts.forks} forks in one request`);
    const batchStarted = performance.now();
    const batch = (await post(plane, `/v1/snapshots/${snapshot.snapshotId}/fork`, {
      count: counts.forks,
    })) as {
      sandboxes: { id: string }[];
    };
    const batchMs = performance.now() - batchStarted;
    let forksBytes = copyBytes;
    for (const fork of batch.sandboxes) forksBytes += await volumeBytes(layerVolumeName(fork.id));
    for (const fork of batch.sandboxes) await plane.delete(fork.id);

    progress(`baseline: ${counts.copies} full copies (a new sandbox restored from the snapshot)`);
    const copyMs: number[] = [];
    for (let index = 0; index < counts.copies; index++) {
      signal.throwIfAborted();
      const started = performance.now();
      const copy = await plane.create({});
      await post(plane, `/v1/sandboxes/${copy.id}/restore`, { snapshotId: snapshot.snapshotId });
      copyMs.push(performance.now() - started);
      if (index === 0) {
        const bytes = await volumeBytes(workspaceVolumeName(copy.id));
        if (Math.abs(bytes - copyBytes) > copyBytes * 0.05) progress(`a full copy takes ${mib(bytes)}`);
      }
      await plane.delete(copy.id);
    }
    const single = summarize(singleMs);
    const copy = summarize(copyMs);
    const fullCopiesBytes = copyBytes * counts.forks;
    const diskRatio = forksBytes / copyBytes;
    return {
      rows: [
        {
          what: 'snapshot',
          how: `\`POST /v1/sandboxes/:id/snapshots\` of ${counts.files} files, ${counts.mib} MiB (worker paused, cp -a in a helper)`,
          result: `${formatMs(snapshotMs)} ms`,
          baseline: `one full-copy sandbox (create + restore): ${formatMs(copy.p50)} ms`,
          ratio: ratioCell(snapshotMs, copy.p50),
          goal: '–',
          met: 'n/a',
        },
        {
          what: 'fork → ready',
          how: `\`POST /v1/sandboxes {fromSnapshot}\` answered (agent connected over an overlay volume), p50 / p95 of ${singleMs.length}`,
          result: p50p95(single),
          baseline: `a full copy instead: ${p50p95(copy)}, n=${copyMs.length}`,
          ratio: ratioCell(single.p50, copy.p50),
          goal: `p50 ≤ ${FORK_P50_GOAL_MS} ms`,
          met: single.p50 <= FORK_P50_GOAL_MS ? 'yes' : 'no',
        },
        {
          what: `${counts.forks} forks → all ready`,
          how: `\`POST /v1/snapshots/:id/fork {count: ${counts.forks}}\` answered`,
          result: `${formatMs(batchMs)} ms`,
          baseline: `${counts.forks} full copies one after another: ${formatMs(copy.p50 * counts.forks)} ms (p50 × ${counts.forks})`,
          ratio: ratioCell(batchMs, copy.p50 * counts.forks),
          goal: `≤ ${TEN_FORKS_GOAL_MS} ms`,
          met: batchMs <= TEN_FORKS_GOAL_MS ? 'yes' : 'no',
        },
        {
          what: `disk of ${counts.forks} forks`,
          how: "du of the snapshot volume + each fork's layer volume on the engine, before the forks write",
          result: mib(forksBytes),
          baseline: `one full copy: ${mib(copyBytes)} (${counts.forks} copies: ${mib(fullCopiesBytes)})`,
          ratio: ratioCell(forksBytes, copyBytes, { isTime: false }),
          goal: `≤ ${DISK_GOAL}× one copy`,
          met: diskRatio <= DISK_GOAL ? 'yes' : 'no',
        },
      ],
      details: [
        '### Snapshots and forks',
        '',
        `Workspace: ${counts.files} files of ${perFile} random bytes in 200 directories, ${mib(sourceBytes)} on disk; ` +
          `snapshot ${snapshot.snapshotId}: ${snapshot.files} entries, ${mib(snapshot.bytes)}, taken in ${formatMs(snapshotMs)} ms. ` +
          `A fork's workspace is an overlay volume (the snapshot's directory as its read-only lower layer, a layer ` +
          `volume of its own for upper and work); the baseline is what a fork costs without copy-on-write: a new ` +
          `sandbox whose volume gets the snapshot's files by cp -a (the restore path).`,
        '',
        latencyTable([
          ['one fork: `POST /v1/sandboxes {fromSnapshot}` → 201', singleMs],
          [`${counts.forks} forks in one request → 201`, [batchMs]],
          ['full copy: create + restore', copyMs],
        ]),
        '',
        `Disk: snapshot ${mib(copyBytes)} + ${counts.forks} layers = ${mib(forksBytes)}; ${counts.forks} full copies ` +
          `would take ${mib(fullCopiesBytes)}.`,
      ].join('\n'),
    };
  },
};

if (isMain(import.meta.url)) await runStandalone(snapshotsBench);
