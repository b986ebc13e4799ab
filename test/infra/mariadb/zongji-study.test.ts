/**
 * What @vlasky/zongji 0.9 delivers when it follows the row binlog of a private
 * MariaDB 10.11 (see index.ts). Each test pins one behaviour the binlog source
 * will rely on or must work around: event names and fields, value types,
 * transaction grouping, resume points, schema changes, server restarts and the
 * exact errors for bad credentials, missing grants and bad start points.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import ZongJi, {
  MariadbGtidPosition,
  type AnyBinlogEvent,
  type BinlogEventByName,
  type BinlogEventName,
  type RowData,
  type ZongJiDsn,
  type ZongJiOptions,
} from '@vlasky/zongji';

import { startMariaDb, type MariaDb } from './index.js';

const WAIT_MS = 10_000;
const ROW_EVENTS: BinlogEventName[] = ['tablemap', 'writerows', 'updaterows', 'deleterows'];
const TXN_EVENTS: BinlogEventName[] = [...ROW_EVENTS, 'xid', 'query', 'mariadbgtid'];

// ---------------------------------------------------------------------------
// a ZongJi instance that records what it emits

interface Seen {
  event: AnyBinlogEvent;
  /** zongji's resume pair and checkpoint as they were when the event was delivered. */
  filename: string | undefined;
  position: number | undefined;
  gtidSet: string | undefined;
}

interface Reader {
  zj: ZongJi;
  seen: Seen[];
  errors: Error[];
  /** Resolves on 'ready', rejects with the first error before it. */
  ready(): Promise<void>;
  /** Resolves with the first recorded event (past or future) matching pred. */
  waitForEvent(pred: (e: AnyBinlogEvent) => boolean, what: string): Promise<AnyBinlogEvent>;
  waitForErrors(count: number): Promise<Error[]>;
  stop(): Promise<void>;
}

const readers = new Set<Reader>();
let nextServerId = 100;

function isEvent<N extends BinlogEventName>(e: AnyBinlogEvent, name: N): e is BinlogEventByName<N> {
  return e.getEventName() === name;
}

