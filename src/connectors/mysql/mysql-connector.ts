// type: mysql (MySQL and MariaDB through mysql2): batched upserts with positions in one transaction, lookups by key.
import { createPool } from 'mysql2';
import type { Pool, PoolConnection, RowDataPacket } from 'mysql2/promise';
import type { ConnConfig } from '../../config/model.js';
import type { StorageEnv, StorageConnector } from '../../core/storage.js';
import type { Row } from '../../kernel/types.js';
import { DEFAULT_POSITIONS_TABLE, type PartitionPosition } from '../sql/positions.js';
import type { TableInfo } from '../sql/schema.js';
import { createSqlConnector, type SqlDriver } from '../sql/sql-connector.js';
import { hostPort, tlsOptions } from '../sql/tls.js';
import type { SqlTx } from '../sql/write.js';
import { classifyMy, quoteMy, statementSql, statementValues } from './dialect.js';
import type { MysqlConnParams } from './params.js';

function splitTable(table: string): [string | null, string] {
  const i = table.indexOf('.');
  return i < 0 ? [null, table] : [table.slice(0, i), table.slice(i + 1)];
}

export function createMysqlConnector(conn: ConnConfig, params: MysqlConnParams, env: StorageEnv): StorageConnector {
  const { host, port } = hostPort(conn.addrs, 3306);
  const user = params.user ?? 'root';
  const positionsTable = params.positions_table ?? DEFAULT_POSITIONS_TABLE;
  const pt = quoteMy(positionsTable);
  const positionsSql = `INSERT INTO ${pt} (app_id, flow, source, \`partition\`, position, updated_at) VALUES ? ON DUPLICATE KEY UPDATE position=VALUES(position), updated_at=VALUES(updated_at)`;
  let pool: Pool | undefined;

  const getPool = (): Pool => {
    if (pool === undefined) {
      const ssl = tlsOptions(params.tls, env.configDir);
      const core = createPool({
        host, port, user, password: params.password ?? '', database: params.database,
        connectionLimit: params.pool_size ?? 4, connectTimeout: params.connect_timeout_ms ?? 10_000,
        supportBigNumbers: true, charset: 'utf8mb4', dateStrings: true,
        // Only for the write path's one round trip (START TRANSACTION; upserts; positions; COMMIT); values are escaped by mysql2.
        multipleStatements: true,
        ...(ssl === undefined ? {} : { ssl: ssl as Record<string, unknown> }),
      });
      // Strict mode: a too-long or ill-typed value is refused (a dead letter), never silently truncated.
      core.on('connection', (c) => { c.query("SET SESSION sql_mode = CONCAT_WS(',', @@sql_mode, 'STRICT_TRANS_TABLES')", () => undefined); });
      pool = core.promise();
    }
    return pool;
  };

  const driver: SqlDriver = {
    label: 'mysql',
    where: `${user}@${host}:${port}/${params.database ?? ''}`,
    async open() {
      const c = await getPool().getConnection();
      c.release();
    },
    async close() {
      const p = pool;
      pool = undefined;
      await p?.end();
    },
    async describe(table): Promise<TableInfo | undefined> {
      const [schema, name] = splitTable(table);
      const [cols] = await getPool().query<RowDataPacket[]>(
        'SELECT COLUMN_NAME AS name, DATA_TYPE AS type, IS_NULLABLE AS nullable, COLUMN_DEFAULT AS dflt, EXTRA AS extra FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION',
        [schema, name]);
      if (cols.length === 0) return undefined;
      const [idx] = await getPool().query<RowDataPacket[]>(
        'SELECT INDEX_NAME AS idx, COLUMN_NAME AS col FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ? AND NON_UNIQUE = 0 ORDER BY INDEX_NAME, SEQ_IN_INDEX',
        [schema, name]);
      const keys = new Map<string, string[]>();
      for (const r of idx) keys.set(String(r['idx']), [...(keys.get(String(r['idx'])) ?? []), String(r['col'])]);
      return {
        columns: cols.map((c) => ({
          name: String(c['name']), type: String(c['type']), nullable: c['nullable'] === 'YES',
          hasDefault: c['dflt'] !== null || /auto_increment|generated|virtual|stored/i.test(String(c['extra'] ?? '')),
        })),
        uniqueKeys: [...keys.values()],
      };
    },
    async ensurePositionsTable() {
      await getPool().query(`CREATE TABLE IF NOT EXISTS ${pt} (app_id VARCHAR(191) NOT NULL, flow VARCHAR(191) NOT NULL, source VARCHAR(191) NOT NULL, \`partition\` INT NOT NULL, position VARCHAR(255) NOT NULL, updated_at DATETIME(3) NOT NULL, PRIMARY KEY (app_id, flow, source, \`partition\`)) DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`);
    },
    async withTx(mapping, meta, f) {
      const c: PoolConnection = await getPool().getConnection();
      let broken = false;
      const q = async (sql: string, values?: unknown[]): Promise<void> => {
        try { await c.query(sql, values); } catch (err) { if (classifyMy(err).kind === 'unavailable') broken = true; throw err; }
      };
      const tx: SqlTx = {
        begin: () => q('BEGIN'),
        commit: () => q('COMMIT'),
        rollback: () => q('ROLLBACK'),
        savepoint: (n) => q(`SAVEPOINT ${n}`),
        rollbackTo: (n) => q(`ROLLBACK TO SAVEPOINT ${n}`),
        release: (n) => q(`RELEASE SAVEPOINT ${n}`),
        run: (stmt) => q(statementSql(params.table, mapping.keyColumns, stmt), statementValues(stmt)),
        writePositions: (pp: readonly PartitionPosition[]) => (pp.length === 0 ? Promise.resolve() : q(positionsSql, positionsValues(pp))),
        oneTrip: (stmts, pp) => {
          const sql = ['START TRANSACTION'];
          const values: unknown[] = [];
          for (const s of stmts) { sql.push(statementSql(params.table, mapping.keyColumns, s)); values.push(...statementValues(s)); }
          if (pp.length > 0) { sql.push(positionsSql); values.push(...positionsValues(pp)); }
          sql.push('COMMIT');
          return q(sql.join(';\n'), values);
        },
      };
      const positionsValues = (pp: readonly PartitionPosition[]): unknown[] => {
        const at = new Date(env.clock());
        return [pp.map((p) => [env.appId, meta.flow, p.source, p.partition, p.position, at])];
      };
      try {
        return await f(tx);
      } finally {
        // A connection that lost its server (or was killed) must not go back to the pool.
        if (broken) c.destroy(); else c.release();
      }
    },
    async selectByKeys(mapping, tuples): Promise<Row[]> {
      const kc = mapping.keyColumns;
      const k = kc.length === 1 ? quoteMy(kc[0]!) : '(' + kc.map(quoteMy).join(',') + ')';
      const one = kc.length === 1 ? '?' : '(' + kc.map(() => '?').join(',') + ')';
      const [rows] = await getPool().query<RowDataPacket[]>(`SELECT * FROM ${quoteMy(params.table)} WHERE ${k} IN (${tuples.map(() => one).join(',')})`, tuples.flat());
      return rows as Row[];
    },
    async readPositions(flow, source) {
      const [rows] = await getPool().query<RowDataPacket[]>(`SELECT \`partition\` AS p, position FROM ${pt} WHERE app_id = ? AND flow = ? AND source = ?`, [env.appId, flow, source]);
      return rows.map((r) => ({ partition: Number(r['p']), position: String(r['position']) }));
    },
    classify: classifyMy,
  };
  return createSqlConnector(conn, { ...params, batch_rows: params.batch_rows ?? 1000 }, driver, env);
}
