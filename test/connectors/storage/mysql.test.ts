// type: mysql against the machine's MariaDB (127.0.0.1:3306, root): a fresh database per test.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { RowDataPacket } from 'mysql2/promise';
import { createMysqlConnector, MysqlConnParamsCodec, type MysqlConnParams } from '../../../src/connectors/mysql/index.js';
import type { StorageConnector } from '../../../src/core/storage.js';
import { isKisError, type KisError } from '../../../src/kernel/errors.js';
import { connConfig, freshMysqlDb, MARIADB, positions, testEnv, waitFor, type MysqlDb } from './helpers.js';

let db: MysqlDb;
before(async () => { db = await freshMysqlDb(); });
after(async () => { await db.drop(); });

const TABLE = `CREATE TABLE %s (userid VARCHAR(20) NOT NULL, orderid INT NOT NULL, amount DECIMAL(10,2), note VARCHAR(5), status VARCHAR(10) NOT NULL DEFAULT 'new', PRIMARY KEY (userid, orderid))`;

async function make(table: string, params: Partial<MysqlConnParams> = {}, key = ['userid', 'orderid'], addrs = [`${MARIADB.host}:${MARIADB.port}`]): Promise<StorageConnector> {
  const decoded = MysqlConnParamsCodec.decode({ table, database: db.name, ...params });
  assert.equal(decoded._tag, 'Right');
  return createMysqlConnector(connConfig(`my_${table}`, 'mysql', addrs, key), decoded.right as MysqlConnParams, testEnv());
}

async function rows(sql: string): Promise<RowDataPacket[]> {
  const [r] = await db.pool.query<RowDataPacket[]>(sql);
  return r;
}

test('upserts by key, deletes binlog d rows, and writes the greatest positions in the same transaction', async () => {
  await db.pool.query(TABLE.replace('%s', 't_upsert'));
  const c = await make('t_upsert', { deletes: true });
  await c.start();
  try {
    const meta = { flow: '订单流', fn: 'save' };
    let res = await c.write!([
      { userid: 'u1', orderid: 1, amount: 10.5, ignored_field: 'x' },
      { userid: 'u2', orderid: 2, amount: 20 },
      { userid: 'u1', orderid: 1, amount: 11 },
    ], positions(3, 40), meta);
    assert.deepEqual(res.rejected, []);
    res = await c.write!([
      { op: 'd', userid: 'u2', orderid: 2 },
      { op: 'u', userid: 'u3', orderid: 3, amount: 1, note: 'abc' },
    ], [{ source: 'binlog_src', partition: 0, offset: 'mysql-bin.000009:120' }, { source: 'binlog_src', partition: 0, offset: 'mysql-bin.000010:4' }], meta);
    assert.deepEqual(res.rejected, []);
    assert.deepEqual((await rows('SELECT userid, orderid, amount, note, status FROM t_upsert ORDER BY userid')).map((r) => ({ ...r })), [
      { userid: 'u1', orderid: 1, amount: '11.00', note: null, status: 'new' },
      { userid: 'u3', orderid: 3, amount: '1.00', note: 'abc', status: 'new' },
    ]);
    const pos = await rows('SELECT app_id, flow, source, `partition`, position FROM kisflow_positions ORDER BY source');
    assert.deepEqual(pos.map((r) => ({ ...r })), [
      { app_id: 'kis_test_app', flow: '订单流', source: 'binlog_src', partition: 0, position: 'mysql-bin.000010:4' },
      { app_id: 'kis_test_app', flow: '订单流', source: 'orders', partition: 0, position: '42' },
    ]);
    assert.deepEqual([...await c.storedPositions!('订单流', 'orders')], [[0, '42']]);
    assert.deepEqual([...await c.storedPositions!('other', 'orders')], []);
  } finally { await c.close(); }
});

test('explicit column mapping, and lookupMany in one query', async () => {
  await db.pool.query('CREATE TABLE t_map (uid VARCHAR(20) PRIMARY KEY, total DOUBLE NOT NULL, label VARCHAR(20))');
  const c = await make('t_map', { columns: { uid: 'userid', total: 'amount', label: 'name' } }, ['userid']);
  await c.start();
  try {
    await c.write!([{ userid: 'a', amount: 1.5, name: 'Ann' }, { userid: 'b', amount: 2 }], positions(2), { flow: 'f', fn: 's' });
    assert.deepEqual((await rows('SELECT * FROM t_map ORDER BY uid')).map((r) => ({ ...r })), [
      { uid: 'a', total: 1.5, label: 'Ann' }, { uid: 'b', total: 2, label: null },
    ]);
    const got = await c.lookupMany!(['a', 'b', 'zz']);
    assert.deepEqual(Object.fromEntries(got), { a: { userid: 'a', amount: 1.5, name: 'Ann' }, b: { userid: 'b', amount: 2, name: null } });
  } finally { await c.close(); }
});

test('rows the database refuses come back with its code; the rest of the batch and the positions commit', async () => {
  await db.pool.query(TABLE.replace('%s', 't_reject'));
  const c = await make('t_reject');
  await c.start();
  try {
    const batch: Record<string, unknown>[] = Array.from({ length: 20 }, (_, i) => ({ userid: `u${i}`, orderid: i, amount: i, note: 'ok' }));
    batch[3] = { ...batch[3]!, note: 'far too long' };
    batch[11] = { ...batch[11]!, status: null };
    batch[17] = { orderid: 17 };
    const res = await c.write!(batch, positions(20, 100), { flow: 'f', fn: 's' });
    assert.deepEqual(res.rejected.map((r) => [r.index, r.code]), [[3, 'ER_DATA_TOO_LONG'], [11, 'ER_BAD_NULL_ERROR'], [17, 'KIS_ERR_ROW_MISSING_FIELD']]);
    assert.match(res.rejected[0]!.message, /note/);
    const stored = (await rows('SELECT orderid FROM t_reject ORDER BY orderid')).map((r) => r['orderid'] as number);
    assert.deepEqual(stored, [...Array(20).keys()].filter((i) => ![3, 11, 17].includes(i)));
    assert.deepEqual((await rows('SELECT position FROM kisflow_positions WHERE flow = "f"')).map((r) => r['position']), ['119']);
  } finally { await c.close(); }
});

