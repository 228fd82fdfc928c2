import { parseArgs } from 'node:util';
import type { AuditEntry } from '../audit/entry.ts';
import { ApiClient, apiOptions } from './api-client.ts';
import { formatEntry } from './audit.ts';
import { UsageError } from './usage.ts';

/**
 * `sandboxd logs ID [--command CID] [--follow] [--lines N]`: the agent's own log
 * lines, then the sandbox's events (state changes, commands, tool calls); with
 * --command that command's output instead of the events. --follow keeps
 * streaming (the events endpoint's SSE) until Ctrl-C or the command ends.
 */
export async function logsCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      command: { type: 'string', short: 'c' },
      follow: { type: 'boolean', short: 'f', default: false },
      lines: { type: 'string', default: '200' },
      ...apiOptions(),
    },
  });
  const [id, ...rest] = positionals;
  if (id === undefined) throw new UsageError('logs needs a sandbox id');
  if (rest.length > 0) throw new UsageError(`unexpected argument ${rest[0]}`);
  const api = await ApiClient.connect(values);
  const sandbox = encodeURIComponent(id);
  if (values.command === undefined) {
    const agent = await (
      await api.fetch(`/v1/sandboxes/${sandbox}/logs?lines=${Number(values.lines)}`)
    ).text();
    process.stdout.write(agent.endsWith('\n') || agent === '' ? agent : `${agent}\n`);
  }
  const stop = new AbortController();
  process.once('SIGINT', () => stop.abort());
  const query = values.command === undefined ? '' : `?command=${encodeURIComponent(values.command)}`;
  try {
    for await (const message of api.events(`/v1/sandboxes/${sandbox}/events${query}`, stop.signal)) {
      if (message.event === 'ready' && !values.follow && values.command === undefined) break;
      if (message.event === 'output') {
        const chunk = JSON.parse(message.data) as { stream: 'stdout' | 'stderr'; data: string };
        (chunk.stream === 'stderr' ? process.stderr : process.stdout).write(chunk.data);
      } else if (message.event === 'output-end') {
        break;
      } else if (values.command === undefined && message.event !== 'ready') {
        process.stdout.write(`${formatEntry(JSON.parse(message.data) as AuditEntry)}\n`);
      }
    }
  } catch (error) {
    if (!stop.signal.aborted) throw error;
  } finally {
    stop.abort();
  }
  return 0;
}
