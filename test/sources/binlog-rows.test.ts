// The pure parts of the binlog source: table patterns, JSON values, partitions by key, start points,
// error classification, and the events zongji cannot decode (they cannot be produced by MariaDB, so the
// assembler is fed the event objects zongji would emit for them).
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { MariadbGtidPosition, type AnyBinlogEvent } from '@vlasky/zongji';
import { hasCode } from '../../src/kernel/errors.js';
import { parseStart, serverIdOf } from '../../src/sources/binlog/binlog-source.js';
import { FileCheckpointStore } from '../../src/sources/binlog/checkpoint.js';
import { classifyBinlogError, type ErrorContext } from '../../src/sources/binlog/reader.js';
import { GtidTracker, jsonValue, partitionOf, TableFilter, TransactionAssembler, type Transaction } from '../../src/sources/binlog/rows.js';

const ctx: ErrorContext = { source: 'db', addr: 'db:3306', user: 'kis', from: { kind: 'pos', file: 'binlog.000007', pos: 1234 }, checkpoint: 'topic app.binlog-checkpoints (key db)' };

test('table patterns: schema.table with * wildcards, exclusions win, zongji includeSchema only when schemas are exact', () => {
  const f = new TableFilter(['shop.*', 'crm.users', 'log_*.events'], ['shop.tmp_*']);
  assert.deepEqual(
    [['shop', 'orders'], ['shop', 'tmp_x'], ['crm', 'users'], ['crm', 'leads'], ['log_2024', 'events'], ['shopx', 'orders']].map(([s, t]) => f.matches(s!, t!)),
    [true, false, true, false, true, false],
  );
  assert.equal(f.zongjiIncludeSchema(), undefined, 'a wildcard schema: every schema is decoded and filtered here');
  assert.deepEqual(new TableFilter(['shop.*', 'crm.users', 'crm.leads']).zongjiIncludeSchema(), { shop: true, crm: ['users', 'leads'] });
  assert.equal(new TableFilter(['a.b']).matches('a', 'bb'), false, 'no partial matches; dots are literal');
});

test('values: Buffers base64, bigint as exact text, nested JSON-safe; others unchanged', () => {
  assert.deepEqual(jsonValue({ b: Buffer.from([0, 255]), n: 12n, s: 'x', arr: [Buffer.from('a')], nil: undefined }), { b: 'AP8=', n: '12', s: 'x', arr: ['YQ=='], nil: null });
  assert.equal(jsonValue('18446744073709551615'), '18446744073709551615');
});

test('partitions: the same table and key always go to the same partition; one partition by default', () => {
  const row = (id: number) => ({ schema: 's', table: 't', pk: { id }, before: null, after: { id } });
  assert.equal(partitionOf(row(5), 1), 0);
  const parts = Array.from({ length: 200 }, (_, i) => partitionOf(row(i), 4));
  assert.deepEqual(parts, Array.from({ length: 200 }, (_, i) => partitionOf(row(i), 4)));
  assert.deepEqual(new Set(parts), new Set([0, 1, 2, 3]), 'keys spread over all partitions');
});

test('start points and the derived server_id', () => {
  assert.deepEqual(parseStart(undefined), { kind: 'end' });
  assert.deepEqual(parseStart('end'), { kind: 'end' });
  assert.equal(parseStart('beginning'), 'beginning');
  assert.deepEqual(parseStart('mysql-bin.000012:4567'), { kind: 'pos', file: 'mysql-bin.000012', pos: 4567 });
  assert.deepEqual(parseStart('gtid:0-1-100,1-2-3'), { kind: 'gtid', set: '0-1-100,1-2-3' });
  assert.equal(serverIdOf('app', 'db'), serverIdOf('app', 'db'), 'every replica of a source announces the same id');
  assert.notEqual(serverIdOf('app', 'db'), serverIdOf('app', 'db2'));
  assert.equal(serverIdOf('app', 'db', 77), 77);
  assert.ok(serverIdOf('app', 'db') >= 1000 && serverIdOf('app', 'db') < 2 ** 31);
});

test('errors: access, grants, purged position, same server id, undecodable, connection trouble', () => {
  const e = (errno: number, message: string, code?: string) => Object.assign(new Error(message), { errno, code });
  const login = classifyBinlogError(e(1045, "Access denied for user 'kis'@'10.0.0.1' (using password: YES)"), ctx);
  assert.ok(hasCode(login, 'KIS_ERR_BINLOG_ACCESS') && !login.retriable);
  assert.match(login.message, /GRANT REPLICATION SLAVE, REPLICATION CLIENT, SELECT ON \*\.\* TO 'kis'@'%'/);
  const grant = classifyBinlogError(e(1227, 'Access denied; you need (at least one of) the REPLICATION SLAVE privilege(s) for this operation'), ctx);
  assert.ok(hasCode(grant, 'KIS_ERR_BINLOG_ACCESS') && !grant.retriable);
  const purged = classifyBinlogError(e(1236, 'Could not find first log file name in binary log index file'), ctx);
  assert.ok(hasCode(purged, 'KIS_ERR_BINLOG_POSITION') && !purged.retriable);
  assert.match(purged.message, /binlog\.000007:1234/);
  assert.match(purged.message, /delete the checkpoint \(topic app\.binlog-checkpoints \(key db\)\) and re-read the tables with snapshot: initial/);
  const sameId = classifyBinlogError(e(4052, "A slave with the same server_uuid/server_id is already connected; the first event 'binlog.000001' at 4"), ctx);
  assert.ok(hasCode(sameId, 'KIS_ERR_SOURCE') && sameId.retriable);
  const payload = classifyBinlogError(new Error('Server sent a TRANSACTION_PAYLOAD_EVENT (binlog_transaction_compression=ON). zongji cannot decode compressed transactions'), ctx);
  assert.ok(hasCode(payload, 'KIS_ERR_BINLOG_UNDECODABLE') && !payload.retriable);
  const lost = classifyBinlogError(Object.assign(new Error('Connection lost: The server closed the connection.'), { code: 'PROTOCOL_CONNECTION_LOST' }), ctx);
  assert.ok(hasCode(lost, 'KIS_ERR_SOURCE') && lost.retriable);
});

