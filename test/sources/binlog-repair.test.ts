// Repair of the binlog source against a private MariaDB: an idle source checkpoints past a rotation; a purged
// file is resumed by the checkpoint's GTID; the lag reads 0 when caught up and grows while stuck; a lost
// position healed by a new snapshot (on_position_lost: resnapshot); re-snapshots of a running source
// (requestSnapshot and the signal table) under concurrent writes, stopped and resumed mid-way. Assertions are
// on state: the rows handed on (applied in order, they must equal the table), checkpoints, observer calls.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import type { BinlogSourceParamsT } from '../../src/config/codecs.js';
import { hasCode } from '../../src/kernel/errors.js';
import { BinlogSource } from '../../src/sources/binlog/binlog-source.js';
import { snapshotCommand } from '../../src/repair/snapshot.js';
import { FileCheckpointStore, type Checkpoint } from '../../src/sources/binlog/checkpoint.js';
import type { ChangeRow } from '../../src/sources/binlog/rows.js';
import type { Batch, SourceObserver } from '../../src/core/source.js';
import { startMariaDb, type MariaDb } from '../infra/mariadb/index.js';
import { waitUntil } from '../helpers.js';

const logger = pino({ level: process.env['LOG_LEVEL'] ?? 'silent' });

const waitFor = <T>(what: string, fn: () => Promise<T | undefined> | T | undefined, timeoutMs = 20_000): Promise<T> => waitUntil(what, fn, timeoutMs, 50);

class Observed implements SourceObserver {
  lags: number[] = [];
  repairs: Array<{ action: string; rows: number }> = [];
  lag(): void {}
  committed(): void {}
  rebalanced(): void {}
  binlogLag(_s: string, seconds: number): void {
    this.lags.push(seconds);
  }
  binlogRepair(_s: string, action: string, rows: number): void {
    this.repairs.push({ action, rows });
  }
  get lastLag(): number | undefined {
    return this.lags.at(-1);
  }
}

interface Running {
  readonly source: BinlogSource;
  readonly batches: Batch[];
  readonly observer: Observed;
  rows(): ChangeRow[];
  readonly done: Promise<void>;
  error(): unknown;
  stop(): Promise<void>;
  checkpoint(): Promise<Checkpoint | undefined>;
}

/** The rows applied in order to a copy keyed by table and primary key: what a downstream table would hold. */
function applied(rows: readonly ChangeRow[], table: string): Map<string, Record<string, unknown>> {
  const copy = new Map<string, Record<string, unknown>>();
  for (const r of rows) {
    if (r.table !== table) continue;
    const k = JSON.stringify(r.pk);
    if (r.op === 'd') copy.delete(k);
    else copy.set(k, r.after!);
  }
  return copy;
}

