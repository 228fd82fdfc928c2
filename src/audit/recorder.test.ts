import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { test } from 'node:test';
import { pino } from 'pino';
import { PreviewGrants } from '../preview/grants.ts';
import type { SandboxManager } from '../sandbox/manager.ts';
import type { Sandbox } from '../sandbox/sandbox.ts';
import { asCaller } from './caller.ts';
import { AuditLog } from './log.ts';
import { AuditRecorder } from './recorder.ts';

/** When the sandboxes these grants are for were made. */
const CREATED = new Date('2026-01-01T00:00:00Z');

function setup() {
  const manager = new EventEmitter();
  const log = new AuditLog({ file: ':memory:', log: pino({ level: 'silent' }) });
  const recorder = new AuditRecorder(log, manager as unknown as SandboxManager);
  const rows = () => log.query({ limit: 100, order: 'asc' });
  return { manager, log, recorder, rows };
}

const commandResult = (status: string, exitCode: number | null = null) => ({
  content: [],
  structuredContent: { ok: true, command_id: 'c1', status, exit_code: exitCode, signal: null },
});

test('a tool call is one row with its principal from the request, and a command start and end its own', () => {
  const { recorder, rows } = setup();
  const call = (tool: string, input: object, status: string, exitCode: number | null = null) =>
    recorder.toolCall({
      sandbox: 'sb-1',
      tool,
      outcome: 'ok',
      errorCode: undefined,
      durationMs: 1.234,
      input,
      result: commandResult(status, exitCode),
    });
  asCaller('sandbox', () => call('exec_command', { cmd: 'make', stdin: 'secret' }, 'running'));
  call('write_stdin', { command_id: 'c1', chars: '' }, 'running');
  call('write_stdin', { command_id: 'c1', chars: '' }, 'exited', 0);
  call('write_stdin', { command_id: 'c1', chars: '' }, 'exited', 0);
  assert.deepEqual(
    rows().map((row) => [row.kind, row.action, row.principal]),
    [
      ['tool_call', 'exec_command', 'sandbox'],
      ['command', 'started', 'sandbox'],
      ['tool_call', 'write_stdin', 'stdio'],
      ['tool_call', 'write_stdin', 'stdio'],
      ['command', 'exited', 'stdio'],
      ['tool_call', 'write_stdin', 'stdio'],
    ],
  );
  const [first, started, , , exited] = rows();
  assert.deepEqual(first?.detail, { cmd: 'make', stdin: { bytes: 6 } });
  assert.equal(first?.durationMs, 1.23);
  assert.deepEqual(started?.detail, { commandId: 'c1', cmd: 'make' });
  assert.deepEqual(exited?.detail, { commandId: 'c1', status: 'exited', exitCode: 0, signal: null });
});

test("the manager's state changes and egress decisions become rows", () => {
  const { manager, recorder, rows } = setup();
  const sandbox = { id: 'sb-2', loaded: { policy: { name: 'default' } } } as unknown as Sandbox;
  manager.emit('transition', sandbox, 'creating', 'ready');
  manager.emit('egress', {
    sandboxId: 'sb-2',
    host: 'registry.npmjs.org',
    port: 443,
    address: '104.16.0.1',
    bytesSent: 10,
    bytesReceived: 20,
    durationMs: 5,
    decision: 'refused',
    rule: 'not on the list',
  });
  recorder.close();
  manager.emit('transition', sandbox, 'ready', 'removed');
  assert.deepEqual(
    rows().map((row) => [row.kind, row.action, row.outcome, row.principal]),
    [
      ['lifecycle', 'ready', 'ok', 'system'],
      ['egress', 'connect', 'refused', 'sandbox'],
    ],
  );
  assert.equal(rows()[1]?.detail.host, 'registry.npmjs.org');
});

test('preview grants become rows: who, sandbox, port and preview, never a capability or session', () => {
  const { recorder, rows } = setup();
  const grants = new PreviewGrants({ onRecord: (record) => recorder.preview(record) });
  const { grant, capability } = asCaller('operator', () =>
    grants.grant({
      sandboxId: 'sb-3',
      sandboxCreatedAt: CREATED,
      port: 3000,
      ttlSeconds: 60,
      isPublic: false,
      grantedBy: 'operator',
    }),
  );
  assert.equal(grants.redeem('not-it', 'sb-3', 3000, '127.0.0.9'), undefined);
  const opened = grants.redeem(capability as string, 'sb-3', 3000, '127.0.0.7');
  const mcp = asCaller('sandbox', () =>
    grants.grant({
      sandboxId: 'sb-3',
      sandboxCreatedAt: CREATED,
      port: 5173,
      ttlSeconds: 60,
      isPublic: false,
      grantedBy: 'mcp',
    }),
  );
  asCaller('operator', () => grants.revoke('sb-3', grant.id));
  assert.deepEqual(
    rows().map((row) => [row.kind, row.sandbox, row.action, row.outcome, row.principal]),
    [
      ['preview', 'sb-3', 'granted', 'ok', 'operator'],
      ['preview', 'sb-3', 'refused', 'refused', 'system'],
      ['preview', 'sb-3', 'opened', 'ok', 'system'],
      ['preview', 'sb-3', 'granted', 'ok', 'sandbox'],
      ['preview', 'sb-3', 'revoked', 'ok', 'operator'],
    ],
  );
  const [granted, refused, openedRow, byMcp] = rows();
  assert.deepEqual(granted?.detail, {
    previewId: grant.id,
    port: 3000,
    public: false,
    grantedBy: 'operator',
    expiresAt: grant.expiresAt.toISOString(),
  });
  assert.deepEqual(refused?.detail, { port: 3000, client: '127.0.0.9', reason: 'capability not valid here' });
  assert.equal(openedRow?.detail.client, '127.0.0.7');
  assert.equal(byMcp?.detail.previewId, mcp.grant.id);
  const written = JSON.stringify(rows());
  assert.ok(!written.includes(capability as string), 'no capability in the log');
  assert.ok(!written.includes(opened?.session as string), 'no session in the log');
});

test('an expired preview grant is a row of the system', () => {
  const { recorder, rows } = setup();
  let now = 1_000_000;
  const grants = new PreviewGrants({ now: () => now, onRecord: (record) => recorder.preview(record) });
  grants.grant({
    sandboxId: 'sb-4',
    sandboxCreatedAt: CREATED,
    port: 8080,
    ttlSeconds: 10,
    isPublic: true,
    grantedBy: 'operator',
  });
  now += 11_000;
  grants.sweep();
  assert.deepEqual(
    rows().map((row) => [row.action, row.principal, row.detail.public]),
    [
      ['granted', 'operator', true],
      ['expired', 'system', true],
    ],
  );
});
