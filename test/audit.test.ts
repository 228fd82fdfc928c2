import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@modelcontextprotocol/client';
import type { AuditEntry } from '../src/audit/entry.ts';
import { runSandboxd } from './support/cli.ts';
import { ControlPlane, structured } from './support/control-plane.ts';

/**
 * The audit log and the events stream of a real `sandboxd serve`: every tool
 * call of many clients recorded with the right fields and nothing secret, and
 * the SSE stream in order and resumable.
 */

const CLIENTS = 20;
const CALLS_PER_CLIENT = 500;
const SECRET_CONTENT = `file-body-${randomBytes(12).toString('hex')}`;

let plane: ControlPlane;
let sandbox: { id: string; token: string };
const clients: Client[] = [];

before(async () => {
  plane = await ControlPlane.create();
  await plane.start();
  const response = await plane.fetch('/v1/sandboxes', { method: 'POST', body: '{}' });
  sandbox = (await response.json()) as { id: string; token: string };
  assert.equal(response.status, 201);
});

after(async () => {
  await Promise.all(clients.map((client) => client.close().catch(() => undefined)));
  await plane?.destroy();
});

async function allRows(query: string): Promise<AuditEntry[]> {
  const rows: AuditEntry[] = [];
  let cursor: string | null = '';
  while (cursor !== null) {
    const page = (await (
      await plane.fetch(`/v1/audit?${query}&limit=1000${cursor === '' ? '' : `&cursor=${cursor}`}`)
    ).json()) as { entries: AuditEntry[]; nextCursor: string | null };
    rows.push(...page.entries);
    cursor = page.nextCursor;
  }
  return rows;
}

/** Reads SSE messages from `response` until `isDone` says so. */
async function readEvents(
  response: Response,
  isDone: (events: { event: string; id: string; data: string }[]) => boolean,
) {
  const events: { event: string; id: string; data: string }[] = [];
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  while (!isDone(events)) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let end = buffer.indexOf('\n\n');
    while (end >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      end = buffer.indexOf('\n\n');
      const field = (name: string) =>
        block
          .split('\n')
          .filter((line) => line.startsWith(`${name}:`))
          .map((line) => line.slice(name.length + 1).trim())
          .join('\n');
      if (field('data') !== '') events.push({ event: field('event'), id: field('id'), data: field('data') });
    }
  }
  await reader.cancel();
  return events;
}

describe('the audit log', () => {
  it(`records ${CLIENTS * CALLS_PER_CLIENT} tool calls from ${CLIENTS} clients, each with its principal and no content or token`, async () => {
    const writer = await plane.client(`/s/${sandbox.id}/mcp`, sandbox.token);
    clients.push(writer);
    await writer.callTool({ name: 'write_file', arguments: { path: 'notes.txt', content: SECRET_CONTENT } });
    for (let index = 0; index < CLIENTS; index++) {
      // Half use the sandbox's own token, half the operator's.
      clients.push(await plane.client(`/s/${sandbox.id}/mcp`, index % 2 === 0 ? sandbox.token : plane.token));
    }
    const callers = clients.slice(1);
    await Promise.all(
      callers.map(async (client) => {
        for (let call = 0; call < CALLS_PER_CLIENT; call++) {
          const result = structured(
            await client.callTool({ name: 'read_file', arguments: { path: 'notes.txt' } }),
          );
          assert.equal(result.content, `${SECRET_CONTENT}`);
        }
      }),
    );
    const rows = await allRows(`sandbox=${sandbox.id}&kind=tool_call&tool=read_file`);
    assert.equal(rows.length, CLIENTS * CALLS_PER_CLIENT);
    const byPrincipal = Map.groupBy(rows, (row) => row.principal);
    assert.equal(byPrincipal.get('sandbox')?.length, (CLIENTS / 2) * CALLS_PER_CLIENT);
    assert.equal(byPrincipal.get('operator')?.length, (CLIENTS / 2) * CALLS_PER_CLIENT);
    for (const row of rows) {
      assert.equal(row.outcome, 'ok');
      assert.equal(row.errorCode, null);
      assert.ok(typeof row.durationMs === 'number' && row.durationMs > 0);
      assert.deepEqual(row.detail, { path: 'notes.txt' });
    }
    const everything = JSON.stringify(await allRows(''));
    assert.ok(everything.includes('"write_file"'));
    assert.ok(!everything.includes(SECRET_CONTENT), 'no file content in any row');
    assert.ok(!everything.includes(sandbox.token), 'no sandbox token in any row');
    assert.ok(!everything.includes(plane.token), 'no operator token in any row');
  });

  it('records the failed call with its error code, and the operator action that made the sandbox', async () => {
    const [client] = clients;
    await client?.callTool({ name: 'read_file', arguments: { path: '../etc/passwd' } });
    const [failed] = (await allRows(`sandbox=${sandbox.id}&kind=tool_call`)).filter(
      (row) => row.outcome === 'error',
    );
    assert.equal(failed?.errorCode, 'PATH_OUTSIDE_WORKSPACE');
    const [created] = await allRows(`sandbox=${sandbox.id}&kind=operator`);
    assert.equal(created?.action, 'POST /v1/sandboxes');
    const lifecycle = await allRows(`sandbox=${sandbox.id}&kind=lifecycle`);
    assert.deepEqual(
      lifecycle.map((row) => [row.action, row.principal]),
      [['ready', 'operator']],
    );
  });

  it('pages with a cursor in both directions without overlap', async () => {
    const first = (await (await plane.fetch('/v1/audit?limit=3&order=desc')).json()) as {
      entries: AuditEntry[];
      nextCursor: string;
    };
    const second = (await (
      await plane.fetch(`/v1/audit?limit=3&order=desc&cursor=${first.nextCursor}`)
    ).json()) as {
      entries: AuditEntry[];
    };
    const ids = [...first.entries, ...second.entries].map((row) => row.id);
    assert.deepEqual(
      ids,
      [...ids].sort((a, b) => b - a),
    );
    assert.equal(new Set(ids).size, 6);
    assert.equal((await plane.fetch('/v1/audit?limit=0')).status, 400);
    assert.equal(
      (await plane.fetch('/v1/audit', { headers: { authorization: `Bearer ${sandbox.token}` } })).status,
      401,
    );
  });
});

