import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { pino } from 'pino';
import type { AuditInput } from './entry.ts';
import { AuditLog } from './log.ts';

const log = pino({ level: 'silent' });
const dirs: string[] = [];
after(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

async function stateDir(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sandboxd-audit-'));
  dirs.push(dir);
  return dir;
}

function call(sandbox: string, action = 'read_file', at?: number): AuditInput {
  return {
    kind: 'tool_call',
    sandbox,
    principal: 'operator',
    action,
    outcome: 'ok',
    errorCode: null,
    durationMs: 1.5,
    detail: { path: 'a.txt' },
    ...(at === undefined ? {} : { at }),
  };
}

test('rows are queued at once with ids and written in one batch; ids go on after a reopen', async () => {
  const dir = await stateDir();
  const audit = AuditLog.inStateDir(dir, log, { flushIntervalMs: 10_000 });
  const seen: number[] = [];
  audit.on('entry', (entry) => seen.push(entry.id));
  for (let i = 0; i < 5; i++) audit.append(call('sb-a'));
  assert.deepEqual(seen, [1, 2, 3, 4, 5]);
  assert.equal(audit.count(), 5);
  audit.close();
  const reopened = AuditLog.inStateDir(dir, log);
  assert.equal(reopened.append(call('sb-a'))?.id, 6);
  assert.equal(reopened.count(), 6);
  reopened.close();
});

test('a query filters by sandbox, action and time and pages by id both ways', async () => {
  const audit = AuditLog.inStateDir(await stateDir(), log);
  for (let i = 0; i < 10; i++) audit.append(call(i % 2 === 0 ? 'sb-a' : 'sb-b', 'read_file', 1000 + i));
  audit.append(call('sb-a', 'exec_command', 2000));
  const firstPage = audit.query({ sandbox: 'sb-a', limit: 3, order: 'asc' });
  assert.deepEqual(
    firstPage.map((entry) => entry.id),
    [1, 3, 5],
  );
  const secondPage = audit.query({ sandbox: 'sb-a', limit: 3, order: 'asc', afterId: 5 });
  assert.deepEqual(
    secondPage.map((entry) => entry.id),
    [7, 9, 11],
  );
  assert.deepEqual(
    audit.query({ limit: 2, order: 'desc', beforeId: 11 }).map((entry) => entry.id),
    [10, 9],
  );
  assert.deepEqual(
    audit.query({ action: 'exec_command', limit: 10, order: 'asc' }).map((entry) => entry.at),
    [new Date(2000).toISOString()],
  );
  assert.equal(audit.query({ sinceMs: 1005, untilMs: 1008, limit: 10, order: 'asc' }).length, 3);
  assert.deepEqual(audit.query({ limit: 1, order: 'asc' })[0]?.detail, { path: 'a.txt' });
  audit.close();
});

test('retention deletes rows past their age', async () => {
  let now = 1_000_000;
  const audit = AuditLog.inStateDir(await stateDir(), log, { maxAgeMs: 1000, now: () => now });
  audit.append(call('sb-a', 'read_file', now - 5000));
  audit.append(call('sb-a', 'read_file', now - 10));
  now += 500;
  assert.deepEqual(audit.applyRetention(), { deleted: 1 });
  assert.equal(audit.count(), 1);
  audit.close();
});

test('retention keeps the file near its size limit by deleting the oldest rows', async () => {
  const maxBytes = 512 * 1024;
  const audit = AuditLog.inStateDir(await stateDir(), log, { maxBytes, flushRows: 1000 });
  const padding = 'x'.repeat(150);
  for (let i = 0; i < 8000; i++) audit.append({ ...call('sb-a'), detail: { path: `${padding}${i}` } });
  audit.flush();
  assert.ok(audit.liveBytes() > maxBytes, `${audit.liveBytes()} bytes before retention`);
  const { deleted } = audit.applyRetention();
  assert.ok(deleted > 0);
  assert.ok(audit.liveBytes() <= maxBytes, `${audit.liveBytes()} bytes after`);
  const oldest = audit.query({ limit: 1, order: 'asc' })[0];
  assert.equal(oldest?.id, deleted + 1, 'the oldest rows went first');
  assert.equal(audit.count(), 8000 - deleted);
  audit.close();
});
