// Re-snapshots of tables of a running binlog source, interleaved with the live stream (the watermark technique
// of DBLog and Debezium's incremental snapshots, read-only: the watermarks are binlog positions, no writes).
// A chunk is read in primary-key order between a low and a high watermark: on MariaDB both are the position
// of a consistent snapshot (START TRANSACTION WITH CONSISTENT SNAPSHOT, binlog_snapshot_file/position), so the
// window is empty; elsewhere the positions before and after the SELECT. The chunk is handed on at the high
// watermark, in binlog order: transactions up to it first, minus the chunk rows whose key changed inside the
// window (the binlog brings their newer image), then what follows. Progress (table, last key) goes into the
// checkpoint after each chunk, so a crash resumes after the last chunk handed on.
import { KisError } from '../../kernel/errors.js';
import type { SnapshotProgress } from './checkpoint.js';
import { jsonImage, pkOf, type BinlogPoint, type ChangeRow, type TableFilter } from './rows.js';
import { masterStatus, type SqlConnection } from './sql.js';

/** One requested re-snapshot; the first of the checkpoint's list is the one being read. */
export interface IncrementalProgress {
  readonly id: string;
  /** 'schema.table', in the order they are read. */
  readonly tables: readonly string[];
  /** A SQL condition the rows must meet (null: every row). */
  readonly where: string | null;
  readonly done: readonly string[];
  readonly table: string | null;
  /** The key of the last row read in `table` (binary values as { $base64 }); null: from its start. */
  readonly after: Record<string, unknown> | null;
  readonly rows: number;
  readonly requested_at: string;
}

export interface SnapshotRequest {
  /** 'schema.table' patterns ('*' wildcards) among the tables the source follows. */
  readonly tables: readonly string[];
  /** An optional SQL condition on the rows, e.g. "updated_at > '2026-11-01'". */
  readonly where?: string;
  /** Requests with the same id are taken once (a signal read again after a crash). */
  readonly id?: string;
}