test('a connection killed mid-transaction is a retriable error and nothing of the batch is committed', async () => {
  await db.pool.query(TABLE.replace('%s', 't_kill'));
  const c = await make('t_kill', { batch_rows: 2 });
  await c.start();
  const locker = await db.pool.getConnection();
  try {
    // Another transaction holds key u5: the connector's third statement waits on it, then its connection is killed.
    await locker.query('BEGIN');
    await locker.query("INSERT INTO t_kill (userid, orderid) VALUES ('u5', 5)");
    const batch = Array.from({ length: 8 }, (_, i) => ({ userid: `u${i}`, orderid: i, amount: i }));
    const writing = c.write!(batch, positions(8), { flow: 'f', fn: 's' }).then(() => undefined, (e: unknown) => e);
    const id = await waitFor('the blocked insert', async () => {
      const r = await rows(`SELECT ID FROM information_schema.PROCESSLIST WHERE DB = '${db.name}' AND INFO LIKE 'INSERT INTO \`t_kill\`%'`);
      return r[0]?.['ID'] as number | undefined;
    });
    await db.pool.query(`KILL ${id}`);
    const err = await writing as KisError;
    assert.ok(isKisError(err), String(err));
    assert.equal(err.code, 'KIS_ERR_STORAGE_UNAVAILABLE');
    assert.equal(err.retriable, true);
    assert.equal(c.waiting!().length, 1);
    await locker.query('ROLLBACK');
    assert.deepEqual(await rows('SELECT * FROM t_kill'), []);
    assert.deepEqual(await rows('SELECT * FROM kisflow_positions WHERE flow = "f" AND source = "orders" AND position = "7"'), []);
    // The next write gets a fresh connection and succeeds.
    assert.deepEqual((await c.write!(batch, positions(8), { flow: 'f', fn: 's' })).rejected, []);
    assert.equal((await rows('SELECT COUNT(*) AS n FROM t_kill'))[0]!['n'], 8);
    assert.deepEqual(c.waiting!(), []);
  } finally { locker.release(); await c.close(); }
});

test('an unreachable server is a retriable start error, and readiness says why', async () => {
  const c = await make('t_none', {}, ['userid'], ['127.0.0.1:1']);
  await assert.rejects(c.start(), (e: KisError) => e.code === 'KIS_ERR_STORAGE_UNAVAILABLE' && e.retriable && /ECONNREFUSED/.test(e.message));
  assert.match(c.waiting!()[0]!, /mysql root@127\.0\.0\.1:1/);
  await c.close();
});

test('start-up schema errors name the connector, the table and the column', async () => {
  await db.pool.query('CREATE TABLE t_nokey (userid VARCHAR(20), orderid INT, amount INT)');
  await db.pool.query(TABLE.replace('%s', 't_cols'));
  await db.pool.query('CREATE TABLE t_nn (userid VARCHAR(20) PRIMARY KEY, must INT NOT NULL)');
  const missing = await make('t_missing');
  await assert.rejects(missing.start(), (e: KisError) => e.code === 'KIS_ERR_STORAGE_SCHEMA' && e.message === "connector 'my_t_missing': table t_missing: the table does not exist");
  await missing.close();
  const nokey = await make('t_nokey');
  await assert.rejects(nokey.start(), (e: KisError) => e.code === 'KIS_ERR_STORAGE_SCHEMA' && /my_t_nokey.*t_nokey.*userid, orderid.*no primary key or unique index/.test(e.message));
  await nokey.close();
  const cols = await make('t_cols', { columns: { userid: 'userid', orderid: 'orderid', amount_total: 'amount' } });
  const problems = await cols.check!();
  assert.deepEqual(problems.map((e) => [e.code, e.context['table'], e.context['column']]), [['KIS_ERR_STORAGE_SCHEMA', 't_cols', 'amount_total']]);
  assert.match(problems[0]!.message, /connector 'my_t_cols': table t_cols, column amount_total: mapped column amount_total \(from row field amount\) does not exist/);
  await cols.close();
  const nn = await make('t_nn', { columns: { userid: 'userid' } }, ['userid']);
  assert.match((await nn.check!())[0]!.message, /column must is NOT NULL without a default/);
  await nn.close();
});

test('a password reaches neither the logs nor the error', async () => {
  const lines: string[] = [];
  const { default: pino } = await import('pino');
  const logger = pino({ level: 'debug' }, { write: (l: string) => { lines.push(l); } });
  const decoded = MysqlConnParamsCodec.decode({ table: 't', database: db.name, user: 'nobody', password: 'sekret-pw-123' });
  assert.equal(decoded._tag, 'Right');
  const c = createMysqlConnector(connConfig('my_pw', 'mysql', ['127.0.0.1:1'], ['id']), decoded.right as MysqlConnParams, { ...testEnv(), logger });
  const err = await c.start().then(() => undefined, (e: unknown) => e as KisError);
  assert.equal(err?.code, 'KIS_ERR_STORAGE_UNAVAILABLE');
  assert.ok(lines.length > 0, 'the failure is logged');
  assert.ok(!lines.join('\n').includes('sekret') && !err!.message.includes('sekret'));
  assert.match(lines.join('\n'), /nobody@127\.0\.0\.1:1/);
  await c.close();
});
