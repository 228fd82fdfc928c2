/**
 * The frame every benchmark of `npm run bench` runs in: one summary row per
 * goal (what | how | result | baseline | ratio | goal | met?), a markdown
 * section of details, a cleanup stack that runs even on error or Ctrl-C, and
 * a way to run one benchmark file on its own with the same flags.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { formatMs, markdownTable } from './stats.ts';

export type Met = 'yes' | 'no' | 'n/a';

/** One line of the `npm run bench` table. */
export interface SummaryRow {
  what: string;
  how: string;
  result: string;
  baseline: string;
  ratio: string;
  goal: string;
  met: Met;
}

export interface BenchResult {
  rows: SummaryRow[];
  /** Markdown (starting at level-3 headings) with every series measured, for bench/results. */
  details: string;
}

/** Sample counts and durations; every benchmark names its own, all plain numbers. */
export type Counts = Record<string, number>;

export interface BenchContext {
  quick: boolean;
  signal: AbortSignal;
  cleanup: Cleanup;
  progress: (line: string) => void;
}

export interface Bench<C extends Counts = Counts> {
  /** Short name, used for flags (`--set NAME.KEY=N`) and for bench/results/NAME.md. */
  name: string;
  /** The table's `what` for this benchmark (used when it cannot run). */
  title: string;
  counts: (quick: boolean) => C;
  run: (context: BenchContext, counts: C) => Promise<BenchResult>;
}

export const RESULTS_DIR = path.join(import.meta.dirname, '..', 'results');
export const SUMMARY_HEADERS = ['what', 'how', 'result', 'baseline', 'ratio', 'goal', 'met?'] as const;

export function summaryTable(rows: readonly SummaryRow[]): string {
  return markdownTable(
    SUMMARY_HEADERS,
    rows.map((row) => [row.what, row.how, row.result, row.baseline, row.ratio, row.goal, row.met]),
  );
}

/** "p50 / p95 ms" for a latency cell. */
export function p50p95(summary: { p50: number; p95: number }): string {
  return `${formatMs(summary.p50)} / ${formatMs(summary.p95)} ms`;
}

/**
 * result ÷ baseline, the way every row reads it (below 1: sandboxd is faster
 * or smaller), with the inverse spelled out when that is the more natural way
 * to say it.
 */
export function ratioCell(result: number, baseline: number, options: { isTime?: boolean } = {}): string {
  if (!(Number.isFinite(result) && Number.isFinite(baseline)) || baseline === 0) return '–';
  const ratio = result / baseline;
  const text = `${ratio < 0.1 ? ratio.toFixed(3) : ratio.toFixed(2)}×`;
  if ((options.isTime ?? true) && ratio < 1 && ratio > 0)
    return `${text} (${(1 / ratio).toFixed(1)}× faster)`;
  return text;
}

