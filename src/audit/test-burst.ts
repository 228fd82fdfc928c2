/**
 * A process that writes audit rows as fast as it can and prints the last id of
 * every committed batch, for the crash test to kill in mid-burst. Not shipped.
 */
import { pino } from 'pino';
import { AuditLog } from './log.ts';

const audit = AuditLog.inStateDir(process.argv[2] as string, pino({ level: 'silent' }), {
  flushIntervalMs: 5,
  flushRows: 200,
});
audit.on('flushed', (lastId: number) => process.stdout.write(`${lastId}\n`));
const burst = () => {
  for (let i = 0; i < 100; i++) {
    audit.append({
      kind: 'tool_call',
      sandbox: `sb-${i % 20}`,
      principal: 'sandbox',
      action: 'read_file',
      outcome: 'ok',
      errorCode: null,
      durationMs: 1,
      detail: { path: `file-${i}.txt` },
    });
  }
  setImmediate(burst);
};
burst();
