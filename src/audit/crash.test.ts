import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { AuditLog } from './log.ts';

const BURST = path.join(path.dirname(fileURLToPath(import.meta.url)), 'test-burst.ts');

test('kill -9 in the middle of a burst leaves a sound file holding every committed row', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sandboxd-audit-crash-'));
  try {
    const child = spawn(process.execPath, [BURST, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
    let lastCommitted = 0;
    let output = '';
    await new Promise<void>((resolve) => {
      child.stdout.setEncoding('utf8').on('data', (text: string) => {
        output += text;
        const lines = output.split('\n');
        output = lines.pop() ?? '';
        for (const line of lines) lastCommitted = Math.max(lastCommitted, Number(line));
        // Well into the burst: thousands of rows committed, more queued and being written.
        if (lastCommitted >= 20_000) resolve();
      });
    });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;

    const raw = new DatabaseSync(path.join(dir, 'audit.sqlite'));
    assert.equal(
      (raw.prepare('PRAGMA integrity_check').get() as { integrity_check: string }).integrity_check,
      'ok',
    );
    raw.close();
    const audit = AuditLog.inStateDir(dir, pino({ level: 'silent' }));
    const count = audit.count();
    assert.ok(count >= lastCommitted, `${count} rows, ${lastCommitted} reported committed`);
    const [newest] = audit.query({ limit: 1, order: 'desc' });
    assert.equal(newest?.id, count, 'no row is missing between the first and the last');
    audit.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