function withTimeout<T>(p: Promise<T>, what: string, ms = WAIT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

function openReader(dsn: ZongJiDsn, options: ZongJiOptions): Reader {
  const zj = new ZongJi(dsn);
  const seen: Seen[] = [];
  const errors: Error[] = [];
  const listeners = new Set<() => void>();
  const notify = (): void => {
    for (const l of [...listeners]) l();
  };
  const until = <T>(check: () => T | undefined, what: string): Promise<T> =>
    withTimeout(
      new Promise<T>((resolve) => {
        const probe = (): void => {
          const v = check();
          if (v === undefined) return;
          listeners.delete(probe);
          resolve(v);
        };
        listeners.add(probe);
        probe();
      }),
      what,
    );

  zj.on('binlog', (event) => {
    seen.push({ event, filename: zj.options.filename, position: zj.options.position, gtidSet: zj.gtidSet });
    notify();
  });
  zj.on('error', (err) => {
    errors.push(err);
    notify();
  });
  const ready = new Promise<void>((resolve, reject) => {
    zj.once('ready', () => resolve());
    zj.once('error', reject);
  });
  ready.catch(() => undefined);
  zj.start({ serverId: nextServerId++, ...options });

  const reader: Reader = {
    zj,
    seen,
    errors,
    ready: () => withTimeout(ready, 'zongji ready'),
    waitForEvent: (pred, what) => until(() => seen.find((s) => pred(s.event))?.event, what),
    waitForErrors: (count) => until(() => (errors.length >= count ? errors.slice(0, count) : undefined), `${count} zongji error(s)`),
    async stop() {
      readers.delete(reader);
      const stopped = new Promise<void>((resolve) => zj.once('stopped', () => resolve()));
      zj.stop();
      await withTimeout(stopped, 'zongji stopped');
    },
  };
  readers.add(reader);
  return reader;
}

const names = (r: Reader): string[] => r.seen.map((s) => s.event.getEventName());

/** Row images in arrival order: inserts/deletes as rows, updates as {before, after}. */
function rowsOf(r: Reader, table?: string): Array<{ op: string; row: RowData | { before: RowData; after: RowData } }> {
  return r.seen.flatMap(({ event }) => {
    if (!isEvent(event, 'writerows') && !isEvent(event, 'updaterows') && !isEvent(event, 'deleterows')) return [];
    if (table !== undefined && event.tableMap[event.tableId]?.tableName !== table) return [];
    return event.rows.map((row) => ({ op: event.getEventName(), row }));
  });
}

function kindOf(v: unknown): string {
  if (v === null) return 'null';
  if (Buffer.isBuffer(v)) return 'Buffer';
  if (v instanceof Date) return 'Date';
  return typeof v;
}

const kinds = (row: RowData): Record<string, string> =>
  Object.fromEntries(Object.entries(row).map(([k, v]) => [k, kindOf(v)]));

// ---------------------------------------------------------------------------

describe('zongji 0.9 against MariaDB 10.11 (row binlog, FULL metadata)', { timeout: 90_000 }, () => {
  let db: MariaDb;
  let mysql: (sql: string, params?: unknown[]) => Promise<unknown>;

  before(async () => {
    db = await startMariaDb();
    mysql = (sql, params) => db.query(sql, params);
    await mysql('CREATE DATABASE study');
    await mysql(`CREATE TABLE study.types (
      id INT NOT NULL PRIMARY KEY,
      big BIGINT UNSIGNED NOT NULL,
      amount DECIMAL(12,4),
      ts DATETIME(6),
      day DATE,
      doc JSON,
      txt TEXT CHARACTER SET utf8mb4,
      bin BLOB,
      note VARCHAR(40) NULL)`);
    await mysql('CREATE TABLE study.other (id INT NOT NULL PRIMARY KEY, v VARCHAR(10))');
  });

  after(async () => {
    for (const r of [...readers]) await r.stop().catch(() => undefined);
    await db?.stop();
  });

  it('imports as an ESM default class, detects MariaDB and starts at the binlog end', async () => {
    assert.equal(typeof ZongJi, 'function');
    assert.equal(typeof MariadbGtidPosition.parse, 'function');
    const end = await db.binlogPosition();
    const gtidPos = await db.gtidBinlogPos();
    const r = openReader(db.connectionOptions(), { startAtEnd: true });
    await r.ready();
    assert.equal(r.zj.isMariaDb, true);
    assert.match(r.zj.serverVersion ?? '', /^10\.11\.\d+-MariaDB/);
    assert.deepEqual({ filename: r.zj.options.filename, position: r.zj.options.position }, { filename: end.file, position: end.position });
    assert.equal(r.zj.gtidSet, gtidPos, 'startAtEnd seeds gtidSet from @@gtid_current_pos');
    // Every dump starts with an artificial rotate naming the start point, then the format event.
    await r.waitForEvent((e) => e.getEventName() === 'format', 'format event');
    const [rotate, format] = r.seen.map((s) => s.event);
    assert.ok(rotate && isEvent(rotate, 'rotate'));
    assert.deepEqual({ binlogName: rotate.binlogName, position: rotate.position, nextPosition: rotate.nextPosition }, {
      binlogName: end.file,
      position: end.position,
      nextPosition: 0,
    });
    assert.equal(format?.getEventName(), 'format');
    await r.stop();
  });

  it('insert / update / delete: row images and the JS type of every column', async () => {
    const start = await db.binlogPosition();
    const r = openReader(db.connectionOptions(), { startAtEnd: true, includeEvents: [...ROW_EVENTS, 'xid'] });
    await r.ready();
    await mysql(
      `INSERT INTO study.types VALUES
        (1, 18446744073709551615, -12345678.1234, '2024-02-29 23:59:58.123456', '2024-02-29',
         '{"a":1,"b":[true,null,"x"],"n":12345678901234567890}', 'héllo 😀 中文', x'00ff10', NULL),
        (2, 9007199254740991, 0.5, '1970-01-01 00:00:00', '1000-01-01', '[1,2]', '', x'', 'n'),
        (3, 9007199254740992, NULL, NULL, NULL, NULL, NULL, NULL, NULL)`,
    );
    await mysql(`UPDATE study.types SET amount = amount + 1, note = 'upd' WHERE id = 1`);
    await mysql('DELETE FROM study.types WHERE id = 2');
    await r.waitForEvent((e) => e.getEventName() === 'deleterows', 'deleterows');

    const row1 = {
      id: 1,
      big: '18446744073709551615', // above 2^53: exact decimal string, never a BigInt
      amount: '-12345678.1234', // DECIMAL: string with the column's scale
      ts: new Date(2024, 1, 29, 23, 59, 58, 123), // local-time Date, microseconds truncated to ms
      day: new Date(2024, 1, 29), // local midnight
      doc: '{"a":1,"b":[true,null,"x"],"n":12345678901234567890}', // MariaDB JSON = LONGTEXT: text, not parsed
      txt: 'héllo 😀 中文',
      bin: Buffer.from([0x00, 0xff, 0x10]),
      note: null,
    };
    const row2 = {
      id: 2,
      big: 9007199254740991, // up to 2^53 - 1: number
      amount: '0.5000',
      ts: new Date(1970, 0, 1, 0, 0, 0, 0),
      day: new Date(1000, 0, 1),
      doc: '[1,2]',
      txt: '',
      bin: Buffer.alloc(0),
      note: 'n',
    };
    const row3 = { id: 3, big: '9007199254740992', amount: null, ts: null, day: null, doc: null, txt: null, bin: null, note: null };
    assert.deepEqual(rowsOf(r), [
      { op: 'writerows', row: row1 },
      { op: 'writerows', row: row2 },
      { op: 'writerows', row: row3 },
      { op: 'updaterows', row: { before: row1, after: { ...row1, amount: '-12345677.1234', note: 'upd' } } },
      { op: 'deleterows', row: row2 },
    ]);
    assert.deepEqual(kinds(row1), {
      id: 'number', big: 'string', amount: 'string', ts: 'Date', day: 'Date',
      doc: 'string', txt: 'string', bin: 'Buffer', note: 'null',
    });

    // FULL metadata: the TableMap carries names and key, so no INFORMATION_SCHEMA lookups.
    const tm = r.seen.map((s) => s.event).find((e) => isEvent(e, 'tablemap'));
    assert.ok(tm && isEvent(tm, 'tablemap'));
    assert.deepEqual(
      { schema: tm.schemaName, table: tm.tableName, columns: tm.columnNames, pk: tm.primaryKey, full: tm.hasSelfDescribingMetadata() },
      { schema: 'study', table: 'types', columns: ['id', 'big', 'amount', 'ts', 'day', 'doc', 'txt', 'bin', 'note'], pk: [0], full: true },
    );
    // With 2 rows in one INSERT, both arrive in one writerows event.
    assert.deepEqual(names(r), ['tablemap', 'writerows', 'xid', 'tablemap', 'updaterows', 'xid', 'tablemap', 'deleterows', 'xid']);
    await r.stop();

    // dateStrings (a mysql2 connection option) keeps full precision as MySQL text.
    const text = openReader({ ...db.connectionOptions(), dateStrings: true }, {
      filename: start.file,
      position: start.position,
      includeEvents: ['tablemap', 'writerows'],
    });
    await text.waitForEvent((e) => e.getEventName() === 'writerows', 'writerows');
    const first = rowsOf(text)[0]?.row as RowData | undefined;
    assert.deepEqual({ ts: first?.ts, day: first?.day }, { ts: '2024-02-29 23:59:58.123456', day: '2024-02-29' });
    await text.stop();
  });

  it('a transaction is framed by mariadbgtid ... xid, with no BEGIN query; DDL is a standalone group', async () => {
    const r = openReader(db.connectionOptions(), { startAtEnd: true, includeEvents: TXN_EVENTS });
    await r.ready();
    const startPos = r.zj.options.position;
    await mysql('INSERT INTO study.other VALUES (1, ?)', ['a']);
    const conn = await db.connect();
    try {
      await conn.query('START TRANSACTION');
      await conn.query(`INSERT INTO study.other VALUES (2, 'b')`);
      await conn.query('INSERT INTO study.types (id, big) VALUES (10, 1)');
      await conn.query(`UPDATE study.other SET v = 'bb' WHERE id = 2`);
      await conn.query('COMMIT');
      await conn.query('START TRANSACTION');
      await conn.query(`INSERT INTO study.other VALUES (99, 'gone')`);
      await conn.query('ROLLBACK');
    } finally {
      await conn.end();
    }
    await mysql('ALTER TABLE study.other COMMENT = ?', ['c']);
    await r.waitForEvent((e) => isEvent(e, 'query') && e.query.startsWith('ALTER TABLE'), 'ALTER query');

    assert.deepEqual(names(r), [
      'mariadbgtid', 'tablemap', 'writerows', 'xid',
      'mariadbgtid', 'tablemap', 'writerows', 'tablemap', 'writerows', 'tablemap', 'updaterows', 'xid',
      'mariadbgtid', 'query',
    ], 'the rolled-back transaction leaves nothing; MariaDB sends its GTID event instead of a BEGIN query');

    const gtids = r.seen.map((s) => s.event).filter((e): e is BinlogEventByName<'mariadbgtid'> => isEvent(e, 'mariadbgtid'));
    const g0 = gtids[0];
    assert.ok(g0);
    const seq0 = Number(g0.seqNo);
    assert.deepEqual(
      gtids.map((g) => ({ gtid: g.gtid, domainId: g.domainId, serverId: g.serverId, standalone: g.standalone, isDdl: g.isDdl, transactional: g.transactional })),
      [
        { gtid: `0-1-${seq0}`, domainId: 0, serverId: 1, standalone: false, isDdl: false, transactional: true },
        { gtid: `0-1-${seq0 + 1}`, domainId: 0, serverId: 1, standalone: false, isDdl: false, transactional: true },
        { gtid: `0-1-${seq0 + 2}`, domainId: 0, serverId: 1, standalone: true, isDdl: true, transactional: false },
      ],
    );
    // Every event of a group carries the group's GTID, the xid included.
    assert.deepEqual(
      r.seen.map((s) => s.event.gtid),
      [...Array<string>(4).fill(`0-1-${seq0}`), ...Array<string>(8).fill(`0-1-${seq0 + 1}`), ...Array<string>(2).fill(`0-1-${seq0 + 2}`)],
    );

    // Positions: MariaDB 10.11 writes real end positions on every event (never 0 here),
    // but zongji's resume pair stays at the group's start until the xid, and its
    // gtidSet checkpoint only advances on the commit marker.
    const txn2 = r.seen.slice(4, 12);
    const nexts = txn2.map((s) => s.event.nextPosition);
    assert.ok(nexts.every((n, i) => n > 0 && (i === 0 || n > (nexts[i - 1] ?? 0))), `increasing positions ${nexts.join(',')}`);
    const xid = txn2[7];
    assert.ok(xid && isEvent(xid.event, 'xid'));
    assert.equal(typeof xid.event.xid, 'number');
    assert.deepEqual(
      txn2.map((s) => s.position),
      [...Array<number>(7).fill(txn2[0]?.event.nextPosition ?? -1), xid.event.nextPosition],
      'the resume position freezes inside a transaction',
    );
    assert.deepEqual(
      txn2.map((s) => s.gtidSet),
      [...Array<string>(7).fill(`0-1-${seq0}`), `0-1-${seq0 + 1}`],
      'gtidSet advances on xid',
    );
    assert.ok(startPos !== undefined && (txn2[0]?.event.nextPosition ?? 0) > startPos);
    // A DDL group has no xid: gtidSet only catches up when the next group starts.
    const ddlSeen = r.seen[13];
    assert.equal(ddlSeen?.gtidSet, `0-1-${seq0 + 1}`);
    assert.equal(await db.gtidBinlogPos(), `0-1-${seq0 + 2}`);
    assert.deepEqual(await db.binlogPosition(), { file: ddlSeen?.filename, position: ddlSeen?.event.nextPosition });
    await r.stop();
  });

  it('resumes from a saved file:position and from a saved MariaDB GTID position', async () => {
    const r = openReader(db.connectionOptions(), { startAtEnd: true, includeEvents: [...ROW_EVENTS, 'xid'] });
    await r.ready();
    await mysql(`INSERT INTO study.other VALUES (20, 'before')`);
    await r.waitForEvent((e) => e.getEventName() === 'xid', 'xid');
    const saved = { filename: r.zj.options.filename, position: r.zj.options.position, gtidSet: r.zj.gtidSet };
    await r.stop();
    assert.deepEqual({ filename: saved.filename, position: saved.position }, { filename: (await db.binlogPosition()).file, position: (await db.binlogPosition()).position });
    assert.equal(saved.gtidSet, await db.gtidBinlogPos());

    await mysql(`INSERT INTO study.other VALUES (21, 'after')`);
    const byPos = openReader(db.connectionOptions(), { filename: saved.filename, position: saved.position });
    const byGtid = openReader(db.connectionOptions(), { gtidSet: saved.gtidSet });
    for (const x of [byPos, byGtid]) {
      await x.waitForEvent((e) => e.getEventName() === 'xid', 'xid after resume');
      assert.deepEqual(rowsOf(x), [{ op: 'writerows', row: { id: 21, v: 'after' } }]);
    }
    assert.deepEqual(names(byPos), ['rotate', 'format', 'mariadbgtid', 'tablemap', 'writerows', 'xid']);
    // A GTID connect streams the file from its start: the file's GTID list and
    // checkpoint, then a second (fake) GTID list at the resume point.
    assert.deepEqual(names(byGtid), ['rotate', 'format', 'mariadbgtidlist', 'binlogcheckpoint', 'mariadbgtidlist', 'mariadbgtid', 'tablemap', 'writerows', 'xid']);
    const rotate = byGtid.seen[0]?.event;
    assert.ok(rotate && isEvent(rotate, 'rotate'));
    assert.equal(rotate.position, 4);
    assert.equal(byGtid.zj.gtidSet, await db.gtidBinlogPos());
    const pos = MariadbGtidPosition.parse(saved.gtidSet ?? '');
    const newGtid = byGtid.seen.find((s) => isEvent(s.event, 'xid'))?.event.gtid;
    assert.deepEqual([pos.covers(saved.gtidSet), pos.covers(newGtid)], [true, false]);
    await byPos.stop();
    await byGtid.stop();
  });

  it('ALTER TABLE mid-stream: each row decodes with the columns it was written with, even when replayed later', async () => {
    await mysql('CREATE TABLE study.evolving (id INT NOT NULL PRIMARY KEY, d DATE)');
    const start = await db.binlogPosition();
    const live = openReader(db.connectionOptions(), { startAtEnd: true, includeEvents: [...ROW_EVENTS, 'query'] });
    await live.ready();
    await mysql(`INSERT INTO study.evolving VALUES (1, '2000-01-01')`);
    await mysql(`ALTER TABLE study.evolving ADD COLUMN extra VARCHAR(10) NOT NULL DEFAULT 'x' AFTER id`);
    await mysql(`INSERT INTO study.evolving VALUES (2, 'y', '2000-01-02')`);
    await mysql('ALTER TABLE study.evolving DROP COLUMN d');
    await mysql(`INSERT INTO study.evolving VALUES (3, 'z')`);
    // Replayed after all three statements ran: FULL metadata still decodes the old images.
    const replay = openReader(db.connectionOptions(), { filename: start.file, position: start.position, includeEvents: [...ROW_EVENTS, 'query'] });
    const expected = [
      { op: 'writerows', row: { id: 1, d: new Date(2000, 0, 1) } },
      { op: 'writerows', row: { id: 2, extra: 'y', d: new Date(2000, 0, 2) } },
      { op: 'writerows', row: { id: 3, extra: 'z' } },
    ];
    for (const x of [live, replay]) {
      await x.waitForEvent((e) => isEvent(e, 'writerows') && e.rows[0]?.id === 3, 'third insert');
      assert.deepEqual(rowsOf(x, 'evolving'), expected);
      assert.deepEqual(
        x.seen.map((s) => s.event).flatMap((e) => (isEvent(e, 'query') ? [e.query] : [])),
        ["ALTER TABLE study.evolving ADD COLUMN extra VARCHAR(10) NOT NULL DEFAULT 'x' AFTER id", 'ALTER TABLE study.evolving DROP COLUMN d'],
      );
      const tableIds = x.seen.map((s) => s.event).flatMap((e) => (isEvent(e, 'tablemap') ? [e.tableId] : []));
      assert.equal(new Set(tableIds).size, 3, 'every ALTER gives the table a new table id');
    }
    await live.stop();
    await replay.stop();
  });

  it('includeEvents without tablemap silently drops every row event', async () => {
    const r = openReader(db.connectionOptions(), { startAtEnd: true, includeEvents: ['writerows', 'xid'] });
    await r.ready();
    await mysql(`INSERT INTO study.other VALUES (30, 'lost')`);
    await r.waitForEvent((e) => e.getEventName() === 'xid', 'xid');
    assert.deepEqual(names(r), ['xid']);
    assert.deepEqual(r.errors, []);
    await r.stop();
  });

  it('a second reader with the same serverId disconnects the first', async () => {
    const first = openReader(db.connectionOptions(), { startAtEnd: true, serverId: 4242 });
    await first.ready();
    await first.waitForEvent((e) => e.getEventName() === 'format', 'format');
    const second = openReader(db.connectionOptions(), { startAtEnd: true, serverId: 4242 });
    await second.ready();
    const [err] = await first.waitForErrors(1);
    const e = err as Error & { code?: string; errno?: number; fatal?: boolean };
    // mysql2 names MariaDB's 4052 (ER_SLAVE_SAME_ID) after MySQL's code for that number.
    assert.deepEqual({ code: e.code, errno: e.errno, fatal: e.fatal }, { code: 'ER_INVALID_MFA_PLUGIN_SPECIFIED', errno: 4052, fatal: true });
    assert.match(e.message, /^A slave with the same server_uuid\/server_id is already connected; the first event 'binlog\.\d+' at \d+/);
    assert.deepEqual(second.errors, []);
    await first.stop();
    await second.stop();
  });

  it('credentials and grants: which privilege each start mode needs, and the exact errors', async () => {
    await db.createUser('nopriv', 'pw', []);
    await db.createUser('client', 'pw', ['REPLICATION CLIENT']);
    await db.createUser('slave', 'pw', ['REPLICATION SLAVE']);
    await db.createUser('repl', 'pw', ['REPLICATION SLAVE, REPLICATION CLIENT']);
    // MariaDB 10.5+ stores REPLICATION CLIENT as its new name, BINLOG MONITOR.
    const grants = await db.query<Array<Record<string, string>>>(`SHOW GRANTS FOR 'repl'@'%'`);
    assert.match(Object.values(grants[0] ?? {})[0] ?? '', /^GRANT REPLICATION SLAVE, BINLOG MONITOR ON \*\.\* TO `repl`@`%`/);
    const start = await db.binlogPosition();
    const fromPos = { filename: start.file, position: start.position };

    type Outcome = { ready: boolean; code?: string; errno?: number; message?: string };
    const outcome = async (r: Reader): Promise<Outcome> => {
      const ready = await r.ready().then(() => true, () => false);
      const errs = await r.waitForErrors(1);
      const e = errs[0] as Error & { code?: string; errno?: number };
      return { ready, code: e.code, errno: e.errno, message: e.message };
    };

    const badPassword = openReader(db.connectionOptions('root', 'wrong'), { startAtEnd: true });
    const access = "Access denied for user 'root'@'127.0.0.1' (using password: YES)";
    assert.deepEqual(await outcome(badPassword), { ready: false, code: 'ER_ACCESS_DENIED_ERROR', errno: 1045, message: access });
    // Reported once per connection (control + binlog).
    assert.deepEqual((await badPassword.waitForErrors(2)).map((e) => e.message), [access, access]);

    const monitor = 'Access denied; you need (at least one of) the SUPER, BINLOG MONITOR privilege(s) for this operation';
    const replSlave = 'Access denied; you need (at least one of) the REPLICATION SLAVE privilege(s) for this operation';
    const denied = { code: 'ER_SPECIFIC_ACCESS_DENIED_ERROR', errno: 1227 };
    // startAtEnd runs SHOW BINARY LOGS (needs REPLICATION CLIENT) before 'ready';
    // the dump itself (needs REPLICATION SLAVE) fails after 'ready'.
    const cases: Array<[string, ZongJiOptions, Outcome]> = [
      ['nopriv', { startAtEnd: true }, { ready: false, ...denied, message: monitor }],
      ['slave', { startAtEnd: true }, { ready: false, ...denied, message: monitor }],
      ['nopriv', fromPos, { ready: true, ...denied, message: replSlave }],
      ['client', { startAtEnd: true }, { ready: true, ...denied, message: replSlave }],
    ];
    for (const [user, options, expected] of cases) {
      const r = openReader(db.connectionOptions(user, 'pw'), options);
      assert.deepEqual(await outcome(r), expected, `${user} ${JSON.stringify(options)}`);
      await r.stop();
    }
    await badPassword.stop();

    // REPLICATION SLAVE alone suffices from a file:position or GTID start; no SELECT is
    // needed to decode rows because FULL metadata avoids INFORMATION_SCHEMA.
    const slaveOnly = openReader(db.connectionOptions('slave', 'pw'), fromPos);
    const slaveGtid = openReader(db.connectionOptions('slave', 'pw'), { gtidSet: await db.gtidBinlogPos() });
    const both = openReader(db.connectionOptions('repl', 'pw'), { startAtEnd: true });
    await Promise.all([slaveOnly.ready(), slaveGtid.ready(), both.ready()]);
    await both.waitForEvent((e) => e.getEventName() === 'format', 'format');
    await mysql(`INSERT INTO study.other VALUES (40, 'grants')`);
    for (const x of [slaveOnly, slaveGtid, both]) {
      await x.waitForEvent((e) => e.getEventName() === 'xid', 'xid');
      assert.deepEqual(rowsOf(x), [{ op: 'writerows', row: { id: 40, v: 'grants' } }]);
      assert.deepEqual(x.errors, []);
      await x.stop();
    }
  });

  it('bad start points fail through the error event with the server message', async () => {
    // A GTID position is still servable while the new file's GTID list names it,
    // so take one that is a transaction older than the purge.
    const oldGtid = await db.gtidBinlogPos();
    await mysql(`INSERT INTO study.other VALUES (50, 'old')`);
    const old = await db.binlogPosition();
    await db.purgeBinlogs();
    const current = await db.binlogPosition();
    const fatal = { code: 'ER_SOURCE_FATAL_ERROR_READING_BINLOG', errno: 1236 };
    const cases: Array<[ZongJiOptions, { code?: string; errno?: number; message: string | RegExp }]> = [
      [{ filename: old.file, position: old.position }, { ...fatal, message: 'Could not find first log file name in binary log index file' }],
      [{ filename: 'binlog.999999', position: 4 }, { ...fatal, message: 'Could not find first log file name in binary log index file' }],
      [
        { filename: current.file, position: 10_000_000 },
        { ...fatal, message: new RegExp(`^Client requested master to start replication from impossible position; the first event '${current.file.replace('.', '\\.')}' at 10000000`) },
      ],
      [
        { gtidSet: oldGtid },
        { ...fatal, message: 'Could not find GTID state requested by slave in any binlog files. Probably the slave state is too old and required binlog files have been purged.' },
      ],
      [{ gtidSet: '0-1-999999' }, { ...fatal, message: "Error: connecting slave requested to start from GTID 0-1-999999, which is not in the master's binlog" }],
      [{ gtidSet: 'abc' }, { message: "Invalid MariaDB GTID: 'abc'" }],
      [
        { gtidSet: '3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5' },
        { message: "gtidSet is a MySQL GTID set but the server is MariaDB; pass a MariaDB GTID position instead (domain-server-sequence, e.g. '0-1-1234')" },
      ],
    ];
    for (const [options, expected] of cases) {
      const r = openReader(db.connectionOptions(), options);
      const [err] = await r.waitForErrors(1).catch((e: Error) => {
        throw new Error(`${JSON.stringify(options)}: ${e.message}`);
      });
      const e = err as Error & { code?: string; errno?: number };
      const { message, ...codes } = expected;
      assert.deepEqual({ code: e.code, errno: e.errno }, { code: codes.code, errno: codes.errno }, JSON.stringify(options));
      if (typeof message === 'string') assert.equal(e.message, message);
      else assert.match(e.message, message);
      await r.stop();
    }
  });

  it('server restart: fatal PROTOCOL_CONNECTION_LOST, no reconnect; stop() + start() from the saved pair resumes', async () => {
    const r = openReader(db.connectionOptions(), { startAtEnd: true, includeEvents: [...ROW_EVENTS, 'xid', 'rotate'] });
    await r.ready();
    await mysql(`INSERT INTO study.other VALUES (60, 'pre')`);
    await r.waitForEvent((e) => e.getEventName() === 'xid', 'xid');
    const saved = { filename: r.zj.options.filename, position: r.zj.options.position };

    await db.restart();
    const errs = await r.waitForErrors(2);
    const lost = 'Connection lost: The server closed the connection.';
    assert.deepEqual(
      errs.map((e) => {
        const x = e as Error & { code?: string; fatal?: boolean };
        return { code: x.code, fatal: x.fatal, message: x.message };
      }),
      [
        { code: 'PROTOCOL_CONNECTION_LOST', fatal: true, message: lost },
        { code: 'PROTOCOL_CONNECTION_LOST', fatal: true, message: lost },
      ],
    );
    assert.deepEqual({ ready: r.zj.ready, stopped: r.zj.stopped }, { ready: true, stopped: false }, 'zongji does not notice it is dead');

    // A restart rotates to a new binlog file.
    await mysql(`INSERT INTO study.other VALUES (61, 'post')`);
    const after = await db.binlogPosition();
    assert.notEqual(after.file, saved.filename);
    const fresh = openReader(db.connectionOptions(), { filename: saved.filename, position: saved.position, includeEvents: [...ROW_EVENTS, 'xid'] });
    await fresh.waitForEvent((e) => isEvent(e, 'writerows') && e.rows[0]?.id === 61, 'post-restart row');
    assert.deepEqual(rowsOf(r), [{ op: 'writerows', row: { id: 60, v: 'pre' } }], 'the dead reader got nothing after the restart');
    await fresh.stop();

    // The same instance can be restarted from the pair it recorded.
    await r.stop();
    assert.deepEqual({ filename: r.zj.options.filename, position: r.zj.options.position }, saved);
    const before = r.seen.length;
    r.zj.start({ serverId: nextServerId++, filename: saved.filename, position: saved.position, includeEvents: [...ROW_EVENTS, 'xid', 'rotate'] });
    readers.add(r);
    await r.waitForEvent((e) => isEvent(e, 'writerows') && e.rows[0]?.id === 61, 'resumed row');
    const resumed = r.seen.slice(before).map((s) => s.event);
    const rotates = resumed.flatMap((e) => (isEvent(e, 'rotate') ? [`${e.binlogName}:${e.position}`] : []));
    assert.deepEqual(rotates, [`${saved.filename}:${saved.position}`, `${after.file}:4`]);
    assert.equal(r.zj.options.filename, after.file, 'the resume pair follows the rotate');
    await r.stop();
  });

  it('SIGKILLed server: same fatal error; committed rows survive crash recovery and replay from the saved pair', async () => {
    const r = openReader(db.connectionOptions(), { startAtEnd: true, includeEvents: [...ROW_EVENTS, 'xid'] });
    await r.ready();
    const saved = { filename: r.zj.options.filename, position: r.zj.options.position };
    await mysql(`INSERT INTO study.other VALUES (70, 'crash')`);
    await r.waitForEvent((e) => e.getEventName() === 'xid', 'xid');
    await db.kill();
    const [err] = await r.waitForErrors(1);
    assert.equal((err as Error & { code?: string }).code, 'PROTOCOL_CONNECTION_LOST');
    await r.stop();

    await db.restart();
    const replay = openReader(db.connectionOptions(), { ...saved, includeEvents: [...ROW_EVENTS, 'xid'] });
    await replay.waitForEvent((e) => e.getEventName() === 'xid', 'xid');
    assert.deepEqual(rowsOf(replay), [{ op: 'writerows', row: { id: 70, v: 'crash' } }]);
    await replay.stop();
  });
});