export function mib(bytes: number): string {
  if (!Number.isFinite(bytes)) return '–';
  const value = bytes / 2 ** 20;
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} MiB`;
}

/** Things to undo, last first; each runs once, and a failing one does not stop the rest. */
export class Cleanup {
  readonly #tasks: { what: string; action: () => Promise<unknown> }[] = [];
  readonly #progress: (line: string) => void;

  constructor(progress: (line: string) => void) {
    this.#progress = progress;
  }

  /** Registers `action`; the returned function runs it now (and unregisters it). */
  add(what: string, action: () => Promise<unknown>): () => Promise<void> {
    const task = { what, action };
    this.#tasks.push(task);
    return async () => {
      const index = this.#tasks.indexOf(task);
      if (index === -1) return;
      this.#tasks.splice(index, 1);
      await this.#attempt(task);
    };
  }

  async #attempt(task: { what: string; action: () => Promise<unknown> }): Promise<void> {
    try {
      await task.action();
    } catch (error) {
      this.#progress(`cleanup: ${task.what}: ${(error as Error).message}`);
    }
  }

  async run(): Promise<void> {
    while (this.#tasks.length > 0) await this.#attempt(this.#tasks.pop()!);
  }
}

/**
 * SIGINT/SIGTERM abort the run (the benchmarks stop at their next step and clean
 * up); a second signal only says that cleanup is still going.
 */
export function interruptOnSignals(name: string): AbortController {
  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (controller.signal.aborted) {
      process.stderr.write(`${name}: still cleaning up; SIGKILL would leave containers behind\n`);
      return;
    }
    process.stderr.write(`${name}: ${signal}: stopping, removing what this run created…\n`);
    controller.abort(new Error(`interrupted by ${signal}`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return controller;
}

/** Resolves after `ms`, or rejects at once when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    signal?.throwIfAborted();
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Runs `task` over `items` with at most `limit` in flight; rejects with the first failure after all settle. */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  task: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async () => {
    while (next < items.length && failure === undefined) {
      const index = next++;
      try {
        results[index] = await task(items[index] as T, index);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure !== undefined) throw failure.error;
  return results;
}

/** Parses `KEY=N` overrides onto `counts`; unknown keys and non-numbers are usage errors. */
export function applyOverrides<C extends Counts>(counts: C, overrides: readonly string[], prefix = ''): C {
  const result: Counts = { ...counts };
  for (const entry of overrides) {
    const match = /^([\w.-]+)=(\d+(?:\.\d+)?)$/.exec(entry);
    if (!match) throw new Error(`expected KEY=NUMBER, got "${entry}"`);
    let key = match[1] as string;
    if (prefix !== '') {
      if (!key.startsWith(`${prefix}.`)) continue;
      key = key.slice(prefix.length + 1);
    }
    if (!(key in counts)) {
      throw new Error(
        `unknown count ${prefix === '' ? key : `${prefix}.${key}`}; known: ${Object.keys(counts)}`,
      );
    }
    result[key] = Number(match[2]);
  }
  return result as C;
}

/** Whether the module at `moduleUrl` is the script node was started with. */
export function isMain(moduleUrl: string): boolean {
  return process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(moduleUrl);
}

export async function runBench<C extends Counts>(
  bench: Bench<C>,
  options: { quick: boolean; signal: AbortSignal; overrides: readonly string[]; prefix?: string },
): Promise<BenchResult> {
  const progress = (line: string) => process.stderr.write(`${bench.name}: ${line}\n`);
  const counts = applyOverrides(bench.counts(options.quick), options.overrides, options.prefix);
  progress(
    `starting (${Object.entries(counts)
      .map(([key, value]) => `${key}=${value}`)
      .join(', ')})`,
  );
  const cleanup = new Cleanup(progress);
  const startedAt = performance.now();
  try {
    options.signal.throwIfAborted();
    return await bench.run({ quick: options.quick, signal: options.signal, cleanup, progress }, counts);
  } finally {
    await cleanup.run();
    progress(`done in ${((performance.now() - startedAt) / 1000).toFixed(1)} s`);
  }
}

/**
 * `node bench/NAME.ts [--quick] [--set KEY=N]...`: one benchmark alone. Prints its
 * rows and details, writes bench/results/NAME.md; exits 1 only when it could not run.
 */
export async function runStandalone<C extends Counts>(bench: Bench<C>): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      set: { type: 'string', multiple: true, default: [] },
      out: { type: 'string', default: path.join(RESULTS_DIR, `${bench.name}.md`) },
    },
  });
  const interrupt = interruptOnSignals(bench.name);
  try {
    const result = await runBench(bench, {
      quick: values.quick,
      signal: interrupt.signal,
      overrides: values.set,
    });
    const markdown = [
      `# ${bench.title}`,
      '',
      `${new Date().toISOString()} · \`node bench/${bench.name}.ts${values.quick ? ' --quick' : ''}\``,
      '',
      summaryTable(result.rows),
      '',
      result.details,
      '',
    ].join('\n');
    await mkdir(path.dirname(values.out), { recursive: true });
    await writeFile(values.out, markdown);
    process.stdout.write(`${markdown}\n`);
    process.exitCode = 0;
  } catch (error) {
    process.stderr.write(
      `${bench.name}: could not run: ${interrupt.signal.aborted ? 'interrupted' : ((error as Error).stack ?? error)}\n`,
    );
    process.exitCode = interrupt.signal.aborted ? 130 : 1;
  }
}
