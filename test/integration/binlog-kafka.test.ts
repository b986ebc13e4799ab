// The binlog source in the real service process (`kisflow run`) on Kafka: binlog -> flow (Verify, Calculate)
// -> output topic, with the checkpoint in <app_id>.binlog-checkpoints and one reader elected among replicas.
// A kill -9 mid-stream and a restart; two replicas, the reader killed, the other takes over; the reader
// paused past its lease and resumed (fencing). One private MariaDB and one mock cluster for the file; each
// test has its own table, app_id and topics. Assertions are on state: the ids in the output topic, the
// checkpoint records (their positions and epochs), which replica read.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import type { Admin } from 'kafkajs';
import { randomName, startMockCluster, type MockCluster } from '../infra/kafka-mock/index.js';
import { startMariaDb, type MariaDb } from '../infra/mariadb/index.js';
import { admin, readTopic, recordCount, ServiceProcess, slowResponsesWhileRebalancing, waitFor, type LogLine } from './kafka-helpers.js';

interface Names {
  readonly app: string;
  readonly table: string;
  readonly out: string;
  readonly checkpoints: string;
  readonly leader: string;
}

function binlogYaml(db: MariaDb, n: Names): string {
  return `kistype: global
app_id: ${n.app}
kafka: { brokers: "\${KAFKA_BROKERS}" }
---
kistype: source
sid: db
type: binlog
addrs: ${db.host}:${db.port}
params: { user: root, password: "\${MYSQL_PASSWORD:-}", tables: [shop.${n.table}], start: beginning, max_batch_rows: 100 }
flows: [Changes]
---
kistype: flow
flow_name: Changes
flows: [{ fid: Check }, { fid: Shape }, { fid: Out }]
---
kistype: func
fid: Check
fname: kis.filter
fmode: Verify
option: { default_params: { where: "op in ['c', 'u', 'd', 'r']" } }
---
kistype: func
fid: Shape
fname: kis.map
fmode: Calculate
option: { default_params: { set: { id: "$string(pk.id)" } } }
---
kistype: func
fid: Out
fname: kis.sink
fmode: Expand
option: { default_params: { to: topic, topic: ${n.out}, key: id } }
`;
}