test('the assembler stops at events zongji cannot decode instead of skipping their changes', () => {
  const seen: Transaction[] = [];
  const a = new TransactionAssembler('db', new TableFilter(['s.*']), new GtidTracker(''), (t) => seen.push(t));
  const ev = (name: string, extra: Record<string, unknown> = {}) => ({ getEventName: () => name, nextPosition: 900, timestamp: 1_700_000_000_000, ...extra }) as unknown as AnyBinlogEvent;
  a.push(ev('rotate', { binlogName: 'binlog.000003', position: 4 }));
  a.push(ev('query', { query: 'BEGIN' }));
  for (const name of ['transactionpayload', 'partialupdaterows']) {
    assert.throws(() => a.push(ev(name)), (err: unknown) => hasCode(err, 'KIS_ERR_BINLOG_UNDECODABLE') && /binlog\.000003:900/.test((err as Error).message));
  }
  a.push(ev('query', { query: 'COMMIT' }));
  assert.deepEqual(seen.map((t) => ({ rows: t.rows.length, end: t.end })), [{ rows: 0, end: { file: 'binlog.000003', pos: 900, gtid: '' } }], 'MySQL BEGIN ... COMMIT is a transaction too');
});

test('GTID tracking: a MariaDB position advances per domain from its seed; a MySQL set only with a seed', () => {
  const maria = new GtidTracker('0-1-10,1-2-5');
  maria.begin({ getEventName: () => 'mariadbgtid', domainId: 0, serverId: 1, seqNo: 11 } as never);
  assert.equal(maria.commit(), '0-1-11,1-2-5');
  const fresh = new GtidTracker('');
  fresh.begin({ getEventName: () => 'mariadbgtid', domainId: 0, serverId: 3, seqNo: '18446744073709551615' } as never);
  assert.equal(fresh.commit(), '0-3-18446744073709551615');
  const uuid = '3e11fa47-71ca-11e1-9e33-c80aa9429562';
  const mysql = new GtidTracker(`${uuid}:1-5`);
  mysql.begin({ getEventName: () => 'gtid', gtid: `${uuid}:6` } as never);
  assert.equal(mysql.commit(), `${uuid}:1-6`);
  const unseeded = new GtidTracker('');
  unseeded.begin({ getEventName: () => 'gtid', gtid: `${uuid}:6` } as never);
  assert.equal(unseeded.commit(), '', 'a set with gaps would be wrong: unknown instead');
});

test('GTID tracking: a MariaDB position reads as zongji writes it, over several domains in any order', () => {
  const seeds = ['', '0-1-10', '3-1-7,1-2-5'];
  for (const seed of seeds) {
    const ours = new GtidTracker(seed);
    const theirs = MariadbGtidPosition.parse(seed);
    // Domains arriving out of order, a server change within a domain, a sequence number past 2^53.
    const commits: Array<[number, number, number | string]> = [[1, 2, 6], [0, 1, 11], [2, 9, 1], [1, 4, 3], [0, 1, '18446744073709551615'], [3, 1, 8]];
    for (const [domainId, serverId, seqNo] of commits) {
      ours.begin({ getEventName: () => 'mariadbgtid', domainId, serverId, seqNo } as never);
      theirs.add({ domainId, serverId, seqNo });
      assert.equal(ours.commit(), theirs.toString(), `seed '${seed}', after ${domainId}-${serverId}-${seqNo}`);
      assert.equal(ours.current(), theirs.toString());
    }
  }
});

test('a file checkpoint is replaced whole, and its directory is made again when removed while running', async () => {
  const root = await mkdtemp(path.join(tmpdir(), 'kisflow-cp-'));
  try {
    const store = new FileCheckpointStore(path.join(root, '.kisflow', 'src.binlog.json'));
    assert.equal(await store.load(), undefined);
    const cp = (pos: number) => ({ source: 'src', file: 'binlog.000001', pos, gtid: '0-1-1', ts_ms: 0, updated_at: new Date(0).toISOString() });
    await store.save(cp(4));
    await store.save(cp(8));
    assert.equal((await store.load())?.pos, 8);
    assert.deepEqual(await readdir(path.join(root, '.kisflow')), ['src.binlog.json'], 'no side file left behind');
    await rm(path.join(root, '.kisflow'), { recursive: true });
    await store.save(cp(12));
    assert.equal((await store.load())?.pos, 12);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
