// The binlog source against a private MariaDB (ROW binlog, FULL row metadata), with real zongji: row shape
// and values, transactions, the file checkpoint and resuming from it, snapshot with concurrent writes and
// its resume after a crash, a server restart, ALTER TABLE, a purged position, bad credentials and grants.
// Every assertion is on state: the batches handed on, the checkpoint file, the metric values.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { Registry } from 'prom-client';
import type { BinlogSourceParamsT } from '../../src/config/codecs.js';
import { hasCode, isKisError } from '../../src/kernel/errors.js';
import type { Row } from '../../src/kernel/types.js';
import { prepareApp } from '../../src/runtime/app.js';
import { KisService } from '../../src/runtime/service.js';
import { PromFlowObserver } from '../../src/observability/metrics.js';
import { BinlogSource } from '../../src/sources/binlog/binlog-source.js';
import { FileCheckpointStore, type Checkpoint } from '../../src/sources/binlog/checkpoint.js';
import type { ChangeRow } from '../../src/sources/binlog/rows.js';
import type { Batch } from '../../src/core/source.js';
import { startMariaDb, type MariaDb } from '../infra/mariadb/index.js';
import { waitUntil } from '../helpers.js';

const logger = pino({ level: process.env['LOG_LEVEL'] ?? 'silent' });

const waitFor = <T>(what: string, fn: () => Promise<T | undefined> | T | undefined, timeoutMs = 20_000): Promise<T> => waitUntil(what, fn, timeoutMs, 50);

interface Running {
  readonly source: BinlogSource;
  readonly batches: Batch[];
  readonly rows: () => ChangeRow[];
  readonly done: Promise<void>;
  /** The error the run failed with, once it has. */
  error(): unknown;
  stop(): Promise<void>;
  checkpoint(): Promise<Checkpoint | undefined>;
}

