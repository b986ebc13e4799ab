// snapshot: initial, the way Debezium does it without locks: record the binlog position first, then read
// each selected table in primary-key chunks (op r), then stream the binlog from the recorded position.
// Changes made while the snapshot runs are read again from the binlog, after the snapshot rows: applied in
// order, the output ends equal to the tables. Progress (table, last key) is checkpointed per chunk, so a
// crash resumes after the last chunk that was handed on.
import type { ConnectionOptions } from 'mysql2';
import type { Logger } from 'pino';
import { KisError } from '../../kernel/errors.js';
import type { SnapshotProgress } from './checkpoint.js';
import { REQUIRED_GRANTS } from './reader.js';
import { jsonImage, pkOf, type BinlogPoint, type ChangeRow, type TableFilter } from './rows.js';
import { masterStatus, mysql, type SqlConnection } from './sql.js';

const SYSTEM_SCHEMAS = ['mysql', 'information_schema', 'performance_schema', 'sys'];

export interface SnapshotOptions {
  readonly source: string;
  readonly dsn: ConnectionOptions;
  readonly filter: TableFilter;
  readonly chunkRows: number;
  readonly logger: Logger;
}

/** A chunk of snapshot rows and the progress to checkpoint once they are handed on. */
export interface SnapshotChunk {
  readonly rows: ChangeRow[];
  readonly progress: SnapshotProgress;
}

/** A key value as JSON for the checkpoint (a binary key as { $base64 }), and back. */
function keyValueToJson(v: unknown): unknown {
  return Buffer.isBuffer(v) ? { $base64: v.toString('base64') } : v;
}

function keyValueFromJson(v: unknown): unknown {
  if (v !== null && typeof v === 'object' && typeof (v as { $base64?: unknown }).$base64 === 'string') return Buffer.from((v as { $base64: string }).$base64, 'base64');
  return v;
}

const quote = (id: string): string => '`' + id.replace(/`/g, '``') + '`';

export async function openSnapshotConnection(dsn: ConnectionOptions): Promise<SqlConnection> {
  return mysql.createConnection({ ...dsn });
}

/** The position where the snapshot begins and the tables it will read: checkpointed before the first SELECT. */
export async function beginSnapshot(conn: SqlConnection, filter: TableFilter): Promise<{ start: BinlogPoint; progress: SnapshotProgress }> {
  const start = await masterStatus(conn);
  const [rows] = await conn.query(
    `SELECT TABLE_SCHEMA AS s, TABLE_NAME AS t FROM information_schema.TABLES WHERE TABLE_TYPE = 'BASE TABLE' AND TABLE_SCHEMA NOT IN (${SYSTEM_SCHEMAS.map(() => '?').join(', ')}) ORDER BY TABLE_SCHEMA, TABLE_NAME`,
    SYSTEM_SCHEMAS,
  ) as unknown as [Array<{ s: string; t: string }>];
  const tables = rows.filter((r) => filter.matches(r.s, r.t)).map((r) => `${r.s}.${r.t}`);
  if (tables.length === 0) {
    // information_schema lists only the tables the user may SELECT from: an empty snapshot is most likely a missing grant.
    throw new KisError('KIS_ERR_BINLOG_ACCESS',
      `snapshot: no table matching ${filter.tables.join(', ')} is visible to the user: they do not exist, or the user lacks SELECT on them (GRANT SELECT ON <schema>.* TO <user>). ` +
      `The binlog source needs ${REQUIRED_GRANTS}.`);
  }
  return { start, progress: { tables, done: [], table: tables[0] ?? null, after: null, rows: 0, finished: tables.length === 0 } };
}

async function primaryKey(conn: SqlConnection, schema: string, table: string): Promise<string[]> {
  const [rows] = await conn.query(
    "SELECT COLUMN_NAME AS c FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND CONSTRAINT_NAME = 'PRIMARY' ORDER BY ORDINAL_POSITION",
    [schema, table],
  ) as unknown as [Array<{ c: string }>];
  return rows.map((r) => r.c);
}

/**
 * Reads the tables from where `progress` says, one chunk at a time; each chunk is yielded and the caller
 * hands it on and checkpoints it before asking for the next. Tables without a primary key are read by
 * offset (not exact if they change meanwhile; the binlog replay still brings the changes).
 */
export async function* readSnapshot(conn: SqlConnection, start: BinlogPoint, from: SnapshotProgress, opts: SnapshotOptions): AsyncGenerator<SnapshotChunk> {
  let progress = from;
  const position = { file: start.file, pos: start.pos, gtid: start.gtid };
  for (const name of from.tables) {
    if (progress.done.includes(name)) continue;
    const [schema = '', table = ''] = name.split('.');
    const pk = await primaryKey(conn, schema, table);
    let after = progress.table === name ? progress.after : null;
    opts.logger.info({ source: opts.source, table: name, after }, 'snapshot: reading table');
    for (;;) {
      let sql: string;
      let args: unknown[];
      const target = `${quote(schema)}.${quote(table)}`;
      if (pk.length > 0) {
        const cols = pk.map(quote).join(', ');
        const where = after ? `WHERE (${cols}) > (${pk.map(() => '?').join(', ')}) ` : '';
        sql = `SELECT * FROM ${target} ${where}ORDER BY ${cols} LIMIT ${opts.chunkRows}`;
        args = after ? pk.map((c) => keyValueFromJson(after![c])) : [];
      } else {
        const offset = Number(after?.['$offset'] ?? 0);
        sql = `SELECT * FROM ${target} LIMIT ${opts.chunkRows} OFFSET ${offset}`;
        args = [];
      }
      const [found] = await conn.query(sql, args) as unknown as [Array<Record<string, unknown>>];
      // The last key, taken before the images are turned into JSON values in place.
      const lastKey = found.length > 0 && pk.length > 0 ? Object.fromEntries(pk.map((c) => [c, keyValueToJson(found[found.length - 1]![c])])) : null;
      const now = Date.now();
      const rows: ChangeRow[] = found.map((r) => {
        const image = jsonImage(r);
        return { op: 'r', schema, table, pk: pkOf(image, pk), before: null, after: image, position, ts_ms: now };
      });
      if (found.length < opts.chunkRows) {
        const done = [...progress.done, name];
        const next = from.tables.find((t) => !done.includes(t)) ?? null;
        progress = { ...progress, done, table: next, after: null, rows: progress.rows + rows.length, finished: next === null };
        yield { rows, progress };
        break;
      }
      after = lastKey ?? { $offset: Number(after?.['$offset'] ?? 0) + found.length };
      progress = { ...progress, table: name, after, rows: progress.rows + rows.length };
      yield { rows, progress };
    }
  }
  if (!progress.finished) yield { rows: [], progress: { ...progress, table: null, after: null, finished: true } };
}