describe('the events stream', () => {
  it('delivers a command start, its output and its end in order, and resumes after Last-Event-ID', async () => {
    const [client] = clients;
    const started = structured(
      (await client?.callTool({
        name: 'exec_command',
        arguments: { cmd: 'for i in $(seq 1 40); do echo out-$i; sleep 0.05; done', yield_time_ms: 0 },
      })) as unknown,
    );
    const commandId = String(started.command_id);
    const path = `/v1/sandboxes/${sandbox.id}/events?command=${commandId}`;
    const firstPart = await readEvents(await plane.fetch(path), (events) =>
      events.some((event) => event.event === 'output' && event.data.includes('out-10')),
    );
    const last = firstPart.at(-1) as { id: string };
    const rest = await readEvents(
      await plane.fetch(path, { headers: { 'last-event-id': last.id } }),
      (events) => events.some((event) => event.event === 'output-end'),
    );
    const ids = [...firstPart, ...rest].map((event) => event.id.split('.').map(Number));
    for (let index = 1; index < ids.length; index++) {
      const [previous, current] = [ids[index - 1] as number[], ids[index] as number[]];
      assert.ok(
        current.every((part, at) => part >= (previous[at] as number)),
        `positions only move forward: ${previous} then ${current}`,
      );
    }
    const output = [...firstPart, ...rest]
      .filter((event) => event.event === 'output')
      .map((event) => (JSON.parse(event.data) as { data: string }).data)
      .join('');
    assert.equal(
      output,
      Array.from({ length: 40 }, (_, i) => `out-${i + 1}\n`).join(''),
      'nothing lost or repeated',
    );
    const replayed = firstPart.filter((event) => event.event !== 'output' && event.event !== 'ready');
    const replayedIds = replayed.map((event) => (JSON.parse(event.data) as AuditEntry).id);
    const stored = (await allRows(`sandbox=${sandbox.id}`)).map((row) => row.id);
    assert.deepEqual(replayedIds, stored.slice(0, replayedIds.length), 'every stored row, in order');
    assert.ok(
      replayed.some((event) => event.event === 'command'),
      'the command start came before its output',
    );
    assert.equal(rest.filter((event) => event.event === 'tool_call').length, 0, 'no row sent twice');
  });
});

describe('the CLI', () => {
  const env = () => ({ SANDBOXD_URL: plane.baseUrl, SANDBOXD_TOKEN: plane.token });

  it('sandboxd audit prints the rows of one sandbox', async () => {
    const result = await runSandboxd(['audit', '--sandbox', sandbox.id, '--limit', '5'], env());
    assert.equal(result.code, 0, result.stderr);
    const lines = result.stdout.trim().split('\n');
    assert.equal(lines.length, 5);
    assert.ok(lines.every((line) => line.includes(sandbox.id)));
  });

  it('sandboxd logs --command prints a command output', async () => {
    const [client] = clients;
    const started = structured(
      (await client?.callTool({
        name: 'exec_command',
        arguments: { cmd: 'echo from-logs', yield_time_ms: 0 },
      })) as unknown,
    );
    const result = await runSandboxd(['logs', sandbox.id, '--command', String(started.command_id)], env());
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, 'from-logs\n');
  });

  it('sandboxd top --once lists the sandbox', async () => {
    const result = await runSandboxd(['top', '--once'], env());
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, new RegExp(`^${sandbox.id}\\s+ready\\s+default`, 'm'));
  });
});
