import { parseArgs } from 'node:util';
import type { z } from 'zod';
import type { UsageList } from '../http/v1-actions.ts';
import { formatAge } from '../policy/units.ts';
import { ApiClient, apiOptions } from './api-client.ts';
import { formatTable } from './ls.ts';
import { UsageError } from './usage.ts';

type Usage = z.infer<typeof UsageList>;

const HEADERS = ['SANDBOX', 'STATE', 'POLICY', 'AGE', 'TTL', 'CPU', 'MEMORY', 'CALLS/MIN', 'IN FLIGHT'];

export function topTable(usage: Usage, nowMs: number): string {
  const rows = usage.sandboxes
    .slice()
    .sort((a, b) => (b.cpuPercent ?? 0) - (a.cpuPercent ?? 0) || b.callsPerMinute - a.callsPerMinute)
    .map((row) => [
      row.id,
      row.state,
      row.policy,
      formatAge(nowMs - Date.parse(row.createdAt)),
      row.expiresAt === null ? '-' : formatAge(Date.parse(row.expiresAt) - nowMs),
      row.cpuPercent === null ? '-' : `${row.cpuPercent.toFixed(1)}%`,
      row.memoryBytes === null ? '-' : `${(row.memoryBytes / (1024 * 1024)).toFixed(0)}MiB`,
      String(row.callsPerMinute),
      String(row.callsInFlight),
    ]);
  return formatTable([HEADERS, ...rows]);
}

/** `sandboxd top [--interval 2] [--once]`: every sandbox's CPU, memory and calls, redrawn in place. */
export async function topCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      interval: { type: 'string', default: '2' },
      once: { type: 'boolean', default: false },
      ...apiOptions(),
    },
  });
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${positionals[0]}`);
  const intervalMs = Number(values.interval) * 1000;
  if (!(intervalMs >= 500)) throw new UsageError('--interval takes seconds, at least 0.5');
  const api = await ApiClient.connect(values);
  // The first reading only starts the sampler: CPU needs two.
  let usage = await api.json<Usage>('/v1/usage');
  if (values.once) {
    process.stdout.write(`${topTable(usage, Date.now())}\n`);
    return 0;
  }
  const isTerminal = process.stdout.isTTY === true;
  let isStopped = false;
  process.once('SIGINT', () => {
    isStopped = true;
  });
  while (!isStopped) {
    const table = topTable(usage, Date.now());
    const header = `sandboxd top · ${api.baseUrl} · ${usage.sandboxes.length} sandboxes · ${new Date().toISOString().slice(11, 19)}`;
    // Home and clear to the end: the table is redrawn in place without flicker.
    process.stdout.write(isTerminal ? `\x1b[H\x1b[2J${header}\n\n${table}\n` : `${header}\n${table}\n\n`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
    usage = await api.json<Usage>('/v1/usage');
  }
  return 0;
}
