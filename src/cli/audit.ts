import { parseArgs } from 'node:util';
import type { AuditEntry } from '../audit/entry.ts';
import { ApiClient, apiOptions } from './api-client.ts';
import { UsageError } from './usage.ts';

const FOLLOW_EVERY_MS = 1000;
const PAGE = 500;

/** One row as a line: time, kind, who, sandbox, what, how it ended, how long, the summary. */
export function formatEntry(entry: AuditEntry): string {
  const duration = entry.durationMs === null ? '' : ` ${entry.durationMs.toFixed(1)}ms`;
  const outcome = entry.errorCode === null ? entry.outcome : `${entry.outcome} ${entry.errorCode}`;
  const detail = Object.keys(entry.detail).length === 0 ? '' : ` ${JSON.stringify(entry.detail)}`;
  return `${entry.at} ${entry.kind.padEnd(9)} ${entry.principal.padEnd(8)} ${entry.sandbox ?? '-'} ${entry.action} ${outcome}${duration}${detail}`;
}

/** `sandboxd audit [--sandbox ID] [--tool NAME] [--since TIME] [--limit N] [--follow] [--json]` */
export async function auditCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      sandbox: { type: 'string' },
      tool: { type: 'string' },
      kind: { type: 'string' },
      since: { type: 'string' },
      limit: { type: 'string' },
      follow: { type: 'boolean', short: 'f', default: false },
      json: { type: 'boolean', default: false },
      ...apiOptions(),
    },
  });
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${positionals[0]}`);
  const limit = values.limit === undefined ? 100 : Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1) throw new UsageError('--limit takes a positive whole number');
  const api = await ApiClient.connect(values);
  const filters = new URLSearchParams();
  if (values.sandbox !== undefined) filters.set('sandbox', values.sandbox);
  if (values.tool !== undefined) filters.set('tool', values.tool);
  if (values.kind !== undefined) filters.set('kind', values.kind);
  if (values.since !== undefined) filters.set('since', new Date(values.since).toISOString());
  const print = (entry: AuditEntry) =>
    process.stdout.write(`${values.json ? JSON.stringify(entry) : formatEntry(entry)}\n`);
  const page = (query: URLSearchParams) =>
    api.json<{ entries: AuditEntry[]; nextCursor: string | null }>(`/v1/audit?${query}`);

  // The newest `limit` rows, oldest first; then, with --follow, every row after them.
  const newest = await page(new URLSearchParams([...filters, ['order', 'desc'], ['limit', String(limit)]]));
  const shown = newest.entries.reverse();
  for (const entry of shown) print(entry);
  if (!values.follow) return 0;
  let cursor = shown.at(-1)?.id ?? 0;
  if (cursor === 0) {
    const [latest] = (
      await page(
        new URLSearchParams([
          ['order', 'desc'],
          ['limit', '1'],
        ]),
      )
    ).entries;
    cursor = latest?.id ?? 0;
  }
  const stop = new AbortController();
  process.once('SIGINT', () => stop.abort());
  while (!stop.signal.aborted) {
    const next = await page(
      new URLSearchParams([...filters, ['cursor', String(cursor)], ['limit', String(PAGE)]]),
    );
    for (const entry of next.entries) print(entry);
    cursor = next.entries.at(-1)?.id ?? cursor;
    if (next.nextCursor === null) await new Promise((resolve) => setTimeout(resolve, FOLLOW_EVERY_MS));
  }
  return 0;
}
