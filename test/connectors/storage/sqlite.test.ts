// type: sqlite (better-sqlite3, WAL): a file under a temp config dir per test.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { createSqliteConnector, SqliteConnParamsCodec, type SqliteConnParams } from '../../../src/connectors/sqlite/index.js';
import type { StorageEnv } from '../../../src/core/storage.js';
import type { KisError } from '../../../src/kernel/errors.js';
import { connConfig, positions, testEnv } from './helpers.js';

function make(env: StorageEnv, params: Record<string, unknown>, key = ['window_start']) {
  const decoded = SqliteConnParamsCodec.decode({ path: 'data/figures.db', ...params });
  if (decoded._tag === 'Left') throw new Error('params refused');
  return createSqliteConnector(connConfig('revenue_5m', 'sqlite', [], key), decoded.right as SqliteConnParams, env);
}

test('create: true makes the table; upserts, deletes and positions land in one file a person can open (WAL)', async () => {
  const env = testEnv();
  const c = make(env, { table: 'revenue', create: true, deletes: true, columns: { window_start: 'window_start', revenue: 'revenue', orders: 'orders', closed: 'closed' } });
  await c.start();
  try {
    const meta = { flow: 'revenue_flow', fn: 'save' };
    await c.write!([
      { window_start: '2026-11-30T12:00', revenue: 10.5, orders: 2, closed: false },
      { window_start: '2026-11-30T12:05', revenue: 3, orders: 1, closed: false },
      { window_start: '2026-11-30T12:00', revenue: 12.5, orders: 3, closed: true },
    ], positions(3, 7, 1), meta);
    await c.write!([{ op: 'd', window_start: '2026-11-30T12:05' }], positions(1, 10, 1), meta);
    const file = path.join(env.configDir, 'data/figures.db');
    assert.ok(existsSync(file));
    const db = new Database(file, { readonly: true });
    try {
      assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
      assert.deepEqual(db.prepare('SELECT * FROM revenue').all(), [{ window_start: '2026-11-30T12:00', revenue: 12.5, orders: 3, closed: 1 }]);
      assert.deepEqual(db.prepare('SELECT app_id, flow, source, "partition", position FROM kisflow_positions').all(), [
        { app_id: 'kis_test_app', flow: 'revenue_flow', source: 'orders', partition: 1, position: '10' },
      ]);
    } finally { db.close(); }
    assert.deepEqual([...await c.storedPositions!('revenue_flow', 'orders')], [[1, '10']]);
    assert.deepEqual(Object.fromEntries(await c.lookupMany!(['2026-11-30T12:00', 'nope'])), {
      '2026-11-30T12:00': { window_start: '2026-11-30T12:00', revenue: 12.5, orders: 3, closed: 1 },
    });
  } finally { await c.close(); }
});

test('refused rows (NOT NULL, CHECK) come back with the SQLite code; the rest and the positions commit', async () => {
  const env = testEnv();
  const setup = make(env, { table: 'x' });
  await setup.close();
  const file = path.join(env.configDir, 'data/figures.db');
  const { mkdirSync } = await import('node:fs');
  mkdirSync(path.dirname(file), { recursive: true });
  const db = new Database(file);
  db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL, qty INTEGER CHECK (qty >= 0))');
  const c = make(env, { table: 't' }, ['id']);
  await c.start();
  try {
    const batch = Array.from({ length: 10 }, (_, i) => ({ id: i, name: `n${i}`, qty: i }));
    batch[4] = { ...batch[4]!, name: null as unknown as string };
    batch[6] = { ...batch[6]!, qty: -1 };
    const res = await c.write!(batch, positions(10), { flow: 'f', fn: 's' });
    assert.deepEqual(res.rejected.map((r) => [r.index, r.code]), [[4, 'SQLITE_CONSTRAINT_NOTNULL'], [6, 'SQLITE_CONSTRAINT_CHECK']]);
    assert.deepEqual(db.prepare('SELECT id FROM t ORDER BY id').all().map((r) => (r as { id: number }).id), [0, 1, 2, 3, 5, 7, 8, 9]);
    assert.deepEqual(db.prepare('SELECT position FROM kisflow_positions').all(), [{ position: '9' }]);
    // Lookup by text keys finds integer keys.
    assert.deepEqual([...(await c.lookupMany!(['3', '4'])).keys()], ['3']);
  } finally { await c.close(); db.close(); }
});

test('concurrent writes of two partitions take turns on the one connection', async () => {
  const env = testEnv();
  const c = make(env, { table: 'figures', create: true, columns: { k: 'k', v: 'v' } }, ['k']);
  await c.start();
  try {
    const meta = { flow: 'f', fn: 's' };
    await Promise.all([0, 1, 2, 3].map((p) => c.write!(Array.from({ length: 50 }, (_, i) => ({ k: `p${p}_${i}`, v: i })), positions(50, 0, p), meta)));
    assert.deepEqual([...await c.storedPositions!('f', 'orders')].sort(), [[0, '49'], [1, '49'], [2, '49'], [3, '49']]);
  } finally { await c.close(); }
});

test('schema errors: missing table (without create), create without columns, missing key column', async () => {
  const env = testEnv();
  const a = make(env, { table: 'nope' });
  await assert.rejects(a.start(), (e: KisError) => e.code === 'KIS_ERR_STORAGE_SCHEMA' && e.message === "connector 'revenue_5m': table nope: the table does not exist");
  await a.close();
  const b = make(env, { table: 'nope', create: true });
  await assert.rejects(b.start(), (e: KisError) => e.code === 'KIS_ERR_STORAGE_SCHEMA' && /create: true needs a columns mapping/.test(e.message));
  await b.close();
  const c = make(env, { table: 'kisflow_positions' }, ['window_start']);
  await assert.rejects(c.start(), (e: KisError) => /table kisflow_positions, column window_start: key column window_start does not exist/.test(e.message));
  await c.close();
  assert.equal(SqliteConnParamsCodec.decode({ path: 'x.db', table: 't', craete: true })._tag, 'Left');
});