const SYSTEM_SCHEMAS = ['mysql', 'information_schema', 'performance_schema', 'sys'];
const quote = (id: string): string => '`' + id.replace(/`/g, '``') + '`';

function globToRegExp(glob: string): RegExp {
  return new RegExp('^' + glob.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*') + '$');
}

/** The followed tables a request names, or a KIS_ERR_REPAIR_REQUEST that says which pattern matches none. */
export async function expandRequest(conn: SqlConnection, source: string, filter: TableFilter, req: SnapshotRequest): Promise<IncrementalProgress> {
  if (req.tables.length === 0) throw new KisError('KIS_ERR_REPAIR_REQUEST', `source '${source}': a snapshot request needs at least one table`);
  if (req.where !== undefined && /;/.test(req.where)) {
    throw new KisError('KIS_ERR_REPAIR_REQUEST', `source '${source}': the where condition of a snapshot request is one SQL expression, without ';'`);
  }
  const [rows] = await conn.query(
    `SELECT TABLE_SCHEMA AS s, TABLE_NAME AS t FROM information_schema.TABLES WHERE TABLE_TYPE = 'BASE TABLE' AND TABLE_SCHEMA NOT IN (${SYSTEM_SCHEMAS.map(() => '?').join(', ')}) ORDER BY TABLE_SCHEMA, TABLE_NAME`,
    SYSTEM_SCHEMAS,
  ) as unknown as [Array<{ s: string; t: string }>];
  const tables: string[] = [];
  for (const pattern of req.tables) {
    if (!/^[^.]+\.[^.]+$/.test(pattern)) throw new KisError('KIS_ERR_REPAIR_REQUEST', `source '${source}': expected 'schema.table' in a snapshot request, found '${pattern}'`);
    const re = globToRegExp(pattern);
    const hits = rows.filter((r) => re.test(`${r.s}.${r.t}`) && filter.matches(r.s, r.t)).map((r) => `${r.s}.${r.t}`);
    if (hits.length === 0) {
      throw new KisError('KIS_ERR_REPAIR_REQUEST',
        `source '${source}': '${pattern}' matches no table the source follows (tables: ${filter.tables.join(', ')}${filter.excluded.length > 0 ? `; exclude: ${filter.excluded.join(', ')}` : ''}), or the user cannot see it`);
    }
    for (const h of hits) if (!tables.includes(h)) tables.push(h);
  }
  for (const name of tables) {
    const [schema = '', table = ''] = name.split('.');
    if ((await primaryKey(conn, schema, table)).length === 0) {
      throw new KisError('KIS_ERR_REPAIR_REQUEST', `source '${source}': ${name} has no primary key; a re-snapshot interleaved with the stream reads by key`);
    }
  }
  if (req.where !== undefined) {
    // Checked once here, so that a typo is a clear error now rather than a failed chunk later.
    const [schema = '', table = ''] = tables[0]!.split('.');
    try {
      await conn.query(`SELECT 1 FROM ${quote(schema)}.${quote(table)} WHERE (${req.where}) LIMIT 0`);
    } catch (err) {
      throw new KisError('KIS_ERR_REPAIR_REQUEST', `source '${source}': the where condition '${req.where}' does not work on ${tables[0]}: ${(err as Error).message}`, { cause: err });
    }
  }
  return {
    id: req.id ?? `snap-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`,
    tables, where: req.where ?? null, done: [], table: tables[0] ?? null, after: null, rows: 0, requested_at: new Date().toISOString(),
  };
}

export async function primaryKey(conn: SqlConnection, schema: string, table: string): Promise<string[]> {
  const [rows] = await conn.query(
    "SELECT COLUMN_NAME AS c FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND CONSTRAINT_NAME = 'PRIMARY' ORDER BY ORDINAL_POSITION",
    [schema, table],
  ) as unknown as [Array<{ c: string }>];
  return rows.map((r) => r.c);
}

function keyValueToJson(v: unknown): unknown {
  return Buffer.isBuffer(v) ? { $base64: v.toString('base64') } : v;
}

function keyValueFromJson(v: unknown): unknown {
  if (v !== null && typeof v === 'object' && typeof (v as { $base64?: unknown }).$base64 === 'string') return Buffer.from((v as { $base64: string }).$base64, 'base64');
  return v;
}

/** The identity of a row of a table in a chunk window: its key as JSON, the same for a SELECTed row and a binlog row. */
export const keyOf = (schema: string, table: string, pk: Record<string, unknown> | null): string => `${schema}.${table}:${JSON.stringify(pk)}`;

/** A chunk read and waiting for the stream to reach its high watermark. */
export interface PendingChunk {
  readonly low: BinlogPoint;
  readonly high: BinlogPoint;
  /** Rows by keyOf(), in key order (a Map keeps insertion order). */
  readonly rows: Map<string, ChangeRow>;
  /** The progress to checkpoint once the chunk is handed on. */
  readonly progress: IncrementalProgress;
  readonly schema: string;
  readonly table: string;
}

/** Drops from the chunk the rows whose key a transaction inside its window changed (the binlog brings their newer image). */
export function dropChanged(chunk: PendingChunk, rows: readonly ChangeRow[]): number {
  let n = 0;
  for (const r of rows) {
    if (r.schema !== chunk.schema || r.table !== chunk.table) continue;
    const keys = [r.pk, pkOf(r.before, r.pk ? Object.keys(r.pk) : undefined)];
    for (const k of keys) if (k && chunk.rows.delete(keyOf(r.schema, r.table, k))) n++;
  }
  return n;
}

/** Low and high watermarks around `read`: one consistent position on MariaDB, before / after elsewhere. */
async function watermarked<T>(conn: SqlConnection, read: () => Promise<T>): Promise<{ low: BinlogPoint; high: BinlogPoint; value: T }> {
  await conn.query('START TRANSACTION WITH CONSISTENT SNAPSHOT');
  try {
    const [status] = await conn.query("SHOW STATUS LIKE 'binlog_snapshot_%'") as unknown as [Array<{ Variable_name: string; Value: string }>];
    const file = status.find((s) => s.Variable_name.toLowerCase() === 'binlog_snapshot_file')?.Value;
    const pos = status.find((s) => s.Variable_name.toLowerCase() === 'binlog_snapshot_position')?.Value;
    if (file && pos) {
      const value = await read();
      const at = { file, pos: Number(pos), gtid: '' };
      return { low: at, high: at, value };
    }
    const low = await masterStatus(conn);
    const value = await read();
    const high = await masterStatus(conn);
    return { low, high, value };
  } finally {
    await conn.query('COMMIT').catch(() => undefined);
  }
}

/** Reads the next chunk of the first request; undefined when the request is finished. */
export async function readChunk(conn: SqlConnection, p: IncrementalProgress, chunkRows: number, position: (high: BinlogPoint) => ChangeRow['position']): Promise<PendingChunk | undefined> {
  if (p.table === null) return undefined;
  const [schema = '', table = ''] = p.table.split('.');
  const pk = await primaryKey(conn, schema, table);
  const cols = pk.map(quote).join(', ');
  const conds: string[] = [];
  const args: unknown[] = [];
  if (p.after && pk.length > 0) {
    conds.push(`(${cols}) > (${pk.map(() => '?').join(', ')})`);
    for (const c of pk) args.push(keyValueFromJson(p.after[c]));
  }
  if (p.where !== null) conds.push(`(${p.where})`);
  const sql = `SELECT * FROM ${quote(schema)}.${quote(table)}${conds.length > 0 ? ` WHERE ${conds.join(' AND ')}` : ''} ORDER BY ${cols} LIMIT ${chunkRows}`;
  const { low, high, value: found } = await watermarked(conn, async () => {
    const [r] = await conn.query(sql, args) as unknown as [Array<Record<string, unknown>>];
    return r;
  });
  const lastKey = found.length > 0 ? Object.fromEntries(pk.map((c) => [c, keyValueToJson(found[found.length - 1]![c])])) : null;
  const at = position(high);
  const now = Date.now();
  const rows = new Map<string, ChangeRow>();
  for (const r of found) {
    const image = jsonImage(r);
    const key = pkOf(image, pk);
    rows.set(keyOf(schema, table, key), { op: 'r', schema, table, pk: key, before: null, after: image, position: at, ts_ms: now });
  }
  let progress: IncrementalProgress;
  if (found.length < chunkRows) {
    const done = [...p.done, p.table];
    progress = { ...p, done, table: p.tables.find((t) => !done.includes(t)) ?? null, after: null, rows: p.rows + rows.size };
  } else {
    progress = { ...p, after: lastKey, rows: p.rows + rows.size };
  }
  return { low, high, rows, progress, schema, table };
}

/** Whether an initial or healing snapshot is still being read (the checkpoint says where). */
export const snapshotUnfinished = (s: SnapshotProgress | undefined): boolean => s !== undefined && !s.finished;