describe('binlog source on MariaDB', { timeout: 240_000 }, () => {
  let db: MariaDb;
  let dir: string;
  let nextServerId = 500;

  before(async () => {
    db = await startMariaDb();
    dir = await mkdtemp(path.join(tmpdir(), 'kisflow-binlog-'));
    await db.query('CREATE DATABASE shop');
  });

  after(async () => {
    await db?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  function start(name: string, params: Partial<BinlogSourceParamsT>, o: { user?: string; password?: string; observer?: PromFlowObserver; onBatch?: (b: Batch) => Promise<void> | void } = {}): Running {
    const file = path.join(dir, `${name}.json`);
    const store = new FileCheckpointStore(file);
    const source = new BinlogSource({
      id: name,
      addr: `${db.host}:${db.port}`,
      params: { user: o.user ?? 'root', password: o.password ?? '', tables: ['shop.*'], server_id: nextServerId++, connect_retries: 20, ...params },
      appId: 'test',
      store,
      logger,
      ...(o.observer ? { observer: o.observer } : {}),
    });
    const batches: Batch[] = [];
    const abort = new AbortController();
    let failure: unknown;
    const done = source.run(async (b) => {
      batches.push(b);
      await o.onBatch?.(b);
    }, abort.signal).catch((err: unknown) => { failure = err; });
    return {
      source,
      batches,
      rows: () => batches.flatMap((b) => b.rows as ChangeRow[]),
      done,
      error: () => failure,
      async stop() {
        abort.abort();
        await done;
      },
      checkpoint: () => new FileCheckpointStore(file).load(),
    };
  }

  /** Started and pinned at the end of the binlog: the checkpoint file exists. */
  async function started(r: Running): Promise<void> {
    await waitFor('the source to connect and checkpoint its start', async () => {
      if (r.error()) throw r.error();
      return r.source.waiting().length === 0 && (await r.checkpoint()) ? true : undefined;
    });
  }

  test('insert, update, delete over every column type: exact values, the right op, key, position and commit time; the lag metric', async () => {
    await db.query(`CREATE TABLE shop.types (
      id INT NOT NULL PRIMARY KEY, big BIGINT UNSIGNED NOT NULL, amount DECIMAL(12,4), ts DATETIME(6), day DATE,
      doc JSON, txt TEXT CHARACTER SET utf8mb4, bin BLOB, note VARCHAR(40) NULL)`);
    const registry = new Registry();
    const observer = new PromFlowObserver(registry);
    const r = start('types', {}, { observer });
    await started(r);
    const t0 = Math.floor(Date.now() / 1000) * 1000;
    await db.query(`INSERT INTO shop.types VALUES
      (1, 18446744073709551615, -12345678.1234, '2024-02-29 23:59:58.123456', '2024-02-29',
       '{"a":1,"b":[true,null,"x"],"n":12345678901234567890}', 'héllo 😀 中文 订单', x'00ff10', NULL),
      (2, 9007199254740991, 0.5, '1970-01-01 00:00:00', '1000-01-01', '[1,2]', '', x'', 'n'),
      (3, 9007199254740992, NULL, NULL, NULL, NULL, NULL, NULL, NULL)`);
    await db.query(`UPDATE shop.types SET amount = amount + 1, note = '更新 ✓' WHERE id = 1`);
    await db.query('DELETE FROM shop.types WHERE id = 2');
    await waitFor('5 changes', () => (r.rows().length >= 5 ? true : undefined));
    const end = await db.binlogPosition();
    await waitFor('the checkpoint at the end of the binlog', async () => ((await r.checkpoint())?.pos === end.position ? true : undefined));
    await r.stop();

    const row1 = {
      id: 1, big: '18446744073709551615', amount: '-12345678.1234', ts: '2024-02-29 23:59:58.123456', day: '2024-02-29',
      doc: '{"a":1,"b":[true,null,"x"],"n":12345678901234567890}', txt: 'héllo 😀 中文 订单', bin: Buffer.from([0x00, 0xff, 0x10]).toString('base64'), note: null,
    };
    const row2 = { id: 2, big: 9007199254740991, amount: '0.5000', ts: '1970-01-01 00:00:00.000000', day: '1000-01-01', doc: '[1,2]', txt: '', bin: '', note: 'n' };
    const row3 = { id: 3, big: '9007199254740992', amount: null, ts: null, day: null, doc: null, txt: null, bin: null, note: null };
    const rows = r.rows();
    assert.deepEqual(rows.map((x) => ({ op: x.op, schema: x.schema, table: x.table, pk: x.pk, before: x.before, after: x.after })), [
      { op: 'c', schema: 'shop', table: 'types', pk: { id: 1 }, before: null, after: row1 },
      { op: 'c', schema: 'shop', table: 'types', pk: { id: 2 }, before: null, after: row2 },
      { op: 'c', schema: 'shop', table: 'types', pk: { id: 3 }, before: null, after: row3 },
      { op: 'u', schema: 'shop', table: 'types', pk: { id: 1 }, before: row1, after: { ...row1, amount: '-12345677.1234', note: '更新 ✓' } },
      { op: 'd', schema: 'shop', table: 'types', pk: { id: 2 }, before: row2, after: null },
    ]);
    // Position: the end of each row's transaction, in the current file; GTIDs advance; commit time in ms.
    const positions = rows.map((x) => x.position);
    assert.ok(positions.every((p) => p.file === end.file && p.pos > 0 && /^0-1-\d+$/.test(p.gtid)), JSON.stringify(positions));
    assert.equal(positions[4]!.pos, end.position);
    assert.equal(positions[4]!.gtid, await db.gtidBinlogPos());
    assert.ok(rows.every((x) => x.ts_ms >= t0 && x.ts_ms <= Date.now()), JSON.stringify(rows.map((x) => x.ts_ms)));
    // Batch positions are the row's file:pos; one partition by default.
    assert.deepEqual(r.batches.map((b) => b.partition), r.batches.map(() => 0));
    assert.equal(r.batches.at(-1)!.positions.at(-1)!.offset, `${end.file}:${end.position}`);
    // The checkpoint names the end of the last transaction and its GTID.
    const cp = await r.checkpoint();
    assert.deepEqual({ file: cp?.file, pos: cp?.pos, gtid: cp?.gtid, source: cp?.source }, { file: end.file, pos: end.position, gtid: await db.gtidBinlogPos(), source: 'types' });
    const lag = (await registry.getSingleMetric('kisflow_binlog_lag_seconds')!.get()).values.find((v) => v.labels['source'] === 'types');
    assert.ok(lag && lag.value >= 0 && lag.value < 30, `lag ${JSON.stringify(lag)}`);
    const commits = (await registry.getSingleMetric('kisflow_commit_duration_ms')!.get()).values.find((v) => (v as { metricName?: string }).metricName === 'kisflow_commit_duration_ms_count' && v.labels['source'] === 'types');
    assert.ok(commits && commits.value >= 2, `checkpoint writes counted: ${JSON.stringify(commits)}`);
  });

  test('a multi-statement transaction arrives whole in one batch; a rollback produces nothing; other tables and excluded ones are left out', async () => {
    await db.query('CREATE TABLE shop.orders (id INT PRIMARY KEY, userid VARCHAR(20), qty INT)');
    await db.query('CREATE TABLE shop.audit (id INT PRIMARY KEY, what VARCHAR(20))');
    await db.query('CREATE DATABASE other');
    await db.query('CREATE TABLE other.t (id INT PRIMARY KEY)');
    const r = start('txn', { tables: ['shop.*', 'other.*'], exclude: ['shop.audit'] });
    await started(r);
    const conn = await db.connect();
    try {
      await conn.query('START TRANSACTION');
      for (let i = 1; i <= 3; i++) await conn.query('INSERT INTO shop.orders VALUES (?, ?, ?)', [i, `u${i}`, i]);
      await conn.query(`INSERT INTO shop.audit VALUES (1, 'excluded')`);
      await conn.query('UPDATE shop.orders SET qty = qty * 10 WHERE id <= 2');
      await conn.query('INSERT INTO other.t VALUES (7)');
      await conn.query('COMMIT');
      await conn.query('START TRANSACTION');
      await conn.query(`INSERT INTO shop.orders VALUES (99, 'gone', 1)`);
      await conn.query('ROLLBACK');
      await conn.query(`INSERT INTO shop.orders VALUES (4, 'u4', 4)`);
      await conn.query('START TRANSACTION');
      await conn.query(`INSERT INTO shop.orders VALUES (5, 'u5', 5)`);
      await conn.query('SAVEPOINT sp');
      await conn.query(`INSERT INTO shop.orders VALUES (98, 'gone', 1)`);
      await conn.query('ROLLBACK TO SAVEPOINT sp');
      await conn.query(`INSERT INTO shop.orders VALUES (6, 'u6', 6)`);
      await conn.query('COMMIT');
    } finally {
      await conn.end();
    }
    await waitFor('the last insert', () => (r.rows().some((x) => x.pk?.['id'] === 6) ? true : undefined));
    await r.stop();
    const summary = r.batches.map((b) => (b.rows as ChangeRow[]).map((x) => `${x.op} ${x.schema}.${x.table} ${JSON.stringify(x.pk)}`));
    const txn = ['c shop.orders {"id":1}', 'c shop.orders {"id":2}', 'c shop.orders {"id":3}', 'u shop.orders {"id":1}', 'u shop.orders {"id":2}', 'c other.t {"id":7}'];
    // The transaction is never split: it is in one batch, alone or with the next transaction.
    const withTxn = summary.find((b) => b.includes(txn[0]!));
    assert.ok(withTxn, JSON.stringify(summary));
    assert.deepEqual(withTxn.slice(0, txn.length), txn);
    assert.deepEqual(summary.flat(), [...txn, 'c shop.orders {"id":4}', 'c shop.orders {"id":5}', 'c shop.orders {"id":6}'], 'no rolled-back row, no excluded table');
    assert.ok(summary.some((b) => b.includes('c shop.orders {"id":5}') && b.includes('c shop.orders {"id":6}')), 'a transaction with a savepoint stays whole');
    const txRows = r.rows().slice(0, txn.length);
    assert.equal(new Set(txRows.map((x) => `${x.position.file}:${x.position.pos}:${x.position.gtid}`)).size, 1, 'every row of a transaction has its end position');
  });

  test('stop and restart: resumes from the checkpoint, without loss or repeat, including changes made while it was stopped', async () => {
    await db.query('CREATE TABLE shop.resume (id INT PRIMARY KEY, v INT)');
    const first = start('resume', { tables: ['shop.resume'] });
    await started(first);
    for (let i = 0; i < 50; i++) await db.query('INSERT INTO shop.resume VALUES (?, ?)', [i, i]);
    await waitFor('50 rows', () => (first.rows().length >= 50 ? true : undefined));
    await first.stop();
    const cp = await first.checkpoint();
    assert.deepEqual({ file: cp?.file, pos: cp?.pos }, { file: (await db.binlogPosition()).file, pos: (await db.binlogPosition()).position });
    // Written while stopped, with a flush (new binlog file) in between.
    for (let i = 50; i < 80; i++) await db.query('INSERT INTO shop.resume VALUES (?, ?)', [i, i]);
    await db.query('FLUSH BINARY LOGS');
    for (let i = 80; i < 100; i++) await db.query('INSERT INTO shop.resume VALUES (?, ?)', [i, i]);
    const second = start('resume', { tables: ['shop.resume'] });
    await waitFor('the other 50 rows', () => (second.rows().length >= 50 ? true : undefined));
    await new Promise((r) => setTimeout(r, 300));
    await second.stop();
    assert.deepEqual(first.rows().map((x) => x.pk?.['id']), Array.from({ length: 50 }, (_, i) => i));
    assert.deepEqual(second.rows().map((x) => x.pk?.['id']), Array.from({ length: 50 }, (_, i) => 50 + i), 'exactly the rows after the checkpoint');
    const cp2 = await second.checkpoint();
    assert.equal(cp2?.file, (await db.binlogPosition()).file, 'the checkpoint follows the rotation');
    assert.equal(cp2?.gtid, await db.gtidBinlogPos(), 'the GTID position is carried on from the checkpoint after a resume by file:pos');
    assert.equal(second.rows().at(-1)?.position.gtid, await db.gtidBinlogPos());
  });

  test('snapshot: initial with concurrent writes, crashed mid-way and resumed: applied in order, the output equals the table', async () => {
    await db.query('CREATE TABLE shop.snap (id INT PRIMARY KEY, name VARCHAR(40), amount DECIMAL(10,2), at DATETIME(6))');
    const N = 3000;
    for (let i = 0; i < N; i += 500) {
      const values = Array.from({ length: 500 }, (_, k) => `(${i + k}, 'n${i + k}', ${(i + k) / 100}, '2024-01-01 00:00:00.${String(i + k).padStart(6, '0')}')`);
      await db.query(`INSERT INTO shop.snap VALUES ${values.join(',')}`);
    }
    let writing = true;
    let writes = 0;
    const writer = (async () => {
      let k = 0;
      while (writing) {
        const id = (k * 7919) % (N + 500);
        if (k % 3 === 0) await db.query(`INSERT INTO shop.snap VALUES (?, 'new', 1.5, '2025-01-01 00:00:00.5') ON DUPLICATE KEY UPDATE name = CONCAT(name, '+')`, [id]);
        else if (k % 3 === 1) await db.query(`UPDATE shop.snap SET amount = amount + 1, name = 'upd' WHERE id = ?`, [id]);
        else await db.query('DELETE FROM shop.snap WHERE id = ?', [id]);
        k++;
        writes++;
      }
    })();
    // First run: aborted (a crash, as far as the checkpoint knows) after a few chunks.
    const abort = new AbortController();
    let chunks = 0;
    const firstRows: ChangeRow[] = [];
    const store = new FileCheckpointStore(path.join(dir, 'snap.json'));
    const mk = (): BinlogSource => new BinlogSource({
      id: 'snap', addr: `${db.host}:${db.port}`, appId: 'test', store, logger,
      params: { user: 'root', password: '', tables: ['shop.snap'], snapshot: 'initial', snapshot_chunk_rows: 200, server_id: nextServerId++ },
    });
    await mk().run(async (b) => {
      firstRows.push(...(b.rows as ChangeRow[]));
      if (++chunks === 4) abort.abort();
    }, abort.signal);
    const mid = await store.load();
    assert.equal(mid?.snapshot?.finished, false);
    assert.equal(mid?.snapshot?.table, 'shop.snap');
    assert.equal(mid?.snapshot?.rows, 800, 'four chunks of 200 checkpointed');
    assert.deepEqual(mid?.snapshot?.after, { id: firstRows[799]?.pk?.['id'] });
    assert.ok(firstRows.every((x) => x.op === 'r'));

    const second = start('snap', { tables: ['shop.snap'], snapshot: 'initial', snapshot_chunk_rows: 200 });
    await waitFor('the snapshot to finish', async () => {
      if (second.error()) throw second.error();
      return (await second.checkpoint())?.snapshot?.finished ? true : undefined;
    }, 60_000);
    // enough writes land while the sources run, however fast the machine reads the snapshot
    await waitFor('50 concurrent writes', async () => (writes > 50 ? true : undefined), 60_000);
    writing = false;
    await writer;
    const end = await db.binlogPosition();
    await waitFor('the binlog to be read to its end', async () => {
      if (second.error()) throw second.error();
      const cp = await second.checkpoint();
      return cp?.file === end.file && cp.pos === end.position ? true : undefined;
    }, 60_000);
    await second.stop();

    const state = new Map<number, Record<string, unknown>>();
    for (const x of [...firstRows, ...second.rows()]) {
      const id = Number(x.pk?.['id']);
      if (x.op === 'd') state.delete(id);
      else state.set(id, x.after!);
    }
    const table = await db.query<Array<Record<string, unknown>>>("SELECT id, name, CAST(amount AS CHAR) AS amount, DATE_FORMAT(at, '%Y-%m-%d %H:%i:%s.%f') AS at FROM shop.snap ORDER BY id");
    assert.ok(writes > 50, `${writes} concurrent writes`);
    const second0 = second.rows();
    assert.ok(second0.some((x) => x.op === 'r') && second0.some((x) => x.op !== 'r'), 'the resumed run read snapshot rows and then binlog changes');
    const resumedIds = second0.filter((x) => x.op === 'r').map((x) => Number(x.pk?.['id']));
    assert.ok(resumedIds[0]! > Number(mid?.snapshot?.after?.['id']), `the resumed snapshot starts after the last checkpointed key (${resumedIds[0]} > ${String(mid?.snapshot?.after?.['id'])})`);
    assert.deepEqual(resumedIds, [...resumedIds].sort((a, b) => a - b), 'in key order');
    assert.deepEqual(
      [...state.entries()].sort((a, b) => a[0] - b[0]).map(([, v]) => v),
      table.map((t) => ({ id: t['id'], name: t['name'], amount: t['amount'], at: t['at'] })),
      'the output applied in order equals the table',
    );
  });

  test('snapshot of a table with a binary primary key resumes after the last key of a crashed run', async () => {
    await db.query('CREATE TABLE shop.binkey (k VARBINARY(8) PRIMARY KEY, v INT)');
    await db.query("INSERT INTO shop.binkey VALUES (x'00', 0), (x'01ff', 1), (x'02', 2), (x'ff00', 3), (x'ff01', 4)");
    const store = new FileCheckpointStore(path.join(dir, 'binkey.json'));
    const abort = new AbortController();
    const firstRows: ChangeRow[] = [];
    await new BinlogSource({
      id: 'binkey', addr: `${db.host}:${db.port}`, appId: 'test', store, logger,
      params: { user: 'root', password: '', tables: ['shop.binkey'], snapshot: 'initial', snapshot_chunk_rows: 2, server_id: nextServerId++ },
    }).run(async (b) => {
      firstRows.push(...(b.rows as ChangeRow[]));
      abort.abort();
    }, abort.signal);
    assert.deepEqual((await store.load())?.snapshot?.after, { k: { $base64: Buffer.from([0x01, 0xff]).toString('base64') } });
    const second = start('binkey', { tables: ['shop.binkey'], snapshot: 'initial', snapshot_chunk_rows: 2 });
    await waitFor('the snapshot to finish', async () => {
      if (second.error()) throw second.error();
      return (await second.checkpoint())?.snapshot?.finished ? true : undefined;
    });
    await second.stop();
    assert.deepEqual([...firstRows, ...second.rows()].map((x) => x.after?.['v']), [0, 1, 2, 3, 4]);
    assert.deepEqual(second.rows().map((x) => x.pk), [{ k: 'Ag==' }, { k: '/wA=' }, { k: '/wE=' }], 'keys as base64, like BLOBs');
  });

  test('partitions: 3 spreads rows by primary key; every change of a key is in one partition, in commit order', async () => {
    await db.query('CREATE TABLE shop.parts (id INT PRIMARY KEY, n INT)');
    const r = start('parts', { tables: ['shop.parts'], partitions: 3 });
    await started(r);
    const conn = await db.connect();
    try {
      for (let round = 0; round < 5; round++) {
        await conn.query('START TRANSACTION');
        for (let id = 0; id < 12; id++) await conn.query(round === 0 ? 'INSERT INTO shop.parts VALUES (?, 0)' : 'UPDATE shop.parts SET n = n + 1 WHERE id = ?', [id]);
        await conn.query('COMMIT');
      }
    } finally {
      await conn.end();
    }
    await waitFor('60 changes', () => (r.rows().length >= 60 ? true : undefined));
    await r.stop();
    const byKey = new Map<number, { partitions: Set<number>; ns: number[] }>();
    for (const b of r.batches) {
      for (const x of b.rows as ChangeRow[]) {
        const k = Number(x.pk?.['id']);
        const e = byKey.get(k) ?? { partitions: new Set<number>(), ns: [] };
        e.partitions.add(b.partition);
        e.ns.push(Number(x.after?.['n']));
        byKey.set(k, e);
      }
    }
    assert.equal(byKey.size, 12);
    for (const [k, e] of byKey) {
      assert.equal(e.partitions.size, 1, `key ${k} in partitions ${[...e.partitions].join(',')}`);
      assert.deepEqual(e.ns, [0, 1, 2, 3, 4], `key ${k} in order`);
    }
    assert.equal(new Set(r.batches.map((b) => b.partition)).size, 3, 'all three partitions used');
  });

  test('ALTER TABLE mid-stream: rows after it decode with the new columns', async () => {
    await db.query('CREATE TABLE shop.evolve (id INT PRIMARY KEY, d DATE)');
    const r = start('evolve', { tables: ['shop.evolve'] });
    await started(r);
    await db.query(`INSERT INTO shop.evolve VALUES (1, '2000-01-01')`);
    await db.query(`ALTER TABLE shop.evolve ADD COLUMN extra VARCHAR(10) NOT NULL DEFAULT 'x' AFTER id`);
    await db.query(`INSERT INTO shop.evolve VALUES (2, 'y', '2000-01-02')`);
    await db.query('ALTER TABLE shop.evolve DROP COLUMN d');
    await db.query(`UPDATE shop.evolve SET extra = 'z' WHERE id = 1`);
    await waitFor('3 changes', () => (r.rows().length >= 3 ? true : undefined));
    await r.stop();
    assert.deepEqual(r.rows().map((x) => ({ op: x.op, before: x.before, after: x.after })), [
      { op: 'c', before: null, after: { id: 1, d: '2000-01-01' } },
      { op: 'c', before: null, after: { id: 2, extra: 'y', d: '2000-01-02' } },
      { op: 'u', before: { id: 1, extra: 'x' }, after: { id: 1, extra: 'z' } },
    ]);
  });

  test('MariaDB restart and crash mid-stream: the source reconnects with backoff and resumes, nothing lost', async () => {
    await db.query('CREATE TABLE shop.restart (id INT PRIMARY KEY)');
    const r = start('restart', { tables: ['shop.restart'] });
    await started(r);
    for (let i = 0; i < 10; i++) await db.query('INSERT INTO shop.restart VALUES (?)', [i]);
    await waitFor('10 rows', () => (r.rows().length >= 10 ? true : undefined));
    await db.restart();
    for (let i = 10; i < 20; i++) await db.query('INSERT INTO shop.restart VALUES (?)', [i]);
    await waitFor('20 rows after the restart', () => {
      if (r.error()) throw r.error();
      return r.rows().length >= 20 ? true : undefined;
    }, 60_000);
    await db.kill();
    await new Promise((res) => setTimeout(res, 1_500)); // down for a while: attempts fail and back off
    await db.restart();
    for (let i = 20; i < 30; i++) await db.query('INSERT INTO shop.restart VALUES (?)', [i]);
    await waitFor('30 rows after the crash', () => {
      if (r.error()) throw r.error();
      return r.rows().length >= 30 ? true : undefined;
    }, 60_000);
    await r.stop();
    assert.equal(r.error(), undefined);
    assert.deepEqual(r.rows().map((x) => x.pk?.['id']), Array.from({ length: 30 }, (_, i) => i));
  });

  test('a purged checkpoint position: a clear error naming the position and the remedy, never a silent skip', async () => {
    await db.query('CREATE TABLE shop.purged (id INT PRIMARY KEY)');
    const first = start('purged', { tables: ['shop.purged'] });
    await started(first);
    await db.query('INSERT INTO shop.purged VALUES (1)');
    await waitFor('1 row', () => (first.rows().length >= 1 ? true : undefined));
    await first.stop();
    const cp = await first.checkpoint();
    await db.query('INSERT INTO shop.purged VALUES (2)');
    await db.purgeBinlogs();
    const second = start('purged', { tables: ['shop.purged'] });
    await second.done;
    const err = second.error();
    assert.ok(hasCode(err, 'KIS_ERR_BINLOG_POSITION'), String(err));
    const msg = (err as Error).message;
    assert.ok(msg.includes(`${cp!.file}:${cp!.pos}`), msg);
    assert.match(msg, /purged/);
    assert.match(msg, /snapshot: initial/);
    assert.ok(msg.includes(path.join(dir, 'purged.json')), msg);
    assert.deepEqual(second.rows(), [], 'nothing was skipped to');
    assert.deepEqual(await second.checkpoint(), cp, 'the checkpoint is left as it was');
  });

  test('in the service, embedded mode: rows through a flow, the checkpoint in .kisflow/ under the config directory (any UTF-8 sid)', async () => {
    await db.query('CREATE TABLE shop.svc (id INT PRIMARY KEY, qty INT)');
    const cfg = await mkdtemp(path.join(tmpdir(), 'kisflow-binlog-svc-'));
    try {
      await writeFile(path.join(cfg, 'flows.yml'), `kistype: source
sid: 订单库
type: binlog
addrs: ${db.host}:${db.port}
params: { user: root, password: "", tables: [shop.svc], server_id: ${nextServerId++} }
flows: [Orders]
---
kistype: flow
flow_name: Orders
flows: [{ fid: Double }]
---
kistype: func
fid: Double
fname: kis.map
fmode: Calculate
option: { default_params: { expr: "{ 'id': pk.id, 'op': op, 'qty2': after.qty * 2 }" } }
`);
      const app = await prepareApp(cfg);
      const out: Row[] = [];
      const svc = KisService.create(app.config, { pool: app.pool, logger, onRun: (_flow, r) => out.push(...r.output) });
      const running = svc.run();
      const cpFile = path.join(cfg, '.kisflow', `${encodeURIComponent('订单库').replace(/%/g, '_')}.binlog.json`);
      await waitFor('the service to pin its start', async () => ((await new FileCheckpointStore(cpFile).load()) ? true : undefined));
      await db.query('INSERT INTO shop.svc VALUES (1, 2), (2, 5)');
      await waitFor('2 rows out of the flow', () => (out.length >= 2 ? true : undefined));
      const end = await db.binlogPosition();
      await waitFor('the checkpoint at the end', async () => ((await new FileCheckpointStore(cpFile).load())?.pos === end.position ? true : undefined));
      svc.stop();
      await running;
      assert.deepEqual(out, [{ id: 1, op: 'c', qty2: 4 }, { id: 2, op: 'c', qty2: 10 }]);
      assert.equal(svc.summary().rowsIn['订单库'], 2);
    } finally {
      await rm(cfg, { recursive: true, force: true });
    }
  });

  test('bad credentials and missing grants: a clear error listing the grants needed', async () => {
    const bad = start('badpw', {}, { user: 'root', password: 'wrong' });
    await bad.done;
    assert.ok(hasCode(bad.error(), 'KIS_ERR_BINLOG_ACCESS'), String(bad.error()));
    assert.match((bad.error() as Error).message, /refused the login of 'root'.*REPLICATION SLAVE, REPLICATION CLIENT/);
    assert.equal(isKisError(bad.error()) && bad.error() && (bad.error() as { retriable: boolean }).retriable, false);

    await db.createUser('noslave', 'pw', ['REPLICATION CLIENT']);
    const noSlave = start('noslave', {}, { user: 'noslave', password: 'pw' });
    await noSlave.done;
    assert.ok(hasCode(noSlave.error(), 'KIS_ERR_BINLOG_ACCESS'), String(noSlave.error()));
    assert.match((noSlave.error() as Error).message, /lacks a privilege.*REPLICATION SLAVE.*GRANT REPLICATION SLAVE, REPLICATION CLIENT, SELECT ON \*\.\* TO 'noslave'/);

    await db.createUser('noselect', 'pw', ['REPLICATION SLAVE, REPLICATION CLIENT']);
    const noSelect = start('noselect', { snapshot: 'initial' }, { user: 'noselect', password: 'pw' });
    await noSelect.done;
    // Without SELECT, information_schema shows no table: an empty snapshot would be silent, so it is an error.
    assert.ok(hasCode(noSelect.error(), 'KIS_ERR_BINLOG_ACCESS'), String(noSelect.error()));
    assert.match((noSelect.error() as Error).message, /lacks SELECT on them.*REPLICATION SLAVE, REPLICATION CLIENT/);
    const text = await readFile(path.join(dir, 'badpw.json'), 'utf8').catch(() => 'absent');
    assert.equal(text, 'absent', 'no checkpoint is written by a source that never connected');
  });
});