describe('binlog source in the kisflow service on Kafka', { timeout: 300_000, concurrency: true }, () => {
  let db: MariaDb;
  let cluster: MockCluster;
  let a: Admin;
  const dirs: string[] = [];
  const services: ServiceProcess[] = [];

  before(async () => {
    [db, cluster] = await Promise.all([startMariaDb(), startMockCluster({ brokers: 3 })]);
    await db.query('CREATE DATABASE shop');
    a = admin(cluster.bootstrap);
    await a.connect();
  });

  after(async () => {
    await Promise.all(services.map((s) => s.kill()));
    await a?.disconnect().catch(() => undefined);
    await cluster?.stop();
    await db?.stop();
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  async function setUp(): Promise<{ names: Names; dir: string }> {
    const app = randomName('bl');
    const names: Names = { app, table: app.replace(/-/g, '_'), out: `${app}.out`, checkpoints: `${app}.binlog-checkpoints`, leader: `${app}.db.leader` };
    await db.query(`CREATE TABLE shop.${names.table} (id INT PRIMARY KEY, v VARCHAR(20), n INT)`);
    // The mock cannot create topics through the admin API: pre-create them with the partition counts we want.
    await cluster.createTopic(names.out, 4);
    await cluster.createTopic(names.checkpoints, 1);
    await cluster.createTopic(names.leader, 1);
    await cluster.createTopic('Changes.dlq', 1).catch(() => undefined);
    const dir = await mkdtemp(path.join(tmpdir(), 'kisflow-binlog-kafka-'));
    dirs.push(dir);
    await writeFile(path.join(dir, 'binlog.yml'), binlogYaml(db, names));
    return { names, dir };
  }

  function start(name: string, dir: string): ServiceProcess {
    const s = ServiceProcess.start(name, dir, cluster.bootstrap);
    services.push(s);
    return s;
  }

  /** Inserts ids [from, to) in transactions of `perTxn` rows, then updates every tenth row (a second change of the same key). */
  async function write(n: Names, from: number, to: number, perTxn = 5): Promise<void> {
    const conn = await db.connect();
    try {
      for (let i = from; i < to; i += perTxn) {
        await conn.query('START TRANSACTION');
        for (let k = i; k < Math.min(to, i + perTxn); k++) await conn.query(`INSERT INTO shop.${n.table} VALUES (?, ?, ?)`, [k, `v${k}`, 0]);
        await conn.query(`UPDATE shop.${n.table} SET n = n + 1 WHERE id >= ? AND id < ? AND id % 10 = 0`, [i, i + perTxn]);
        await conn.query('COMMIT');
      }
    } finally {
      await conn.end();
    }
  }

  interface OutRow { id: string; op: string; after: { n: number } | null }

  async function outRows(n: Names): Promise<OutRow[]> {
    return (await readTopic(cluster.bootstrap, n.out)).map((m) => JSON.parse(m.value) as OutRow);
  }

  /** Every id in [0, count) has reached the output topic, with its update (n = 1) for every tenth. */
  async function waitForAll(n: Names, count: number, timeoutMs: number): Promise<OutRow[]> {
    let last: OutRow[] = [];
    try {
      return await waitFor(`all ${count} ids in ${n.out}`, async () => {
        if ((await recordCount(a, n.out)) < count) return undefined;
        last = await outRows(n);
        const ids = new Set(last.filter((r) => r.op === 'c').map((r) => r.id));
        const updated = new Set(last.filter((r) => r.op === 'u').map((r) => r.id));
        for (let i = 0; i < count; i++) if (!ids.has(String(i)) || (i % 10 === 0 && !updated.has(String(i)))) return undefined;
        return last;
      }, timeoutMs, 500);
    } catch (err) {
      const ids = new Set(last.map((r) => r.id));
      const missing = Array.from({ length: count }, (_, i) => String(i)).filter((i) => !ids.has(i));
      throw new Error(`${(err as Error).message}: ${missing.length} missing (first ${missing.slice(0, 5).join(', ')}), ${last.length} records`);
    }
  }

  async function checkpoint(n: Names): Promise<{ file: string; pos: number; gtid: string } | undefined> {
    const records = (await readTopic(cluster.bootstrap, n.checkpoints)).filter((m) => m.key === 'db');
    const lastRecord = records.at(-1);
    return lastRecord ? (JSON.parse(lastRecord.value) as { file: string; pos: number; gtid: string }) : undefined;
  }

  /** The checkpoint reaches the binlog position of now (the other test writes too, so at or past it). */
  async function checkpointAtEnd(n: Names): Promise<void> {
    const end = await db.binlogPosition();
    let cp: { file: string; pos: number; gtid: string } | undefined;
    await waitFor('the checkpoint at the end of the binlog', async () => {
      cp = await checkpoint(n);
      return cp && /^0-1-\d+$/.test(cp.gtid) && (cp.file > end.file || (cp.file === end.file && cp.pos >= end.position)) ? true : undefined;
    }, 30_000, 500).catch((err: Error) => { throw new Error(`${err.message}: ${JSON.stringify(cp)} < ${JSON.stringify(end)}`); });
  }

  const leaderLines = (s: ServiceProcess): LogLine[] => s.lines.filter((l) => l.msg === 'binlog election: this replica reads the binlog');

  test('kill -9 mid-stream, then restart: every change reaches the output topic, resumed from the Kafka checkpoint', async (t: TestContext) => {
    const { names, dir } = await setUp();
    // A backlog in the binlog, so that the kill lands while the first process is busy with it.
    const BACKLOG = 20_000;
    const N = BACKLOG + 1_000;
    const EXPECTED = N + N / 10;
    await write(names, 0, BACKLOG, 50);
    const first = start('first', dir);
    // Three batches out (max_batch_rows 100): the checkpoint of the first is written (a checkpoint is written
    // while the next batch runs, and awaited before the one after), so the restart has one to resume from.
    await waitFor('three batches in the output topic', async () => ((await recordCount(a, names.out)) >= 300 ? true : undefined), 60_000, 20);
    first.signal('SIGKILL');
    assert.equal((await first.exited).signal, 'SIGKILL');
    const outAtKill = await recordCount(a, names.out);
    const cpAtKill = await checkpoint(names);
    assert.ok(cpAtKill, 'a checkpoint was written before the kill');
    assert.ok(outAtKill < BACKLOG, `killed mid-stream (${outAtKill} of ${EXPECTED} records out)`);
    // More changes while it is down.
    await write(names, BACKLOG, N);

    const second = start('second', dir);
    const rows = await waitForAll(names, N, 120_000);
    await checkpointAtEnd(names);
    assert.ok(second.alive, second.tail());
    const resumed = second.lines.find((l) => l.msg === 'binlog: resuming from the checkpoint');
    assert.ok(resumed, `the second process resumed from the checkpoint\n${second.tail()}`);
    assert.deepEqual({ file: resumed['file'], pos: resumed['pos'] }, { file: cpAtKill?.file, pos: cpAtKill?.pos }, 'from the last checkpoint written before the kill');
    // At least once, whole transactions: what is repeated is at most the batches that were in flight.
    const duplicates = rows.length - EXPECTED;
    t.diagnostic(`killed with ${outAtKill} of ${EXPECTED} records out; ${rows.length} records in the end, ${duplicates} duplicates (at least once)`);
    // Bound: the batch being handed on plus the one whose checkpoint write was in flight. A transaction here is
    // 55 rows (50 inserts, 5 updates) and a batch (max_batch_rows 100) never splits one: 2 x 55 rows.
    assert.ok(duplicates >= 0 && duplicates <= 2 * 55, `${duplicates} duplicates, more than the 110 that can be in flight`);
    // Every key's changes arrive in order: its insert before its update.
    const seen = new Map<string, string[]>();
    for (const r of rows) seen.set(r.id, [...(seen.get(r.id) ?? []), r.op]);
    for (const [id, ops] of seen) if (Number(id) % 10 === 0) assert.ok(ops.lastIndexOf('u') > ops.indexOf('c'), `${id}: ${ops.join(',')}`);
    assert.deepEqual(await second.stop(), { code: 0, signal: null }, `SIGTERM: a clean stop\n${second.tail()}`);
  });

  test('two replicas: only one reads; kill it, the other takes over from the checkpoint, nothing lost', async (t: TestContext) => {
    const { names, dir } = await setUp();
    const N = 1500;
    await write(names, 0, 300);
    const A = start('A', dir);
    await waitFor('A to lead', () => (leaderLines(A).length > 0 ? true : undefined), 60_000);
    await waitFor('rows from A', async () => ((await recordCount(a, names.out)) > 0 ? true : undefined), 60_000, 100);
    const restoreRtt = await slowResponsesWhileRebalancing(cluster);
    let B: ServiceProcess;
    try {
      B = start('B', dir);
      await waitFor('B to join the election', () => (B.lines.some((l) => l.msg === 'binlog election: another replica reads the binlog' || l.msg === 'binlog election: this replica reads the binlog') ? true : undefined), 90_000)
        .catch((err: Error) => { throw new Error(`${err.message}\n${B.tail(30)}\n${A.tail(30)}`); });
    } finally {
      await restoreRtt();
    }
    await write(names, 300, 800);
    await waitForAll(names, 800, 90_000);
    // Exactly one reader at a time: whoever leads now, the other does not.
    const leaderNow = (s: ServiceProcess): boolean => {
      const l = s.lines.filter((x) => /^binlog election: (this|another) replica reads/.test(String(x.msg))).at(-1);
      return l?.msg === 'binlog election: this replica reads the binlog';
    };
    assert.equal([A, B!].filter(leaderNow).length, 1, `${A.tail()}\n${B!.tail()}`);
    const reader = leaderNow(A) ? A : B!;
    const other = reader === A ? B! : A;
    const connectedBefore = other.lines.filter((l) => l.msg === 'binlog reader connected').length;
    reader.signal('SIGKILL');
    await reader.exited;
    const killedAt = Date.now();
    await write(names, 800, N);
    await waitFor(`${other.name} to take over`, () => (other.lines.filter((l) => l.msg === 'binlog reader connected').length > connectedBefore ? true : undefined), 90_000);
    const tookOverMs = Date.now() - killedAt;
    await waitForAll(names, N, 90_000);
    await checkpointAtEnd(names);
    assert.ok(leaderNow(other), other.tail());
    assert.ok(other.alive, other.tail());
    // Fencing: every checkpoint carries its term's epoch, epochs only grow in the topic, and the last one is the
    // epoch the survivor took over with (a deposed reader's late write would carry an older one and lose).
    const epochs = (await readTopic(cluster.bootstrap, names.checkpoints)).filter((m) => m.key === 'db').map((m) => (JSON.parse(m.value) as { epoch?: number }).epoch);
    assert.ok(epochs.every((e) => typeof e === 'number'), `every checkpoint has an epoch: ${JSON.stringify(epochs.slice(0, 5))}`);
    assert.ok(epochs.every((e, i) => i === 0 || e! >= epochs[i - 1]!), 'epochs never go back in the checkpoint topic');
    const survivorEpoch = leaderLines(other).at(-1)?.['epoch'];
    assert.equal(epochs.at(-1), survivorEpoch, 'the last checkpoint is the survivor\'s term');
    assert.ok(new Set(epochs).size >= 2 && epochs[0]! < epochs.at(-1)!, 'the killed reader\'s term, then a newer one');
    // The survivor's own log times (the poll above adds up to 250 ms): lease taken, checkpoint read, connected.
    const after = (msg: string): string => {
      const l = other.lines.find((x) => x.msg === msg && typeof x['time'] === 'number' && (x['time'] as number) >= killedAt);
      return l ? `${(l['time'] as number) - killedAt} ms` : '-';
    };
    t.diagnostic(`${reader.name} read first and was killed; ${other.name} took over after ${tookOverMs} ms (polled); from its log: ` +
      `lease ${after('binlog election: this replica reads the binlog')}, checkpoint ${after('binlog: resuming from the checkpoint')}, connected ${after('binlog reader connected')}`);
    assert.deepEqual(await other.stop(), { code: 0, signal: null }, `SIGTERM: a clean stop\n${other.tail()}`);
  });

  test('the reader paused (SIGSTOP) past its lease: the standby takes over; resumed, the old reader commits nothing more', async (t: TestContext) => {
    const { names, dir } = await setUp();
    await write(names, 0, 300);
    const A = start('A', dir);
    await waitFor('A to lead', () => (leaderLines(A).length > 0 ? true : undefined), 60_000);
    const B = start('B', dir);
    await waitFor('B to follow', () => (B.lines.some((l) => l.msg === 'binlog election: another replica reads the binlog') ? true : undefined), 60_000);
    await waitForAll(names, 300, 60_000);
    const connectedBefore = B.lines.filter((l) => l.msg === 'binlog reader connected').length;
    A.signal('SIGSTOP');
    try {
      await write(names, 300, 600);
      await waitFor('B to take over', () => (B.lines.filter((l) => l.msg === 'binlog reader connected').length > connectedBefore ? true : undefined), 60_000);
      await waitForAll(names, 600, 60_000);
    } finally {
      A.signal('SIGCONT');
    }
    // A wakes up believing it reads; its lease has run out, so it may hand nothing on nor checkpoint until
    // it reads the log, which says B holds the lease.
    await write(names, 600, 900);
    await waitForAll(names, 900, 60_000);
    await checkpointAtEnd(names);
    const epochs = (await readTopic(cluster.bootstrap, names.checkpoints)).filter((m) => m.key === 'db').map((m) => (JSON.parse(m.value) as { epoch?: number }).epoch!);
    const bEpoch = leaderLines(B).at(-1)?.['epoch'] as number;
    assert.ok(epochs.every((e, i) => i === 0 || e >= epochs[i - 1]!), `no checkpoint of A's term after B's first: ${JSON.stringify([...new Set(epochs)])}`);
    assert.equal(epochs.at(-1), bEpoch, "the last checkpoint is B's term");
    assert.ok(A.alive && B.alive, `${A.tail()}\n${B.tail()}`);
    t.diagnostic(`A after SIGCONT: ${A.lines.filter((l) => /^binlog election/.test(String(l.msg))).map((l) => l.msg).slice(-2).join(' / ')}`);
    assert.deepEqual(await A.stop(), { code: 0, signal: null }, A.tail());
    assert.deepEqual(await B.stop(), { code: 0, signal: null }, B.tail());
  });
});
