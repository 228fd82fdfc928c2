import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { test } from 'node:test';
import { pino } from 'pino';
import type { SandboxManager } from '../sandbox/manager.ts';
import type { Sandbox } from '../sandbox/sandbox.ts';
import { asCaller } from './caller.ts';
import { AuditLog } from './log.ts';
import { AuditRecorder } from './recorder.ts';

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
