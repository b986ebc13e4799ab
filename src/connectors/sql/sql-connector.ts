// The StorageConnector every SQL type shares (mysql, postgres, sqlite); a type brings only its SqlDriver:
// connection, SQL dialect, catalogue queries and error classes.
// Write order, per batch (the sink half of exactly once):
//   1. plan the rows (upserts, deletes by key; rows missing a key field are rejected at once);
//   2. BEGIN; the statements; upsert of the batch's greatest position per (source, partition); COMMIT
//      (a refused row: bisect with savepoints, see write.ts);
//   3. only then does write() resolve, and the runtime may commit the Kafka offset or binlog checkpoint.
// A crash between 2 and 3 leaves the database ahead of Kafka: the source resumes from storedPositions().
import type { ConnConfig } from '../../config/model.js';
import { recordKey, type SaveMeta } from '../../core/connector.js';
import type { StorageEnv, StorageConnector, WriteResult } from '../../core/storage.js';
import { errorMessage, KisError } from '../../kernel/errors.js';
import type { Position, Row } from '../../kernel/types.js';
import { planRows, resolveMapping, type Mapping } from './plan.js';
import { DEFAULT_POSITIONS_TABLE, greatestPositions, type PartitionPosition } from './positions.js';
import { checkTable, type TableInfo } from './schema.js';
import { failure, writeInTransaction, type SqlErrorKind, type SqlTx, type WriteContext } from './write.js';

/** What a SQL type implements; the shared connector does the rest. */
export interface SqlDriver {
  /** mysql, postgres or sqlite: for messages. */
  readonly label: string;
  /** Where it connects, without credentials: for logs and messages. */
  readonly where: string;
  open(): Promise<void>;
  close(): Promise<void>;
  describe(table: string): Promise<TableInfo | undefined>;
  ensurePositionsTable(): Promise<void>;
  /** Runs f on one connection; a connection that failed is discarded, not returned to the pool. */
  withTx<T>(mapping: Mapping, meta: SaveMeta, f: (tx: SqlTx) => Promise<T>): Promise<T>;
  /** Rows whose key columns equal one of the tuples: one query. */
  selectByKeys(mapping: Mapping, tuples: readonly (readonly string[])[]): Promise<Row[]>;
  readPositions(flow: string, source: string): Promise<{ partition: number; position: string }[]>;
  classify(err: unknown): SqlErrorKind;
}

export interface SqlTableParams {
  readonly table: string;
  readonly columns?: Readonly<Record<string, string>>;
  readonly deletes?: boolean;
  readonly op_field?: string;
  readonly batch_rows?: number;
  readonly positions_table?: string;
  readonly booleansAsInts?: boolean;
}

const LOOKUP_CHUNK = 5000;

/** Splits a lookup key back into the key fields' values ('_'-joined, as recordKey builds it); extra parts go to the last field. */
export function splitKey(key: string, n: number): string[] {
  if (n === 1) return [key];
  const parts = key.split('_');
  if (parts.length <= n) return parts;
  return [...parts.slice(0, n - 1), parts.slice(n - 1).join('_')];
}