describe('binlog source repair on MariaDB', { timeout: 180_000 }, () => {
  let db: MariaDb;
  let dir: string;
  let nextServerId = 700;

  before(async () => {
    db = await startMariaDb();
    dir = await mkdtemp(path.join(tmpdir(), 'kisflow-binlog-repair-'));
    await db.query('CREATE DATABASE shop');
  });

  after(async () => {
    await db?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  function start(name: string, params: Partial<BinlogSourceParamsT>, o: { onBatch?: (b: Batch) => Promise<void> | void } = {}): Running {
    const file = path.join(dir, `${name}.json`);
    const observer = new Observed();
    const source = new BinlogSource({
      id: name,
      addr: `${db.host}:${db.port}`,
      params: { user: 'root', password: '', tables: ['shop.*'], server_id: nextServerId++, connect_retries: 5, ...params },
      appId: 'test',
      store: new FileCheckpointStore(file),
      logger,
      observer,
    });
    const batches: Batch[] = [];
    const abort = new AbortController();
    let failure: unknown;
    const done = source.run(async (b) => {
      batches.push(b);
      await o.onBatch?.(b);
    }, abort.signal).catch((err: unknown) => { failure = err; });
    return {
      source, batches, observer, done,
      rows: () => batches.flatMap((b) => b.rows as ChangeRow[]),
      error: () => failure,
      async stop() {
        abort.abort();
        await done;
      },
      checkpoint: () => new FileCheckpointStore(file).load(),
    };
  }

  async function started(r: Running): Promise<void> {
    await waitFor('the source to connect and checkpoint its start', async () => {
      if (r.error()) throw r.error();
      return r.source.waiting().length === 0 && (await r.checkpoint()) ? true : undefined;
    });
  }

  async function tableCopy(table: string): Promise<Map<string, Record<string, unknown>>> {
    const rows = await db.query<Array<Record<string, unknown>>>(`SELECT * FROM shop.${table} ORDER BY id`);
    return new Map(rows.map((r) => [JSON.stringify({ id: r['id'] }), { ...r }]));
  }

  test('an idle source checkpoints past a rotation: FLUSH + PURGE to the new file, then a restart resumes', async () => {
    await db.query('CREATE TABLE shop.rot (id INT PRIMARY KEY)');
    const first = start('rot', { tables: ['shop.rot'] });
    await started(first);
    await db.query('INSERT INTO shop.rot VALUES (1)');
    await waitFor('1 row', () => (first.rows().length >= 1 ? true : undefined));
    await db.purgeBinlogs();
    const now = await db.binlogPosition();
    const cp = await waitFor('the checkpoint in the new file', async () => {
      const c = await first.checkpoint();
      return c?.file === now.file ? c : undefined;
    });
    assert.equal(cp.pos, 4, 'the start of the new file');
    assert.equal(cp.gtid, await db.gtidBinlogPos(), 'the GTID position is kept across the rotation');
    await first.stop();
    const second = start('rot', { tables: ['shop.rot'] });
    await db.query('INSERT INTO shop.rot VALUES (2)');
    await waitFor('row 2 after the restart', () => {
      if (second.error()) throw second.error();
      return second.rows().length >= 1 ? true : undefined;
    });
    await second.stop();
    assert.equal(second.error(), undefined);
    assert.deepEqual(second.rows().map((r) => r.pk), [{ id: 2 }]);
  });

  test('the checkpointed file purged with nothing lost after it: resumed by the GTID it holds (counted), no error', async () => {
    await db.query('CREATE TABLE shop.gt (id INT PRIMARY KEY)');
    const first = start('gt', { tables: ['shop.gt'] });
    await started(first);
    await db.query('INSERT INTO shop.gt VALUES (1)');
    await waitFor('1 row', () => (first.rows().length >= 1 ? true : undefined));
    await first.stop();
    const cp = await first.checkpoint();
    // Rotated and purged while the source was down: the file is gone, no transaction of it after the checkpoint.
    await db.purgeBinlogs();
    const second = start('gt', { tables: ['shop.gt'] });
    await db.query('INSERT INTO shop.gt VALUES (2), (3)');
    await waitFor('rows 2 and 3', () => {
      if (second.error()) throw second.error();
      return second.rows().length >= 2 ? true : undefined;
    });
    const now = await db.binlogPosition();
    await waitFor('the checkpoint in the new file', async () => ((await second.checkpoint())?.file === now.file ? true : undefined));
    await second.stop();
    assert.notEqual(cp?.file, now.file);
    assert.deepEqual(second.rows().map((r) => r.pk), [{ id: 2 }, { id: 3 }]);
    assert.deepEqual(second.observer.repairs, [{ action: 'gtid_resume', rows: 0 }]);
  });

  test('lag: 0 when caught up on an idle source; grows while the hand-off is stuck; back to 0 after', async () => {
    await db.query('CREATE TABLE shop.lag (id INT PRIMARY KEY)');
    let release: (() => void) | undefined;
    let stuck = false;
    const r = start('lag', { tables: ['shop.lag'] }, {
      onBatch: () => (stuck ? new Promise<void>((res) => { release = res; }) : undefined),
    });
    await started(r);
    await db.query('INSERT INTO shop.lag VALUES (1)');
    await waitFor('1 row', () => (r.rows().length >= 1 ? true : undefined));
    await new Promise((res) => setTimeout(res, 2_500));
    assert.equal(r.observer.lastLag, 0, `caught up and idle: ${r.observer.lags.slice(-5).join(', ')}`);
    stuck = true;
    await db.query('INSERT INTO shop.lag VALUES (2)');
    await waitFor('the lag to grow past 2 s', () => ((r.observer.lastLag ?? 0) >= 2 ? true : undefined), 10_000);
    const grown = r.observer.lastLag!;
    await new Promise((res) => setTimeout(res, 1_500));
    assert.ok(r.observer.lastLag! > grown, `still growing: ${grown} -> ${r.observer.lastLag}`);
    stuck = false;
    release!();
    await waitFor('the lag back to 0', () => (r.observer.lastLag === 0 ? true : undefined), 10_000);
    await r.stop();
    assert.deepEqual(r.rows().map((x) => x.pk), [{ id: 1 }, { id: 2 }]);
  });

  test('a lost position: stop by default; with on_position_lost: resnapshot the source re-reads its tables and goes on, no hands', async () => {
    await db.query('CREATE TABLE shop.lost (id INT PRIMARY KEY, qty INT)');
    await db.query('INSERT INTO shop.lost VALUES (1, 1), (2, 2), (3, 3)');
    const first = start('lost', { tables: ['shop.lost'] });
    await started(first);
    await db.query('UPDATE shop.lost SET qty = 10 WHERE id = 1');
    await waitFor('1 row', () => (first.rows().length >= 1 ? true : undefined));
    await first.stop();
    // Changes while the source is down, then their file purged: they are lost to the binlog.
    await db.query('INSERT INTO shop.lost VALUES (4, 4)');
    await db.query('UPDATE shop.lost SET qty = 20 WHERE id = 2');
    await db.purgeBinlogs();

    const stopped = start('lost', { tables: ['shop.lost'] });
    await stopped.done;
    assert.ok(hasCode(stopped.error(), 'KIS_ERR_BINLOG_POSITION'), String(stopped.error()));
    assert.match((stopped.error() as Error).message, /GTID position .* failed too/);
    assert.match((stopped.error() as Error).message, /on_position_lost: resnapshot/);

    const healed = start('lost', { tables: ['shop.lost'], on_position_lost: 'resnapshot', snapshot_chunk_rows: 2 });
    await waitFor('the heal', () => {
      if (healed.error()) throw healed.error();
      return healed.observer.repairs.length > 0 ? true : undefined;
    });
    assert.deepEqual(healed.rows().map((x) => `${x.op}${x.pk?.['id']}`), ['r1', 'r2', 'r3', 'r4']);
    await db.query('INSERT INTO shop.lost VALUES (5, 5)');
    await db.query('DELETE FROM shop.lost WHERE id = 3');
    await waitFor('the changes after the heal', () => (healed.rows().length >= 6 ? true : undefined));
    await healed.stop();
    const copy = applied([...first.rows(), ...healed.rows()], 'lost');
    assert.deepEqual(copy, await tableCopy('lost'));
    assert.deepEqual(healed.observer.repairs, [{ action: 'resnapshot', rows: 4 }]);
    const cp = await healed.checkpoint();
    assert.equal(cp?.snapshot?.finished, true);
  });

  test('re-snapshot of a running source under concurrent writes (requestSnapshot, stopped mid-way and resumed; the signal table): the copy equals the table', async () => {
    await db.query('CREATE TABLE shop.inc (id INT PRIMARY KEY, v INT NOT NULL)');
    await db.query('CREATE TABLE shop.kisflow_signals (id VARCHAR(64) PRIMARY KEY, type VARCHAR(32) NOT NULL, data TEXT)');
    const values = Array.from({ length: 2_000 }, (_, i) => `(${i + 1}, 0)`).join(', ');
    await db.query(`INSERT INTO shop.inc VALUES ${values}`);
    const params = { tables: ['shop.inc'], snapshot_chunk_rows: 150, signal_table: 'shop.kisflow_signals' };
    let writing = true;
    let nextId = 2_001;
    const writer = (async () => {
      let n = 0;
      while (writing) {
        const id = 1 + Math.floor(Math.random() * (nextId - 1));
        const k = n++ % 5;
        if (k === 0) await db.query('DELETE FROM shop.inc WHERE id = ?', [id]);
        else if (k === 1) await db.query('INSERT INTO shop.inc VALUES (?, ?)', [nextId++, n]);
        else await db.query('UPDATE shop.inc SET v = v + 1 WHERE id = ?', [id]);
      }
    })();
    try {
      const first = start('inc', params);
      await started(first);
      // Bad requests are refused at once with a clear error.
      await assert.rejects(first.source.requestSnapshot({ tables: ['shop.kisflow_nope'] }), (e: unknown) => hasCode(e, 'KIS_ERR_REPAIR_REQUEST') && /matches no table the source follows/.test((e as Error).message));
      await assert.rejects(first.source.requestSnapshot({ tables: ['shop.inc'], where: 'nosuchcolumn > 1' }), (e: unknown) => hasCode(e, 'KIS_ERR_REPAIR_REQUEST'));
      const req = await first.source.requestSnapshot({ tables: ['shop.inc'] });
      assert.deepEqual(req.tables, ['shop.inc']);
      assert.deepEqual((await first.checkpoint())?.incremental?.map((p) => p.id), [req.id], 'the request is checkpointed');
      await waitFor('a few chunks', () => (first.rows().filter((r) => r.op === 'r').length >= 450 ? true : undefined));
      await first.stop();
      const mid = await first.checkpoint();
      assert.ok(mid?.incremental?.[0]?.after, `progress checkpointed: ${JSON.stringify(mid?.incremental)}`);

      const second = start('inc', params);
      await waitFor('the re-snapshot to finish after the restart', () => {
        if (second.error()) throw second.error();
        return second.observer.repairs.some((x) => x.action === 'incremental_snapshot') ? true : undefined;
      }, 60_000);
      // The restart went on after the last checkpointed key, not from the start of the table.
      const firstResumed = second.rows().find((r) => r.op === 'r');
      assert.ok(Number(firstResumed?.pk?.['id']) > Number(mid!.incremental![0]!.after!['id']), `resumed after ${JSON.stringify(mid!.incremental![0]!.after)}: ${JSON.stringify(firstResumed?.pk)}`);
      writing = false;
      await writer;
      const end = await db.binlogPosition();
      await waitFor('the stream to reach the end', async () => ((await second.checkpoint())?.pos === end.position ? true : undefined));
      // The signal table, as another process would: a snapshot of the rows with id <= 50.
      const before = second.rows().length;
      // `kisflow snapshot` inserts the signal from another process's config (here: this one's).
      const cfg = path.join(dir, 'signal-config');
      await mkdir(cfg, { recursive: true });
      await writeFile(path.join(cfg, 'source.yml'), `kistype: source
sid: inc
type: binlog
addrs: ${db.host}:${db.port}
params: { user: root, password: "", tables: [shop.inc], signal_table: shop.kisflow_signals }
flows: [Copy]
---
kistype: flow
flow_name: Copy
flows: [{ fid: Same }]
---
kistype: func
fid: Same
fname: kis.map
fmode: Calculate
option: { default_params: { set: { copied: "1" } } }
`);
      await assert.rejects(snapshotCommand(['--source', 'inc', '--tables', 'shop.other', '--config', cfg], { stdout: { write: () => true } }), (e: unknown) => hasCode(e, 'KIS_ERR_REPAIR_REQUEST') && /does not follow 'shop.other'/.test((e as Error).message));
      assert.equal(await snapshotCommand(['--source', 'inc', '--tables', 'shop.inc', '--where', 'id <= 50', '--id', 'sig-1', '--config', cfg], { stdout: { write: () => true } }), 0);
      await waitFor('the signalled snapshot', () => (second.observer.repairs.filter((x) => x.action === 'incremental_snapshot').length >= 2 ? true : undefined));
      await second.stop();
      const signalled = second.rows().slice(before);
      assert.ok(signalled.every((r) => r.table === 'inc' && r.op === 'r' && Number(r.pk?.['id']) <= 50), 'only the rows of the condition; the signal row itself is not handed on');
      assert.equal(signalled.length, (await db.query<unknown[]>('SELECT id FROM shop.inc WHERE id <= 50')).length);
      const copy = applied([...first.rows(), ...second.rows()], 'inc');
      const table = await tableCopy('inc');
      assert.equal(copy.size, table.size);
      assert.deepEqual(copy, table);
      assert.equal((await second.checkpoint())?.incremental, undefined, 'nothing left to read');
    } finally {
      writing = false;
      await writer;
    }
  });
});
