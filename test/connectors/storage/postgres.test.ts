// type: postgres against the machine's PostgreSQL (127.0.0.1:5432, trust auth): a fresh database per test file.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createPostgresConnector, PostgresConnParamsCodec, type PostgresConnParams } from '../../../src/connectors/postgres/index.js';
import type { StorageConnector } from '../../../src/core/storage.js';
import { isKisError, type KisError } from '../../../src/kernel/errors.js';
import type { Row } from '../../../src/kernel/types.js';
import { connConfig, freshPgDb, PG, positions, testEnv, waitFor, type PgDb } from './helpers.js';

let db: PgDb;
before(async () => { db = await freshPgDb(); });
after(async () => { await db.drop(); });

const TABLE = `CREATE TABLE %s (userid varchar(20) NOT NULL, orderid integer NOT NULL, amount numeric(10,2), note varchar(5), status text NOT NULL DEFAULT 'new', PRIMARY KEY (userid, orderid))`;

async function make(table: string, params: Partial<PostgresConnParams> = {}, key = ['userid', 'orderid'], addrs = [`${PG.host}:${PG.port}`]): Promise<StorageConnector> {
  const decoded = PostgresConnParamsCodec.decode({ table, database: db.name, user: db.user, ...params });
  assert.equal(decoded._tag, 'Right');
  return createPostgresConnector(connConfig(`pg_${table}`, 'postgres', addrs, key), decoded.right as PostgresConnParams, testEnv());
}

async function rows(sql: string): Promise<Row[]> {
  return (await db.pool.query(sql)).rows as Row[];
}

test('upserts by key (a key twice in a batch), deletes binlog d rows, positions in the same transaction', async () => {
  await db.pool.query(TABLE.replace('%s', 't_upsert'));
  const c = await make('t_upsert', { deletes: true });
  await c.start();
  try {
    const meta = { flow: '订单流', fn: 'save' };
    let res = await c.write!([
      { userid: 'u1', orderid: 1, amount: 10.5 },
      { userid: 'u2', orderid: 2, amount: 20 },
      { userid: 'u1', orderid: 1, amount: 11 },
    ], positions(3, 9_007_199_254_740_990), meta);
    assert.deepEqual(res.rejected, []);
    res = await c.write!([
      { op: 'd', userid: 'u2', orderid: 2 },
      { op: 'c', userid: 'u3', orderid: 3, amount: 1, note: 'abc' },
    ], [{ source: 'binlog_src', partition: 0, offset: 'mysql-bin.000009:120' }, { source: 'binlog_src', partition: 0, offset: 'mysql-bin.000010:4' }], meta);
    assert.deepEqual(res.rejected, []);
    assert.deepEqual(await rows('SELECT userid, orderid, amount, note, status FROM t_upsert ORDER BY userid'), [
      { userid: 'u1', orderid: 1, amount: '11.00', note: null, status: 'new' },
      { userid: 'u3', orderid: 3, amount: '1.00', note: 'abc', status: 'new' },
    ]);
    assert.deepEqual(await rows('SELECT app_id, flow, source, "partition", position FROM kisflow_positions ORDER BY source'), [
      { app_id: 'kis_test_app', flow: '订单流', source: 'binlog_src', partition: 0, position: 'mysql-bin.000010:4' },
      { app_id: 'kis_test_app', flow: '订单流', source: 'orders', partition: 0, position: '9007199254740992' },
    ]);
    assert.deepEqual([...await c.storedPositions!('订单流', 'orders')], [[0, '9007199254740992']]);
    assert.deepEqual(Object.fromEntries(await c.lookupMany!(['u1_1', 'u3_3', 'u9_9'])), {
      u1_1: { userid: 'u1', orderid: 1, amount: '11.00', note: null, status: 'new' },
      u3_3: { userid: 'u3', orderid: 3, amount: '1.00', note: 'abc', status: 'new' },
    });
  } finally { await c.close(); }
});

