// type: postgres (pg): batched INSERT … ON CONFLICT with positions in one transaction, lookups by key.
import pg from 'pg';
import type { ConnConfig } from '../../config/model.js';
import type { StorageEnv, StorageConnector } from '../../core/storage.js';
import type { Row } from '../../kernel/types.js';
import { DEFAULT_POSITIONS_TABLE, type PartitionPosition } from '../sql/positions.js';
import type { TableInfo } from '../sql/schema.js';
import { createSqlConnector, type SqlDriver } from '../sql/sql-connector.js';
import { hostPort, tlsOptions } from '../sql/tls.js';
import type { SqlTx } from '../sql/write.js';
import { chunks, classifyPg, quotePg, statementSql, tuples } from './dialect.js';
import type { PostgresConnParams } from './params.js';

function splitTable(table: string): [string | null, string] {
  const i = table.indexOf('.');
  return i < 0 ? [null, table] : [table.slice(0, i), table.slice(i + 1)];
}

const UNIQUE_KEYS_SQL = `SELECT i.indexrelid::text AS idx, a.attname AS col
FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY(i.indkey)
WHERE (i.indisunique OR i.indisprimary) AND i.indpred IS NULL AND n.nspname = COALESCE($1, current_schema()) AND c.relname = $2
ORDER BY 1, array_position(i.indkey::int2[], a.attnum)`;

export function createPostgresConnector(conn: ConnConfig, params: PostgresConnParams, env: StorageEnv): StorageConnector {
  const { host, port } = hostPort(conn.addrs, 5432);
  const user = params.user ?? 'postgres';
  const positionsTable = params.positions_table ?? DEFAULT_POSITIONS_TABLE;
  const pt = quotePg(positionsTable);
  const log = env.logger.child({ connector: conn.cid, type: 'postgres' });
  let pool: pg.Pool | undefined;

  const getPool = (): pg.Pool => {
    if (pool === undefined) {
      const ssl = tlsOptions(params.tls, env.configDir);
      pool = new pg.Pool({
        host, port, user, password: params.password, database: params.database,
        max: params.pool_size ?? 4, connectionTimeoutMillis: params.connect_timeout_ms ?? 10_000,
        ...(ssl === undefined ? {} : { ssl }),
      });
      // An idle client whose server went away emits here; the next query reconnects.
      pool.on('error', (err) => log.warn({ err: err.message }, 'idle postgres connection lost'));
    }
    return pool;
  };

  const driver: SqlDriver = {
    label: 'postgres',
    where: `${user}@${host}:${port}/${params.database ?? ''}`,
    async open() {
      const c = await getPool().connect();
      c.release();
    },
    async close() {
      const p = pool;
      pool = undefined;
      await p?.end();
    },
    async describe(table): Promise<TableInfo | undefined> {
      const [schema, name] = splitTable(table);
      const cols = await getPool().query<{ name: string; type: string; nullable: string; dflt: string | null; ident: string; gen: string }>(
        `SELECT column_name AS name, data_type AS type, is_nullable AS nullable, column_default AS dflt, is_identity AS ident, is_generated AS gen
         FROM information_schema.columns WHERE table_schema = COALESCE($1, current_schema()) AND table_name = $2 ORDER BY ordinal_position`, [schema, name]);
      if (cols.rows.length === 0) return undefined;
      const idx = await getPool().query<{ idx: string; col: string }>(UNIQUE_KEYS_SQL, [schema, name]);
      const keys = new Map<string, string[]>();
      for (const r of idx.rows) keys.set(r.idx, [...(keys.get(r.idx) ?? []), r.col]);
      return {
        columns: cols.rows.map((c) => ({
          name: c.name, type: c.type, nullable: c.nullable === 'YES',
          hasDefault: c.dflt !== null || c.ident === 'YES' || c.gen === 'ALWAYS',
        })),
        uniqueKeys: [...keys.values()],
      };
    },
    async ensurePositionsTable() {
      await getPool().query(`CREATE TABLE IF NOT EXISTS ${pt} (app_id text NOT NULL, flow text NOT NULL, source text NOT NULL, "partition" integer NOT NULL, position text NOT NULL, updated_at timestamptz NOT NULL, PRIMARY KEY (app_id, flow, source, "partition"))`);
    },
    async withTx(mapping, meta, f) {
      const c = await getPool().connect();
      let broken = false;
      // A checked-out client whose backend dies emits 'error' besides failing the query: without a listener it crashes the process.
      const onError = (): void => { broken = true; };
      c.on('error', onError);
      const q = async (sql: string, values?: unknown[]): Promise<void> => {
        try { await c.query(sql, values); } catch (err) { if (classifyPg(err).kind === 'unavailable') broken = true; throw err; }
      };
      const tx: SqlTx = {
        begin: () => q('BEGIN'),
        commit: () => q('COMMIT'),
        rollback: () => q('ROLLBACK'),
        savepoint: (n) => q(`SAVEPOINT ${n}`),
        rollbackTo: (n) => q(`ROLLBACK TO SAVEPOINT ${n}`),
        release: (n) => q(`RELEASE SAVEPOINT ${n}`),
        run: async (stmt) => {
          for (const s of chunks(stmt)) {
            const values: unknown[] = [];
            for (const op of s.ops) for (const v of op.values) values.push(v);
            await q(statementSql(params.table, mapping.keyColumns, s.del, s.cols, s.ops.length), values);
          }
        },
        writePositions: (pp: readonly PartitionPosition[]) => {
          if (pp.length === 0) return Promise.resolve();
          const at = new Date(env.clock());
          const values = pp.flatMap((p) => [env.appId, meta.flow, p.source, p.partition, p.position, at]);
          return q(`INSERT INTO ${pt} (app_id, flow, source, "partition", position, updated_at) VALUES ${tuples(pp.length, 6)} ON CONFLICT (app_id, flow, source, "partition") DO UPDATE SET position = EXCLUDED.position, updated_at = EXCLUDED.updated_at`, values);
        },
      };
      try {
        return await f(tx);
      } finally {
        // true: destroy a client whose connection failed instead of returning it to the pool.
        c.off('error', onError);
        c.release(broken);
      }
    },
    async selectByKeys(mapping, keyTuples): Promise<Row[]> {
      const kc = mapping.keyColumns;
      const k = kc.length === 1 ? quotePg(kc[0]!) : '(' + kc.map(quotePg).join(',') + ')';
      const list = kc.length === 1 ? keyTuples.map((_, i) => '$' + (i + 1)).join(',') : tuples(keyTuples.length, kc.length);
      const res = await getPool().query(`SELECT * FROM ${quotePg(params.table)} WHERE ${k} IN (${list})`, keyTuples.flat());
      return res.rows as Row[];
    },
    async readPositions(flow, source) {
      const res = await getPool().query<{ p: number; position: string }>(`SELECT "partition" AS p, position FROM ${pt} WHERE app_id = $1 AND flow = $2 AND source = $3`, [env.appId, flow, source]);
      return res.rows.map((r) => ({ partition: Number(r.p), position: r.position }));
    },
    classify: classifyPg,
  };
  return createSqlConnector(conn, { ...params, batch_rows: params.batch_rows ?? 500 }, driver, env);
}
