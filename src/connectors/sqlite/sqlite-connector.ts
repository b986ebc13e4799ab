// type: sqlite (better-sqlite3, WAL mode): upserts and positions in one transaction, on one connection.
// better-sqlite3 is synchronous; one prepared statement per row inside a transaction is its fast path.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { ConnConfig } from '../../config/model.js';
import type { StorageEnv, StorageConnector } from '../../core/storage.js';
import { KisError } from '../../kernel/errors.js';
import type { Row } from '../../kernel/types.js';
import type { Statement as PlanStatement } from '../sql/plan.js';
import { DEFAULT_POSITIONS_TABLE, type PartitionPosition } from '../sql/positions.js';
import type { TableInfo } from '../sql/schema.js';
import { createSqlConnector, type SqlDriver } from '../sql/sql-connector.js';
import type { SqlErrorKind, SqlTx } from '../sql/write.js';
import type { SqliteConnParams } from './params.js';

const q = (name: string): string => '"' + name.replace(/"/g, '""') + '"';

export function classifySqlite(err: unknown): SqlErrorKind {
  const code = typeof err === 'object' && err !== null && typeof (err as { code?: unknown }).code === 'string' ? (err as { code: string }).code : 'UNKNOWN';
  if (code.startsWith('SQLITE_CONSTRAINT') || code === 'SQLITE_MISMATCH' || code === 'SQLITE_TOOBIG' || code === 'SQLITE_RANGE') return { kind: 'data', code };
  if (/^SQLITE_(BUSY|LOCKED|IOERR|FULL|CANTOPEN|PROTOCOL)/.test(code)) return { kind: 'unavailable', code };
  return { kind: 'other', code };
}

export function createSqliteConnector(conn: ConnConfig, params: SqliteConnParams, env: StorageEnv): StorageConnector {
  const file = params.path === ':memory:' ? ':memory:' : path.resolve(env.configDir, params.path);
  const pt = q(params.positions_table ?? DEFAULT_POSITIONS_TABLE);
  let db: Database.Database | undefined;
  // One connection: a write holds it from BEGIN to COMMIT, the next waits its turn.
  let turn: Promise<unknown> = Promise.resolve();
  const stmts = new Map<string, Database.Statement>();

  const open = (): Database.Database => {
    if (db === undefined) {
      if (file !== ':memory:') mkdirSync(path.dirname(file), { recursive: true });
      db = new Database(file, { timeout: params.busy_timeout_ms ?? 5000 });
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
    }
    return db;
  };
  const prepared = (sql: string): Database.Statement => {
    let s = stmts.get(sql);
    if (s === undefined) { s = open().prepare(sql); stmts.set(sql, s); }
    return s;
  };
  const sqlOf = (keyColumns: readonly string[], stmt: PlanStatement): string => {
    const t = q(params.table);
    if (stmt.del) return `DELETE FROM ${t} WHERE ${keyColumns.map((c) => `${q(c)} = ?`).join(' AND ')}`;
    const keys = new Set(keyColumns);
    const upd = stmt.cols.filter((c) => !keys.has(c)).map((c) => `${q(c)} = excluded.${q(c)}`);
    return `INSERT INTO ${t} (${stmt.cols.map(q).join(',')}) VALUES (${stmt.cols.map(() => '?').join(',')}) ON CONFLICT (${keyColumns.map(q).join(',')}) ${upd.length === 0 ? 'DO NOTHING' : `DO UPDATE SET ${upd.join(', ')}`}`;
  };

  const driver: SqlDriver = {
    label: 'sqlite',
    where: file,
    async open() {
      const d = open();
      if (params.create === true && d.prepare('SELECT 1 FROM sqlite_master WHERE type = ? AND name = ?').get('table', params.table) === undefined) {
        if (params.columns === undefined) {
          throw new KisError('KIS_ERR_STORAGE_SCHEMA', `connector '${conn.cid}': table ${params.table}: create: true needs a columns mapping to know the columns`, { context: { connector: conn.cid, table: params.table } });
        }
        const keyCols = conn.key.map((f) => Object.entries(params.columns ?? {}).find(([, v]) => v === f)?.[0] ?? f);
        const cols = [...keyCols, ...Object.keys(params.columns).filter((c) => !keyCols.includes(c))];
        d.exec(`CREATE TABLE IF NOT EXISTS ${q(params.table)} (${cols.map(q).join(', ')}, PRIMARY KEY (${keyCols.map(q).join(', ')}))`);
      }
    },
    async close() {
      await turn;
      stmts.clear();
      db?.close();
      db = undefined;
    },
    async describe(table): Promise<TableInfo | undefined> {
      const d = open();
      const cols = d.prepare(`SELECT name, type, "notnull" AS nn, dflt_value AS dflt, pk FROM pragma_table_info(?)`).all(table) as { name: string; type: string; nn: number; dflt: unknown; pk: number }[];
      if (cols.length === 0) return undefined;
      const uniqueKeys: string[][] = [];
      const pk = cols.filter((c) => c.pk > 0).sort((a, b) => a.pk - b.pk).map((c) => c.name);
      if (pk.length > 0) uniqueKeys.push(pk);
      const idx = d.prepare(`SELECT name FROM pragma_index_list(?) WHERE "unique" = 1 AND partial = 0`).all(table) as { name: string }[];
      for (const i of idx) uniqueKeys.push((d.prepare('SELECT name FROM pragma_index_info(?) ORDER BY seqno').all(i.name) as { name: string }[]).map((r) => r.name));
      const rowid = pk.length === 1 && /^integer$/i.test(cols.find((c) => c.pk > 0)?.type ?? '');
      return {
        columns: cols.map((c) => ({ name: c.name, type: c.type, nullable: c.nn === 0 && c.pk === 0, hasDefault: c.dflt !== null || (rowid && c.pk > 0) })),
        uniqueKeys,
      };
    },
    async ensurePositionsTable() {
      open().exec(`CREATE TABLE IF NOT EXISTS ${pt} (app_id TEXT NOT NULL, flow TEXT NOT NULL, source TEXT NOT NULL, "partition" INTEGER NOT NULL, position TEXT NOT NULL, updated_at TEXT NOT NULL, PRIMARY KEY (app_id, flow, source, "partition"))`);
    },
    withTx(mapping, meta, f) {
      const d = open();
      const tx: SqlTx = {
        begin: async () => { d.exec('BEGIN IMMEDIATE'); },
        commit: async () => { d.exec('COMMIT'); },
        rollback: async () => { if (d.inTransaction) d.exec('ROLLBACK'); },
        savepoint: async (n) => { d.exec(`SAVEPOINT ${n}`); },
        rollbackTo: async (n) => { d.exec(`ROLLBACK TO ${n}`); },
        release: async (n) => { d.exec(`RELEASE ${n}`); },
        run: async (stmt) => {
          const s = prepared(sqlOf(mapping.keyColumns, stmt));
          for (const op of stmt.ops) s.run(op.values as unknown[]);
        },
        writePositions: async (pp: readonly PartitionPosition[]) => {
          if (pp.length === 0) return;
          const s = prepared(`INSERT INTO ${pt} (app_id, flow, source, "partition", position, updated_at) VALUES (?,?,?,?,?,?) ON CONFLICT (app_id, flow, source, "partition") DO UPDATE SET position = excluded.position, updated_at = excluded.updated_at`);
          const at = new Date(env.clock()).toISOString();
          for (const p of pp) s.run(env.appId, meta.flow, p.source, p.partition, p.position, at);
        },
      };
      const run = turn.then(() => f(tx));
      turn = run.catch(() => undefined);
      return run;
    },
    async selectByKeys(mapping, tuples): Promise<Row[]> {
      const kc = mapping.keyColumns;
      if (kc.length === 1) {
        // Untyped columns (create: true) keep numbers as numbers, and keys are text: ask for both.
        const vals = tuples.flatMap(([v]) => (/^-?\d+(\.\d+)?$/.test(v!) ? [v, Number(v)] : [v]));
        return open().prepare(`SELECT * FROM ${q(params.table)} WHERE ${q(kc[0]!)} IN (${vals.map(() => '?').join(',')})`).all(vals) as Row[];
      }
      const sql = `SELECT * FROM ${q(params.table)} WHERE (${kc.map(q).join(',')}) IN (VALUES ${tuples.map(() => '(' + kc.map(() => '?').join(',') + ')').join(',')})`;
      return open().prepare(sql).all(tuples.flat()) as Row[];
    },
    async readPositions(flow, source) {
      const rows = prepared(`SELECT "partition" AS p, position FROM ${pt} WHERE app_id = ? AND flow = ? AND source = ?`).all(env.appId, flow, source) as { p: number; position: string }[];
      return rows.map((r) => ({ partition: Number(r.p), position: r.position }));
    },
    classify: classifySqlite,
  };
  return createSqlConnector(conn, { ...params, batch_rows: params.batch_rows ?? 1000, booleansAsInts: true }, driver, env);
}
