import { EventEmitter } from 'node:events';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import type { Logger } from 'pino';
import type { AuditEntry, AuditInput, AuditKind } from './entry.ts';

export const AUDIT_FILE = 'audit.sqlite';

export interface AuditLogOptions {
  /** The database file; `:memory:` for unit tests. */
  file: string;
  log: Logger;
  /** A batch is written at most this long after its first row. */
  flushIntervalMs?: number;
  /** ...or as soon as it holds this many rows. */
  flushRows?: number;
  /** Rows older than this are deleted. */
  maxAgeMs?: number;
  /** Above this many bytes of live pages, the oldest rows are deleted until below it. */
  maxBytes?: number;
  /** How often retention runs. */
  retentionIntervalMs?: number;
  now?: () => number;
}

export interface AuditQuery {
  sandbox?: string | undefined;
  kind?: AuditKind | undefined;
  /** The tool or action. */
  action?: string | undefined;
  sinceMs?: number | undefined;
  untilMs?: number | undefined;
  /** Rows after this id (ascending order) or before it (descending). */
  afterId?: number | undefined;
  beforeId?: number | undefined;
  limit: number;
  order: 'asc' | 'desc';
}

const DEFAULTS = {
  flushIntervalMs: 50,
  flushRows: 500,
  maxAgeMs: 30 * 24 * 3600 * 1000,
  maxBytes: 256 * 1024 * 1024,
  retentionIntervalMs: 60_000,
};

const SCHEMA = `
CREATE TABLE IF NOT EXISTS audit (
  id INTEGER PRIMARY KEY,
  at INTEGER NOT NULL,
  kind TEXT NOT NULL,
  sandbox TEXT,
  principal TEXT NOT NULL,
  action TEXT NOT NULL,
  outcome TEXT NOT NULL,
  error_code TEXT,
  duration_ms REAL,
  detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_by_sandbox ON audit (sandbox, id);
CREATE INDEX IF NOT EXISTS audit_by_time ON audit (at);
`;

interface Row {
  id: number;
  at: number;
  kind: string;
  sandbox: string | null;
  principal: string;
  action: string;
  outcome: string;
  error_code: string | null;
  duration_ms: number | null;
  detail: string;
}

function entryOf(row: Row): AuditEntry {
  return {
    id: row.id,
    at: new Date(row.at).toISOString(),
    kind: row.kind as AuditEntry['kind'],
    sandbox: row.sandbox,
    principal: row.principal as AuditEntry['principal'],
    action: row.action,
    outcome: row.outcome,
    errorCode: row.error_code,
    durationMs: row.duration_ms,
    detail: JSON.parse(row.detail) as Record<string, unknown>,
  };
}

/**
 * The audit log: one SQLite file (node:sqlite, WAL) in the state directory.
 * `append` only queues the row (ids are given at once, so the live stream and
 * the file agree); a timer writes the queue in one transaction, off the tool
 * call's path. WAL with synchronous=NORMAL: a committed transaction survives the
 * process being killed (only a power loss may take the last ones), and a crash
 * never leaves a torn file. Events: 'entry' (AuditEntry) for each appended row,
 * 'flushed' (last id) after each committed batch.
 */
export class AuditLog extends EventEmitter {
  readonly file: string;
  readonly #db: DatabaseSync;
  readonly #insert: StatementSync;
  readonly #options: Required<Omit<AuditLogOptions, 'file' | 'log' | 'now'>>;
  readonly #log: Logger;
  readonly #now: () => number;
  #queue: AuditEntry[] = [];
  #rawAt: number[] = [];
  #nextId: number;
  #flushTimer: NodeJS.Timeout | undefined;
  readonly #retentionTimer: NodeJS.Timeout;
  #isClosed = false;