test('rows the database refuses come back with their SQLSTATE; the rest of the batch and the positions commit', async () => {
  await db.pool.query(TABLE.replace('%s', 't_reject'));
  const c = await make('t_reject');
  await c.start();
  try {
    const batch: Row[] = Array.from({ length: 20 }, (_, i) => ({ userid: `u${i}`, orderid: i, amount: i, note: 'ok' }));
    batch[2] = { ...batch[2], amount: 'not a number' };
    batch[3] = { ...batch[3], note: 'far too long' };
    batch[11] = { ...batch[11], status: null };
    const res = await c.write!(batch, positions(20, 100), { flow: 'f', fn: 's' });
    assert.deepEqual(res.rejected.map((r) => [r.index, r.code]), [[2, '22P02'], [3, '22001'], [11, '23502']]);
    const stored = (await rows('SELECT orderid FROM t_reject ORDER BY orderid')).map((r) => r['orderid']);
    assert.deepEqual(stored, [...Array(20).keys()].filter((i) => ![2, 3, 11].includes(i)));
    assert.deepEqual(await rows(`SELECT position FROM kisflow_positions WHERE flow = 'f'`), [{ position: '119' }]);
  } finally { await c.close(); }
});

test('a backend terminated mid-transaction is a retriable error and nothing of the batch is committed', async () => {
  await db.pool.query(TABLE.replace('%s', 't_kill'));
  const c = await make('t_kill', { batch_rows: 2 });
  await c.start();
  const locker = await db.pool.connect();
  try {
    await locker.query('BEGIN');
    await locker.query(`INSERT INTO t_kill (userid, orderid) VALUES ('u5', 5)`);
    const batch = Array.from({ length: 8 }, (_, i) => ({ userid: `u${i}`, orderid: i, amount: i }));
    const writing = c.write!(batch, positions(8), { flow: 'f', fn: 's' }).then(() => undefined, (e: unknown) => e);
    const pid = await waitFor('the blocked insert', async () => {
      const r = await rows(`SELECT pid FROM pg_stat_activity WHERE datname = '${db.name}' AND query LIKE 'INSERT INTO "t_kill"%' AND wait_event_type = 'Lock'`);
      return r[0]?.['pid'] as number | undefined;
    });
    await db.pool.query('SELECT pg_terminate_backend($1)', [pid]);
    const err = await writing as KisError;
    assert.ok(isKisError(err), String(err));
    assert.equal(err.code, 'KIS_ERR_STORAGE_UNAVAILABLE');
    assert.equal(err.retriable, true);
    assert.equal(c.waiting!().length, 1);
    await locker.query('ROLLBACK');
    assert.deepEqual(await rows('SELECT * FROM t_kill'), []);
    assert.deepEqual(await rows(`SELECT * FROM kisflow_positions WHERE flow = 'f' AND position = '7'`), []);
    assert.deepEqual((await c.write!(batch, positions(8), { flow: 'f', fn: 's' })).rejected, []);
    assert.deepEqual(await rows('SELECT COUNT(*)::int AS n FROM t_kill'), [{ n: 8 }]);
    assert.deepEqual(c.waiting!(), []);
  } finally { locker.release(); await c.close(); }
});

test('an unreachable server is a retriable start error', async () => {
  const c = await make('t_none', {}, ['userid'], ['127.0.0.1:1']);
  await assert.rejects(c.start(), (e: KisError) => e.code === 'KIS_ERR_STORAGE_UNAVAILABLE' && e.retriable);
  assert.equal(c.waiting!().length, 1);
  await c.close();
});

test('start-up schema errors name the connector, the table and the column', async () => {
  await db.pool.query('CREATE TABLE t_nokey (userid text, orderid int, amount int)');
  await db.pool.query('CREATE TABLE t_partial (userid text, orderid int)');
  await db.pool.query('CREATE UNIQUE INDEX ON t_partial (userid, orderid) WHERE userid IS NOT NULL');
  await db.pool.query(TABLE.replace('%s', 't_cols'));
  const missing = await make('t_missing');
  await assert.rejects(missing.start(), (e: KisError) => e.code === 'KIS_ERR_STORAGE_SCHEMA' && e.message === "connector 'pg_t_missing': table t_missing: the table does not exist");
  await missing.close();
  for (const t of ['t_nokey', 't_partial']) {
    const nokey = await make(t);
    await assert.rejects(nokey.start(), (e: KisError) => e.code === 'KIS_ERR_STORAGE_SCHEMA' && e.message.includes(`connector 'pg_${t}': table ${t}, column userid, orderid`) && /no primary key or unique index/.test(e.message));
    await nokey.close();
  }
  const cols = await make('t_cols', { columns: { userid: 'userid', orderid: 'orderid', amount_total: 'amount' } });
  const problems = await cols.check!();
  assert.deepEqual(problems.map((e) => [e.code, e.context['table'], e.context['column']]), [['KIS_ERR_STORAGE_SCHEMA', 't_cols', 'amount_total']]);
  await cols.close();
});
