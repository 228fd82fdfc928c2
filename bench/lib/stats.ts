/**
 * Summary statistics and markdown tables shared by the benchmarks. Percentiles
 * use the nearest-rank method, so every reported p50/p95 is a latency that was
 * actually observed (with 20 samples, p95 is the 19th fastest).
 */

export interface Summary {
  n: number;
  p50: number;
  p95: number;
  mean: number;
  min: number;
  max: number;
}

/** The nearest-rank percentile `p` (0–100] of `values`; NaN for no values. */
export function percentile(values: readonly number[], p: number): number {
  if (!(p > 0 && p <= 100)) throw new RangeError(`percentile must be in (0, 100], got ${p}`);
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[rank - 1] as number;
}

export function mean(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  return values.reduce((sum, value) => sum + value, 0) / values.length;
}

export function summarize(values: readonly number[]): Summary {
  return {
    n: values.length,
    p50: percentile(values, 50),
    p95: percentile(values, 95),
    mean: mean(values),
    min: values.length === 0 ? Number.NaN : Math.min(...values),
    max: values.length === 0 ? Number.NaN : Math.max(...values),
  };
}

/** Milliseconds for a table cell: one decimal below 10 ms, whole numbers above; '–' for no value. */
export function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return '–';
  return ms < 10 ? ms.toFixed(1) : String(Math.round(ms));
}

export type Alignment = 'left' | 'right';

/** A GitHub-flavoured markdown table; `|` inside a cell is escaped. */
export function markdownTable(
  headers: readonly string[],
  rows: readonly (readonly string[])[],
  align: readonly Alignment[] = [],
): string {
  for (const row of rows) {
    if (row.length !== headers.length) {
      throw new RangeError(`a row has ${row.length} cells, the header has ${headers.length}`);
    }
  }
  const escapePipes = (cell: string) => cell.replaceAll('|', '\\|');
  const line = (cells: readonly string[]) => `| ${cells.map(escapePipes).join(' | ')} |`;
  const rule = headers.map((_, index) => (align[index] === 'right' ? '---:' : '---'));
  return [line(headers), `| ${rule.join(' | ')} |`, ...rows.map(line)].join('\n');
}

/** One row of the standard latency table: what | p50 | p95 | mean | n (times in ms). */
export function latencyRow(what: string, values: readonly number[]): string[] {
  const summary = summarize(values);
  return [what, formatMs(summary.p50), formatMs(summary.p95), formatMs(summary.mean), String(summary.n)];
}

/** The standard latency table over named series of samples in milliseconds. */
export function latencyTable(series: readonly (readonly [string, readonly number[]])[]): string {
  return markdownTable(
    ['what', 'p50 (ms)', 'p95 (ms)', 'mean (ms)', 'n'],
    series.map(([what, values]) => latencyRow(what, values)),
    ['left', 'right', 'right', 'right', 'right'],
  );
}