  constructor(options: AuditLogOptions) {
    super();
    this.setMaxListeners(0);
    this.file = options.file;
    this.#log = options.log;
    this.#now = options.now ?? Date.now;
    this.#options = {
      flushIntervalMs: options.flushIntervalMs ?? DEFAULTS.flushIntervalMs,
      flushRows: options.flushRows ?? DEFAULTS.flushRows,
      maxAgeMs: options.maxAgeMs ?? DEFAULTS.maxAgeMs,
      maxBytes: options.maxBytes ?? DEFAULTS.maxBytes,
      retentionIntervalMs: options.retentionIntervalMs ?? DEFAULTS.retentionIntervalMs,
    };
    if (options.file !== ':memory:') mkdirSync(path.dirname(options.file), { recursive: true, mode: 0o700 });
    this.#db = new DatabaseSync(options.file);
    this.#db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 2000;');
    this.#db.exec(SCHEMA);
    this.#insert = this.#db.prepare(
      'INSERT INTO audit (id, at, kind, sandbox, principal, action, outcome, error_code, duration_ms, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
    );
    const last = this.#db.prepare('SELECT max(id) AS id FROM audit').get() as { id: number | null };
    this.#nextId = (last.id ?? 0) + 1;
    this.applyRetention();
    this.#retentionTimer = setInterval(() => this.applyRetention(), this.#options.retentionIntervalMs);
    this.#retentionTimer.unref();
  }

  /** Opens (or creates) the audit log of a state directory. */
  static inStateDir(stateDir: string, log: Logger, options: Partial<AuditLogOptions> = {}): AuditLog {
    return new AuditLog({ ...options, file: path.join(stateDir, AUDIT_FILE), log });
  }

  /** The id the next row will get: rows below it exist (written or queued). */
  get nextId(): number {
    return this.#nextId;
  }

  /** Queues one row; it is in the file within flushIntervalMs. */
  append(input: AuditInput): AuditEntry | undefined {
    if (this.#isClosed) return undefined;
    const at = input.at ?? this.#now();
    const { at: _at, ...fields } = input;
    const entry: AuditEntry = { ...fields, id: this.#nextId++, at: new Date(at).toISOString() };
    this.#queue.push(entry);
    this.#rawAt.push(at);
    if (this.#queue.length >= this.#options.flushRows) this.flush();
    else this.#flushTimer ??= setTimeout(() => this.flush(), this.#options.flushIntervalMs);
    this.emit('entry', entry);
    return entry;
  }

  /** Writes every queued row in one transaction. */
  flush(): void {
    clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    if (this.#queue.length === 0) return;
    const batch = this.#queue;
    const times = this.#rawAt;
    this.#queue = [];
    this.#rawAt = [];
    try {
      this.#db.exec('BEGIN');
      batch.forEach((entry, index) => {
        this.#insert.run(
          entry.id,
          times[index] as number,
          entry.kind,
          entry.sandbox,
          entry.principal,
          entry.action,
          entry.outcome,
          entry.errorCode,
          entry.durationMs,
          JSON.stringify(entry.detail),
        );
      });
      this.#db.exec('COMMIT');
      this.emit('flushed', batch.at(-1)?.id);
    } catch (error) {
      if (this.#db.isTransaction) this.#db.exec('ROLLBACK');
      // The rows are lost, not the control plane: a full disk must not stop tool calls.
      this.#log.error({ error: (error as Error).message, rows: batch.length }, 'audit rows not written');
    }
  }

  /** Rows matching `query`, read from the file after writing what is queued. */
  query(query: AuditQuery): AuditEntry[] {
    this.flush();
    const where: string[] = [];
    const values: (string | number)[] = [];
    const add = (clause: string, value: string | number | undefined) => {
      if (value === undefined) return;
      where.push(clause);
      values.push(value);
    };
    add('sandbox = ?', query.sandbox);
    add('kind = ?', query.kind);
    add('action = ?', query.action);
    add('at >= ?', query.sinceMs);
    add('at < ?', query.untilMs);
    add('id > ?', query.afterId);
    add('id < ?', query.beforeId);
    const sql =
      `SELECT * FROM audit${where.length === 0 ? '' : ` WHERE ${where.join(' AND ')}`}` +
      ` ORDER BY id ${query.order === 'asc' ? 'ASC' : 'DESC'} LIMIT ?`;
    const rows = this.#db.prepare(sql).all(...values, query.limit) as unknown as Row[];
    return rows.map(entryOf);
  }

  /** Tool calls per sandbox since `sinceMs` (the dashboard's calls per minute). */
  callsSince(sinceMs: number): Map<string, number> {
    this.flush();
    const rows = this.#db
      .prepare(
        "SELECT sandbox, count(*) AS calls FROM audit WHERE kind = 'tool_call' AND at >= ? AND sandbox IS NOT NULL GROUP BY sandbox",
      )
      .all(sinceMs) as { sandbox: string; calls: number }[];
    return new Map(rows.map((row) => [row.sandbox, row.calls]));
  }

  /** Deletes rows past the age limit, then the oldest until the live pages fit maxBytes. */
  applyRetention(): { deleted: number } {
    this.flush();
    let deleted = Number(
      this.#db.prepare('DELETE FROM audit WHERE at < ?').run(this.#now() - this.#options.maxAgeMs).changes,
    );
    // Freed pages are reused by later rows, so the file stops growing at about maxBytes.
    for (let round = 0; round < 20 && this.liveBytes() > this.#options.maxBytes; round++) {
      const { count } = this.#db.prepare('SELECT count(*) AS count FROM audit').get() as { count: number };
      if (count === 0) break;
      const cut = Math.max(1, Math.ceil(count / 10));
      deleted += Number(
        this.#db.prepare('DELETE FROM audit WHERE id IN (SELECT id FROM audit ORDER BY id LIMIT ?)').run(cut)
          .changes,
      );
    }
    if (deleted > 0) this.#log.info({ deleted }, 'audit retention');
    return { deleted };
  }

  /** Bytes of the database's pages in use (pages on the free list excluded). */
  liveBytes(): number {
    const pages = (this.#db.prepare('PRAGMA page_count').get() as { page_count: number }).page_count;
    const free = (this.#db.prepare('PRAGMA freelist_count').get() as { freelist_count: number })
      .freelist_count;
    const size = (this.#db.prepare('PRAGMA page_size').get() as { page_size: number }).page_size;
    return (pages - free) * size;
  }

  count(): number {
    this.flush();
    return (this.#db.prepare('SELECT count(*) AS count FROM audit').get() as { count: number }).count;
  }

  close(): void {
    if (this.#isClosed) return;
    this.flush();
    this.#isClosed = true;
    clearInterval(this.#retentionTimer);
    this.#db.close();
  }
}