export function createSqlConnector(conn: ConnConfig, p: SqlTableParams, driver: SqlDriver, env: StorageEnv): StorageConnector {
  const log = env.logger.child({ connector: conn.cid, type: driver.label });
  let mapping: Mapping | undefined;
  let down: string | undefined;
  const ctx: WriteContext = { cid: conn.cid, table: p.table, maxRows: p.batch_rows ?? 1000, classify: (e) => driver.classify(e) };
  const deletes = p.deletes ?? false;
  const opField = p.op_field ?? 'op';

  const note = <T>(v: T): T => { if (down !== undefined) { log.info({ where: driver.where }, 'storage reachable again'); down = undefined; } return v; };
  const wrap = (err: unknown, what: string): unknown => {
    const e = err instanceof KisError ? err : failure(ctx, err, what);
    if (e instanceof KisError && e.code === 'KIS_ERR_STORAGE_UNAVAILABLE') {
      if (down === undefined) log.warn({ where: driver.where, err: errorMessage(err) }, 'storage unavailable');
      down = `${driver.label} ${driver.where} unavailable: ${errorMessage(err)}`;
    }
    return e;
  };

  const inspect = async (): Promise<KisError[]> => {
    const info = await driver.describe(p.table);
    const m = resolveMapping(conn.key, p.columns, info?.columns.map((c) => c.name) ?? []);
    const errors = checkTable(conn.cid, p.table, info, m);
    if (errors.length === 0) mapping = m;
    return errors;
  };

  const needMapping = (): Mapping => {
    if (mapping === undefined) throw new KisError('KIS_ERR_CONNECTOR', `connector '${conn.cid}' used before start()`, { context: { connector: conn.cid } });
    return mapping;
  };

  const connector: StorageConnector = {
    async start() {
      let errors: KisError[];
      try {
        await driver.open();
        // Created only when missing: a user without the CREATE grant runs against a table made by its DBA.
        if (await driver.describe(p.positions_table ?? DEFAULT_POSITIONS_TABLE) === undefined) await driver.ensurePositionsTable();
        errors = await inspect();
      } catch (err) {
        throw wrap(err, 'start');
      }
      if (errors.length === 1) throw errors[0]!;
      if (errors.length > 1) throw new KisError('KIS_ERR_STORAGE_SCHEMA', errors.map((e) => e.message).join('; '), { context: { connector: conn.cid, table: p.table } });
      note(undefined);
      log.info({ where: driver.where, table: p.table }, 'storage connector started');
    },
    async check() {
      try {
        await driver.open();
        return await inspect();
      } catch (err) {
        const e = wrap(err, 'check');
        return [e instanceof KisError ? e : new KisError('KIS_ERR_CONNECTOR', errorMessage(e))];
      }
    },
    waiting: () => (down === undefined ? [] : [down]),
    async close() {
      await driver.close();
    },
    async write(rows: readonly Row[], positions: readonly (Position | undefined)[], meta: SaveMeta): Promise<WriteResult> {
      const m = needMapping();
      const plan = planRows(rows, m, { deletes, opField, booleansAsInts: p.booleansAsInts === true });
      const pp: PartitionPosition[] = greatestPositions(positions);
      if (plan.ops.length === 0 && pp.length === 0) return { rejected: plan.rejected };
      try {
        const refused = await driver.withTx(m, meta, (tx) => writeInTransaction(tx, ctx, plan.ops, pp));
        const rejected = plan.rejected.length === 0 ? refused : [...plan.rejected, ...refused].sort((a, b) => a.index - b.index);
        return note({ rejected });
      } catch (err) {
        throw wrap(err, `writing ${rows.length} rows`);
      }
    },
    async lookupMany(keys: readonly string[]): Promise<ReadonlyMap<string, Row>> {
      const m = needMapping();
      const out = new Map<string, Row>();
      if (keys.length === 0) return out;
      const tuples = [...new Set(keys)].map((k) => splitKey(k, m.keyColumns.length));
      const rows: Row[] = [];
      try {
        // One IN query per call; only a very long key list is split (PostgreSQL takes at most 65535 parameters).
        for (let i = 0; i < tuples.length; i += LOOKUP_CHUNK) rows.push(...await driver.selectByKeys(m, tuples.slice(i, i + LOOKUP_CHUNK)));
      } catch (err) {
        throw wrap(err, `looking up ${keys.length} keys`);
      }
      for (const stored of rows) {
        const row = fieldsOf(stored, m);
        const key = recordKey(row, m.keyFields);
        if (key !== undefined) out.set(key, row);
      }
      return note(out);
    },
    async storedPositions(flow: string, source: string): Promise<ReadonlyMap<number, string>> {
      try {
        const got = await driver.readPositions(flow, source);
        return note(new Map(got.map((r) => [r.partition, r.position])));
      } catch (err) {
        throw wrap(err, 'reading positions');
      }
    },
  };
  return connector;
}

/** A stored row under the flow's field names: mapped columns renamed back, other columns as they are. */
function fieldsOf(stored: Row, m: Mapping): Row {
  if (m.explicit === undefined) {
    // Key columns may differ in case from the fields (MySQL names are case-insensitive).
    const row: Row = { ...stored };
    m.keyFields.forEach((f, i) => { const c = m.keyColumns[i]!; if (c !== f && c in stored) { row[f] = stored[c]; } });
    return row;
  }
  const row: Row = {};
  const renamed = new Set<string>();
  for (const [c, f] of m.explicit) { if (c in stored) { row[f] = stored[c]; renamed.add(c); } }
  for (const c in stored) if (!renamed.has(c) && !(c in row)) row[c] = stored[c];
  return row;
}
