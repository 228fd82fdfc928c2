/**
 * Cold start for `npm run bench`: bench/cold-start.ts exports nothing (it runs
 * when imported), so it is spawned as its own process (`node bench/cold-start.ts
 * --samples N --out FILE`), its progress passed through to stderr, and its
 * results file parsed for the summary row; its result tables are included as
 * they are. It cleans up after itself; on an interrupt it gets SIGINT and is
 * waited for.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { type Bench, type BenchResult, RESULTS_DIR } from './suite.ts';

const SCRIPT = path.join(import.meta.dirname, '..', 'cold-start.ts');
const GOAL_RATIO = 1.5;

/** The p50 and p95 cells (ms) of the table row whose first cell starts with `prefix`. */
function rowTimes(markdown: string, prefix: string): { p50: number; p95: number } {
  const line = markdown.split('\n').find((text) => text.startsWith(`| ${prefix}`));
  const cells = line?.split('|').map((cell) => cell.trim());
  const p50 = Number(cells?.[2]);
  const p95 = Number(cells?.[3]);
  if (!(Number.isFinite(p50) && Number.isFinite(p95))) {
    throw new Error(`no "${prefix}" row with numbers in the cold-start results`);
  }
  return { p50, p95 };
}

/** The file's sections from "## Result" up to (not including) the dockerode baselines, headings demoted. */
function resultSections(markdown: string): string {
  const start = markdown.indexOf('## Result');
  if (start === -1) throw new Error('no "## Result" section in the cold-start results');
  const end = markdown.indexOf('## The dockerode baselines', start);
  return markdown
    .slice(start, end === -1 ? undefined : end)
    .trim()
    .replace(/^## /gm, '#### ');
}

function runScript(args: string[], signal: AbortSignal, progress: (line: string) => void): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SCRIPT, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let pending = '';
    child.stderr.on('data', (chunk: Buffer) => {
      pending += chunk.toString('utf8');
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) progress(line.replace(/^cold-start: /, ''));
    });
    // It removes what it created on SIGINT; it is waited for, never killed harder.
    const onAbort = () => child.kill('SIGINT');
    signal.addEventListener('abort', onAbort, { once: true });
    child.once('error', reject);
    child.once('close', (code) => {
      signal.removeEventListener('abort', onAbort);
      if (pending !== '') progress(pending);
      resolve(code ?? 1);
    });
  });
}

export const coldStart: Bench<{ samples: number; warmup: number }> = {
  name: 'cold-start',
  title: 'cold start',
  counts: (quick) => (quick ? { samples: 3, warmup: 1 } : { samples: 20, warmup: 1 }),
  async run(context, counts): Promise<BenchResult> {
    // A quick run must not overwrite the full run's results file.
    let out = path.join(RESULTS_DIR, 'cold-start.md');
    if (context.quick) {
      const dir = await mkdtemp(path.join(os.tmpdir(), 'sandboxd-bench-cold-'));
      context.cleanup.add('remove the quick results file', () => rm(dir, { recursive: true, force: true }));
      out = path.join(dir, 'cold-start.md');
    }
    const startedAt = Date.now();
    const code = await runScript(
      ['--samples', String(counts.samples), '--warmup', String(counts.warmup), '--out', out],
      context.signal,
      context.progress,
    );
    context.signal.throwIfAborted();
    if (code !== 0) throw new Error(`node bench/cold-start.ts exited with ${code}`);
    const written = await stat(out).catch(() => undefined);
    if (written === undefined || written.mtimeMs < startedAt - 1000) {
      throw new Error(`bench/cold-start.ts did not write ${out}`);
    }
    const markdown = await readFile(out, 'utf8');
    const sandboxd = rowTimes(markdown, 'sandboxd `create()`');
    const dockerRun = rowTimes(markdown, '`docker run --rm');
    const n = /(\d+) samples per arm/.exec(markdown)?.[1] ?? String(counts.samples);
    const ratio = sandboxd.p50 / dockerRun.p50;
    const where = context.quick ? 'a temporary file' : '`bench/results/cold-start.md`';
    return {
      rows: [
        {
          what: 'cold start',
          how:
            `sandboxd \`create()\` → agent ready (fresh volume, default policy), p50 / p95 of ${n}, ` +
            'vs `docker run --rm IMAGE true`, interleaved (`bench/cold-start.ts`)',
          result: `${sandboxd.p50} / ${sandboxd.p95} ms`,
          baseline: `docker run ${dockerRun.p50} / ${dockerRun.p95} ms`,
          ratio: `${ratio.toFixed(2)}× (p95 ${(sandboxd.p95 / dockerRun.p95).toFixed(2)}×)`,
          goal: `ratio ≤ ${GOAL_RATIO}`,
          met: ratio <= GOAL_RATIO ? 'yes' : 'no',
        },
      ],
      details: [
        '### Cold start',
        '',
        `From \`node bench/cold-start.ts --samples ${counts.samples}\` (its full report, with the dockerode ` +
          `baselines by engine call, is ${where}); its tables as it wrote them:`,
        '',
        resultSections(markdown),
      ].join('\n'),
    };
  },
};
