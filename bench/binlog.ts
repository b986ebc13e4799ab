// The binlog benchmark (npm run bench:binlog; not part of npm test). MySQL binlog -> flow bench_binlog
// (verify, map in JS; kis.sink to a Kafka topic; bench/binlog-config/) against a hand-written zongji ->
// the same verify and map -> kafkajs produce loop, on a private MariaDB and the librdkafka mock cluster, in
// the same run.
//
// Throughput: the binlog is loaded first (BENCH_ROWS single-row transactions, then BENCH_ROWS rows in
// transactions of BENCH_TXN_ROWS), then each side reads that stretch from its start position into a fresh
// topic, and is timed from its first output record to its last (the service's start-up, the election
// included, is outside the timing, as is the baseline's connect). Both must deliver exactly the rows in.
// Latency: rows are inserted at BENCH_RATE rows/s (a transaction of BENCH_RATE/100 rows every 10 ms), each
// stamped with its insert time; a kafkajs consumer in this process reads the output and the latency of a
// row is its arrival minus its stamp (commit to topic, plus the meter's own fetch wait).
//
// Each phase runs BENCH_ROUNDS rounds over the same stretch, alternating which side goes first; the
// headline is the best round of each side (the machine is shared), the median is shown too.
//
// Each side runs in a child process of its own (this file with BENCH_CHILD set), so that its CPU figure is
// its own: the meter here polls the topic's watermarks every 20 ms, which costs this process about a tenth
// of a core, and counted in the side's process it charged each side for the meter for as long as the side
// took to start (the service's election waits for its consumer group; the baseline only connects).
//
// Snapshot: the service with snapshot: initial reads the whole table (every row of the phases above) into a
// fresh topic, against a hand-written loop of primary-key chunks (SELECT ... LIMIT 1000, the same map,
// kafkajs acks all, the last key fsynced after each send); rows/s from the first output record to the last.
//
// Env: BENCH_ROWS (200000), BENCH_TXN_ROWS (100), BENCH_RATE (5000), BENCH_LATENCY_SECONDS (15; 0 skips),
// BENCH_ROUNDS (3), BENCH_SNAPSHOT_ROUNDS (3; 0 skips), BENCH_SIDES (service,baseline).
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtemp, open, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ZongJi, { type AnyBinlogEvent } from '@vlasky/zongji';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import type { BinlogSourceParamsT } from '../src/config/codecs.js';
import type { FlowContext } from '../src/core/context.js';
import type { KisPool } from '../src/core/pool.js';
import type { Row } from '../src/kernel/types.js';
import { createLogger, silentLogger } from '../src/observability/logger.js';
import { prepareApp } from '../src/runtime/app.js';
import { KisService } from '../src/runtime/service.js';
import { connectionOptions, mysql } from '../src/sources/binlog/sql.js';
import { randomName, startMockCluster, type MockCluster } from '../test/infra/kafka-mock/index.js';
import { startMariaDb, type MariaDb } from '../test/infra/mariadb/index.js';
import { useKafkaCodec } from '../src/kafka/codec/index.js';
import { envInt, nowMs } from './common.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const CONFIG_DIR = path.join(HERE, 'binlog-config');
const PARTITIONS = 8;

const ROWS = envInt('BENCH_ROWS', 200_000);
const TXN_ROWS = Math.max(1, envInt('BENCH_TXN_ROWS', 100));
const RATE = Math.max(100, envInt('BENCH_RATE', 5_000));
const LATENCY_SECONDS = envInt('BENCH_LATENCY_SECONDS', 15);
const ROUNDS = Math.max(1, envInt('BENCH_ROUNDS', 3));
const SNAPSHOT_ROUNDS = envInt('BENCH_SNAPSHOT_ROUNDS', 3);
const SIDES = (process.env['BENCH_SIDES'] || 'service,baseline').split(',').map((s) => s.trim()) as Side[];
type Side = 'service' | 'baseline';

// BENCH_MARKS=1 prints the monotonic clock (µs, the clock of --cpu-prof's samples) at each side's start, first and last record.
const mark = (what: string): void => {
  if (process.env['BENCH_MARKS']) console.log(`mark ${what} ${process.hrtime.bigint() / 1000n}`);
};

const mb = (n: number): string => `${Math.round(n / 1024 / 1024)} MB`;

let peakRss = process.memoryUsage.rss();
/** Per side, the peak RSS its processes reported (throughput phases). */
const sidePeakRss: Record<Side, number> = { service: 0, baseline: 0 };
setInterval(() => { peakRss = Math.max(peakRss, process.memoryUsage.rss()); }, 100).unref();

// ---- the two steps, shared by the service's functions and the baseline ------------------------------

function verifyReason(r: Row): string | undefined {
  const after = r['after'] as Record<string, unknown> | null;
  // Snapshot rows (op r) are the rows as they are: inserts for the output.
  if ((r['op'] !== 'c' && r['op'] !== 'r') || !after) return 'not an insert';
  return Number(after['amount']) > 0 ? undefined : 'amount must be positive';
}

function mapRow(r: Row): Row {
  const a = r['after'] as Record<string, unknown>;
  return { key: String(a['id']), id: a['id'], userid: a['userid'], amount: a['amount'], stamp: a['stamp'], file: (r['position'] as { file: string }).file, pos: (r['position'] as { pos: number }).pos };
}

function register(pool: KisPool): void {
  pool
    .faas('bench.verify', (flow: FlowContext, rows: readonly Row[]) => {
      for (const r of rows) {
        const why = verifyReason(r);
        if (why) flow.reject(r, why);
        else flow.commitRow(r, r);
      }
    })
    .faas('bench.map', (flow, rows) => {
      for (const r of rows) flow.commitRow(mapRow(r), r);
    });
}

// ---- the sides -----------------------------------------------------------------------------------

interface Running {
  stop(): Promise<void>;
}

/** What a side needs of the database: its address, and a root connection (the snapshot baseline). */
type Db = Pick<MariaDb, 'host' | 'port' | 'connect'>;

interface Target {
  readonly db: Db;
  readonly bootstrap: string;
  readonly start: { file: string; pos: number };
  readonly out: string;
  readonly checkpoint: string;
  /** The snapshot phase: read the table first (the service: snapshot: initial; the baseline: SELECT chunks). */
  readonly snapshot?: boolean;
}

async function startService(t: Target): Promise<Running> {
  const env = { ...process.env, KAFKA_BROKERS: t.bootstrap, BENCH_DB_ADDR: `${t.db.host}:${t.db.port}`, BENCH_START: `${t.start.file}:${t.start.pos}`, BENCH_OUT: t.out, BENCH_CHECKPOINT: t.checkpoint, BENCH_SNAPSHOT: t.snapshot ? 'initial' : 'none' };
  const app = await prepareApp(CONFIG_DIR, { env, register });
  // BENCH_LOG=warn (or info) shows the service's log on stderr.
  const svc = KisService.create(app.config, { pool: app.pool, logger: process.env['BENCH_LOG'] ? createLogger({ level: process.env['BENCH_LOG'], destination: process.stderr }) : silentLogger() });
  const running = svc.run();
  running.catch((err: unknown) => { console.error('service failed:', err); process.exit(1); });
  return { async stop() { svc.stop(); await running; } };
}

/**
 * The hand-written loop, doing what a careful one does: zongji from the start position, rows gathered per
 * transaction (verify, map), sent in batches of whole transactions of up to 500 rows with acks all, and the
 * position written (fsynced file) after each send, with zongji's connection paused while 10 batches wait.
 */
async function startBaseline(t: Target): Promise<Running> {
  const kafka = new Kafka({ clientId: 'bench-baseline', brokers: t.bootstrap.split(','), logLevel: logLevel.NOTHING });
  const producer = kafka.producer({ allowAutoTopicCreation: true });
  await producer.connect();
  const params: BinlogSourceParamsT = { user: 'root', password: '', tables: ['bench.orders'] };
  const zj = new ZongJi(connectionOptions(`${t.db.host}:${t.db.port}`, params));
  const queue: Array<{ rows: Row[]; file: string; pos: number }> = [];
  let queued = 0;
  let current: Row[] = [];
  let file = t.start.file;
  let wake: (() => void) | undefined;
  let paused = false;
  zj.on('binlog', (e: AnyBinlogEvent) => {
    const name = e.getEventName();
    if (name === 'rotate') file = (e as AnyBinlogEvent & { binlogName: string }).binlogName;
    else if (name === 'writerows') {
      const ev = e as AnyBinlogEvent & { rows: Array<Record<string, unknown>>; tableMap: Record<number, { parentSchema: string; tableName: string }>; tableId: number };
      for (const image of ev.rows) {
        const row: Row = { op: 'c', schema: 'bench', table: 'orders', pk: { id: image['id'] }, before: null, after: image, position: { file, pos: e.nextPosition, gtid: '' }, ts_ms: e.timestamp };
        if (!verifyReason(row)) current.push(mapRow(row));
      }
    } else if (name === 'xid') {
      queue.push({ rows: current, file, pos: e.nextPosition });
      queued += current.length;
      current = [];
      if (queued > 5_000 && !paused) {
        paused = true;
        zj.connection?.pause();
      }
      wake?.();
    }
  });
  zj.on('error', (err) => { console.error('baseline zongji failed:', err); process.exit(1); });
  zj.start({ serverId: 9_999, filename: t.start.file, position: t.start.pos, includeEvents: ['rotate', 'tablemap', 'writerows', 'xid'], includeSchema: { bench: ['orders'] } });
  let running = true;
  const loop = (async () => {
    while (running) {
      if (queue.length === 0) {
        await new Promise<void>((r) => { wake = r; setTimeout(r, 50); });
        continue;
      }
      const rows: Row[] = [];
      let last = queue[0]!;
      while (queue.length > 0 && (rows.length === 0 || rows.length + queue[0]!.rows.length <= 500)) {
        last = queue.shift()!;
        for (const r of last.rows) rows.push(r);
      }
      queued -= rows.length;
      if (rows.length > 0) await producer.send({ topic: t.out, acks: -1, messages: rows.map((r) => ({ key: String(r['key']), value: JSON.stringify(r) })) });
      const tmp = `${t.checkpoint}.tmp`;
      await writeFile(tmp, JSON.stringify({ file: last.file, pos: last.pos }));
      const fh = await open(tmp, 'r');
      await fh.sync();
      await fh.close();
      await rename(tmp, t.checkpoint);
      if (paused && queued < 2_500) {
        paused = false;
        zj.connection?.resume();
      }
    }
  })();
  return {
    async stop() {
      running = false;
      wake?.();
      await loop;
      await new Promise<void>((r) => { zj.once('stopped', () => r()); zj.stop(); setTimeout(r, 3_000); });
      await producer.disconnect();
    },
  };
}

/** The hand-written snapshot: primary-key chunks of 1000, mapped, sent (acks all), the last key fsynced after each send. */
async function startSnapshotBaseline(t: Target): Promise<Running> {
  const kafka = new Kafka({ clientId: 'bench-baseline', brokers: t.bootstrap.split(','), logLevel: logLevel.NOTHING });
  const producer = kafka.producer({ allowAutoTopicCreation: true });
  await producer.connect();
  const conn = await t.db.connect();
  let running = true;
  const loop = (async () => {
    let after = -1;
    while (running) {
      const [found] = await conn.query('SELECT * FROM bench.orders WHERE id > ? ORDER BY id LIMIT 1000', [after]) as unknown as [Array<Record<string, unknown>>];
      if (found.length === 0) break;
      after = Number(found[found.length - 1]!['id']);
      const rows = found.map((image) => mapRow({ op: 'r', schema: 'bench', table: 'orders', pk: { id: image['id'] }, before: null, after: image, position: { file: t.start.file, pos: t.start.pos, gtid: '' }, ts_ms: 0 }));
      await producer.send({ topic: t.out, acks: -1, messages: rows.map((r) => ({ key: String(r['key']), value: JSON.stringify(r) })) });
      const tmp = `${t.checkpoint}.tmp`;
      await writeFile(tmp, JSON.stringify({ table: 'bench.orders', after }));
      const fh = await open(tmp, 'r');
      await fh.sync();
      await fh.close();
      await rename(tmp, t.checkpoint);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      await conn.end();
      await producer.disconnect();
    },
  };
}

const starters: Record<Side, (t: Target) => Promise<Running>> = { service: startService, baseline: startBaseline };
const snapshotStarters: Record<Side, (t: Target) => Promise<Running>> = { service: startService, baseline: startSnapshotBaseline };

// ---- one side in a child process -------------------------------------------------------------------

/** What the parent sends a child to start: the side, and the target without its database handle. */
interface ChildOrder {
  readonly side: Side;
  readonly target: Omit<Target, 'db'> & { readonly db: { readonly host: string; readonly port: number } };
}

type ChildReport = { type: 'started' } | { type: 'cpu'; cpu: NodeJS.CpuUsage; peakRss: number } | { type: 'stopped' };

interface Launched {
  /** The child's CPU since its side's starter returned, and its peak RSS. */
  cpu(): Promise<{ cpu: NodeJS.CpuUsage; peakRss: number }>;
  stop(): Promise<void>;
  /** Why the child exited before it was stopped (undefined while it runs). */
  died(): string | undefined;
}

/** Starts `side` in a child process (this file, with the same loader and flags, --cpu-prof included). */
async function launch(side: Side, t: Target): Promise<Launched> {
  const order: ChildOrder = { side, target: { ...t, db: { host: t.db.host, port: t.db.port } } };
  const proc: ChildProcess = fork(fileURLToPath(import.meta.url), [], { env: { ...process.env, BENCH_CHILD: JSON.stringify(order) }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  let died: string | undefined;
  let stopping = false;
  const waiting = new Map<ChildReport['type'], (r: ChildReport | undefined) => void>();
  const next = (type: ChildReport['type']): Promise<ChildReport | undefined> => new Promise((resolve) => {
    if (died) resolve(undefined);
    else waiting.set(type, resolve);
  });
  const exited = new Promise<void>((resolve) => proc.once('exit', (code, signal) => {
    if (!stopping) died = `${side}: its process exited (code ${code}, signal ${signal})`;
    for (const w of waiting.values()) w(undefined);
    waiting.clear();
    resolve();
  }));
  proc.on('message', (m: ChildReport) => {
    const w = waiting.get(m.type);
    waiting.delete(m.type);
    w?.(m);
  });
  if ((await next('started')) === undefined) throw new Error(died ?? `${side}: did not start`);
  return {
    async cpu() {
      const r = next('cpu');
      proc.send('cpu');
      const m = await r;
      if (m?.type !== 'cpu') throw new Error(died ?? `${side}: no CPU figure`);
      return { cpu: m.cpu, peakRss: m.peakRss };
    },
    async stop() {
      stopping = true;
      if (!died) proc.send('stop');
      await exited;
    },
    died: () => died,
  };
}

/** The child's part of launch(): starts the side, reports its CPU when asked, stops when told. */
async function child(order: ChildOrder): Promise<void> {
  const { host, port } = order.target.db;
  const t: Target = { ...order.target, db: { host, port, connect: () => mysql.createConnection({ host, port, user: 'root', password: '', supportBigNumbers: true }) } };
  // The hand loops run on kafkajs's own code; the service on KisFlow's codec (src/kafka/codec/).
  useKafkaCodec(order.side === 'service' ? 'kisflow' : 'kafkajs');
  const run = await (t.snapshot ? snapshotStarters : starters)[order.side](t);
  // Counted from here, as before the sides had processes of their own: what the side does after its starter returned.
  const cpu0 = process.cpuUsage();
  mark(`${order.side} counted`);
  const send = (r: ChildReport): void => void process.send!(r);
  process.on('message', (m: string) => {
    if (m === 'cpu') send({ type: 'cpu', cpu: process.cpuUsage(cpu0), peakRss: Math.max(peakRss, process.memoryUsage.rss()) });
    else if (m === 'stop') {
      run.stop().then(() => process.exit(0), (err: unknown) => {
        console.error(`${order.side} failed to stop:`, err);
        process.exit(1);
      });
    }
  });
  process.on('disconnect', () => process.exit(1));
  send({ type: 'started' });
}

// ---- measuring -----------------------------------------------------------------------------------

async function topicCount(a: Admin, topic: string): Promise<number> {
  const offsets = await a.fetchTopicOffsets(topic);
  return offsets.reduce((s, p) => s + Number(p.high), 0);
}

/** Runs one side over the loaded stretch of binlog; rows/s from its first output record to its last. */
async function throughput(side: Side, base: Omit<Target, 'out' | 'checkpoint'>, cluster: MockCluster, a: Admin, expected: number, dir: string): Promise<{ rowsPerSec: number; seconds: number; cpuUsPerRow: number; startCpuUsPerRow: number }> {
  const out = randomName(`bench-binlog-${side}`);
  await cluster.createTopic(out, PARTITIONS);
  const t: Target = { ...base, out, checkpoint: path.join(dir, `${out}.json`) };
  mark(`${side} start`);
  const run = await launch(side, t);
  // CPU of the side's process from its start to its last row (the meter's polls are this process's, not counted).
  let cpu: NodeJS.CpuUsage = { user: 0, system: 0 };
  // Its CPU when its first record is seen: what it spent starting (and on the rows of its first batches).
  let atFirst: Promise<{ cpu: NodeJS.CpuUsage }> | undefined;
  let first: number | undefined;
  let last = 0;
  let seen = 0;
  let lastChange = Date.now();
  try {
    while (seen < expected) {
      const n = await topicCount(a, out);
      const now = nowMs();
      if (n > 0 && first === undefined) {
        first = now;
        atFirst = run.cpu();
        mark(`${side} first`);
      }
      if (n !== seen) lastChange = Date.now();
      seen = n;
      last = now;
      if (Date.now() - lastChange > 60_000) throw new Error(`${side}: stalled at ${seen} of ${expected} rows`);
      const died = run.died();
      if (died) throw new Error(died);
      if (seen < expected) await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    mark(`${side} last`);
    await atFirst?.catch(() => undefined);
    if (!run.died()) {
      const r = await run.cpu();
      cpu = r.cpu;
      sidePeakRss[side] = Math.max(sidePeakRss[side], r.peakRss);
    }
    await run.stop();
  }
  if (seen !== expected) throw new Error(`${side}: ${seen} rows out, expected ${expected}`);
  const seconds = (last - (first ?? last)) / 1000;
  const start = atFirst ? (await atFirst).cpu : cpu;
  return { rowsPerSec: expected / Math.max(seconds, 0.001), seconds, cpuUsPerRow: (cpu.user + cpu.system) / expected, startCpuUsPerRow: (start.user + start.system) / expected };
}

async function insertSingleRows(db: MariaDb, from: number, count: number): Promise<void> {
  const conns = await Promise.all(Array.from({ length: 8 }, () => db.connect()));
  try {
    let next = from;
    await Promise.all(conns.map(async (c) => {
      for (;;) {
        const id = next++;
        if (id >= from + count) return;
        await c.query('INSERT INTO bench.orders VALUES (?, ?, ?, ?, ?)', [id, `u${id % 1000}`, (1 + (id % 500) / 100).toFixed(2), 'paid', Date.now()]);
      }
    }));
  } finally {
    await Promise.all(conns.map((c) => c.end()));
  }
}

function valuesFor(from: number, count: number, stamp: number): string {
  return Array.from({ length: count }, (_, k) => {
    const id = from + k;
    return `(${id}, 'u${id % 1000}', ${(1 + (id % 500) / 100).toFixed(2)}, 'paid', ${stamp})`;
  }).join(',');
}

async function insertBatched(db: MariaDb, from: number, count: number): Promise<void> {
  const conns = await Promise.all(Array.from({ length: 4 }, () => db.connect()));
  try {
    let next = from;
    await Promise.all(conns.map(async (c) => {
      for (;;) {
        const id = next;
        next += TXN_ROWS;
        if (id >= from + count) return;
        await c.query(`INSERT INTO bench.orders VALUES ${valuesFor(id, Math.min(TXN_ROWS, from + count - id), Date.now())}`);
      }
    }));
  } finally {
    await Promise.all(conns.map((c) => c.end()));
  }
}

/** Rows inserted at RATE rows/s while `side` runs; latency = arrival at a consumer here - insert stamp. */
async function latency(side: Side, base: Omit<Target, 'out' | 'checkpoint' | 'db'> & { readonly db: MariaDb }, cluster: MockCluster, idFrom: number, dir: string): Promise<{ p50: number; p99: number; max: number; rows: number }> {
  const out = randomName(`bench-binlog-lat-${side}`);
  await cluster.createTopic(out, PARTITIONS);
  const start = await base.db.binlogPosition();
  const t: Target = { ...base, start: { file: start.file, pos: start.position }, out, checkpoint: path.join(dir, `${out}.json`) };
  const kafka = new Kafka({ clientId: 'bench-meter', brokers: base.bootstrap.split(','), logLevel: logLevel.NOTHING });
  const meter = kafka.consumer({ groupId: randomName('bench-meter'), maxWaitTimeInMs: 10, minBytes: 1 });
  await meter.connect();
  await meter.subscribe({ topics: [out], fromBeginning: true });
  const lat: number[] = [];
  await meter.run({ eachMessage: async ({ message }) => { lat.push(nowMs() - Number((JSON.parse(message.value!.toString()) as { stamp: number }).stamp)); } });
  const run = await launch(side, t);
  // Let the side connect (and the service win its election) before the timed inserts.
  await new Promise((r) => setTimeout(r, 6_000));
  const perTick = Math.max(1, Math.round(RATE / 100));
  const conn = await base.db.connect();
  const total = LATENCY_SECONDS * RATE;
  const t0 = nowMs();
  let id = idFrom;
  try {
    for (let tick = 0; id < idFrom + total; tick++) {
      const due = t0 + tick * 10;
      const wait = due - nowMs();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      await conn.query(`INSERT INTO bench.orders VALUES ${valuesFor(id, perTick, Date.now())}`);
      id += perTick;
    }
    const end = Date.now() + 30_000;
    while (lat.length < total && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
  } finally {
    await conn.end();
    await run.stop();
    await meter.disconnect();
  }
  if (lat.length < total) throw new Error(`${side}: ${lat.length} of ${total} rows arrived`);
  lat.sort((a, b) => a - b);
  const q = (p: number): number => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))]!;
  return { p50: q(0.5), p99: q(0.99), max: lat[lat.length - 1]!, rows: lat.length };
}

async function main(): Promise<void> {
  console.log(`binlog bench: ${ROWS} single-row + ${ROWS} batched (${TXN_ROWS}/txn) rows, latency at ${RATE} rows/s for ${LATENCY_SECONDS} s; ${os.cpus().length} cpus, node ${process.version}`);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'kisflow-bench-binlog-'));
  // Durability relaxed on the database only: the benchmark measures reading the binlog, not fsyncs of InnoDB.
  const [db, cluster] = await Promise.all([
    startMariaDb({ extraArgs: ['--innodb-flush-log-at-trx-commit=2', '--sync-binlog=0', '--innodb-buffer-pool-size=128M'] }),
    startMockCluster({ brokers: 1 }),
  ]);
  const a = new Kafka({ clientId: 'bench-admin', brokers: cluster.bootstrap.split(','), logLevel: logLevel.NOTHING }).admin();
  await a.connect();
  const results: string[] = [];
  try {
    await db.query('CREATE DATABASE bench');
    await db.query('CREATE TABLE bench.orders (id BIGINT PRIMARY KEY, userid VARCHAR(20), amount DECIMAL(10,2), status VARCHAR(10), stamp BIGINT)');
    const phases: Array<[string, (from: number) => Promise<void>]> = [
      ['single-row transactions', (from) => insertSingleRows(db, from, ROWS)],
      [`batched (${TXN_ROWS} rows per transaction)`, (from) => insertBatched(db, from, ROWS)],
    ];
    let idFrom = 0;
    for (const [name, load] of phases) {
      if (ROWS === 0) break;
      const before = await db.binlogPosition();
      const t0 = Date.now();
      await load(idFrom);
      idFrom += ROWS;
      console.log(`\n${name}: loaded ${ROWS} rows in ${((Date.now() - t0) / 1000).toFixed(1)} s (binlog ${before.file}:${before.position} -> ${(await db.binlogPosition()).position})`);
      const base = { db, bootstrap: cluster.bootstrap, start: { file: before.file, pos: before.position } };
      const got: Record<Side, number[]> = { service: [], baseline: [] };
      for (let round = 0; round < ROUNDS; round++) {
        const order = round % 2 === 0 ? SIDES : [...SIDES].reverse();
        for (const side of order) {
          const r = await throughput(side, base, cluster, a, ROWS, dir);
          got[side].push(r.rowsPerSec);
          console.log(`  round ${round + 1} ${side.padEnd(8)} ${Math.round(r.rowsPerSec).toLocaleString('en-US').padStart(9)} rows/s  (${r.seconds.toFixed(2)} s first to last record; CPU ${r.cpuUsPerRow.toFixed(1)} µs/row, start-up included: ${r.startCpuUsPerRow.toFixed(1)} up to the first record)`);
        }
      }
      const best = (xs: number[]): number => Math.max(...xs);
      const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
      if (got.service.length > 0 && got.baseline.length > 0) {
        const line = `${name}: service ${Math.round(best(got.service))} rows/s (median ${Math.round(median(got.service))}), baseline ${Math.round(best(got.baseline))} rows/s (median ${Math.round(median(got.baseline))}), ` +
          `ratio best ${(best(got.service) / best(got.baseline)).toFixed(3)}, median ${(median(got.service) / median(got.baseline)).toFixed(3)}`;
        console.log(`  ${line}`);
        results.push(line);
      }
    }
    if (SNAPSHOT_ROUNDS > 0 && ROWS > 0) {
      const [{ n }] = await db.query<Array<{ n: number }>>('SELECT COUNT(*) AS n FROM bench.orders') as [{ n: number }];
      const tableRows = Number(n);
      console.log(`\nsnapshot of one table (${tableRows} rows, chunks of 1000):`);
      const at = await db.binlogPosition();
      const base = { db, bootstrap: cluster.bootstrap, start: { file: at.file, pos: at.position }, snapshot: true };
      const got: Record<Side, number[]> = { service: [], baseline: [] };
      const cpu: Record<Side, number[]> = { service: [], baseline: [] };
      for (let round = 0; round < SNAPSHOT_ROUNDS; round++) {
        const order = round % 2 === 0 ? SIDES : [...SIDES].reverse();
        for (const side of order) {
          const r = await throughput(side, base, cluster, a, tableRows, dir);
          got[side].push(r.rowsPerSec);
          cpu[side].push(r.cpuUsPerRow);
          console.log(`  round ${round + 1} ${side.padEnd(8)} ${Math.round(r.rowsPerSec).toLocaleString('en-US').padStart(9)} rows/s  (${r.seconds.toFixed(2)} s first to last record; CPU ${r.cpuUsPerRow.toFixed(1)} µs/row, start-up included: ${r.startCpuUsPerRow.toFixed(1)} up to the first record)`);
        }
      }
      const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
      for (const side of SIDES) {
        const line = `snapshot ${side}: median ${Math.round(median(got[side]))} rows/s, best ${Math.round(Math.max(...got[side]))}, CPU median ${median(cpu[side]).toFixed(1)} µs/row`;
        console.log(`  ${line}`);
        results.push(line);
      }
    }
    if (LATENCY_SECONDS > 0) {
      console.log(`\nlatency at ${RATE} rows/s (${Math.round(RATE / 100)} rows per transaction every 10 ms), ${LATENCY_SECONDS} s:`);
      for (const side of SIDES) {
        const r = await latency(side, { db, bootstrap: cluster.bootstrap, start: { file: '', pos: 0 } }, cluster, idFrom, dir);
        idFrom += LATENCY_SECONDS * RATE;
        const line = `${side} latency: p50 ${r.p50.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms, max ${r.max.toFixed(1)} ms over ${r.rows} rows`;
        console.log(`  ${line}`);
        results.push(line);
      }
    }
    console.log(`\npeak RSS: ${SIDES.map((s) => `${s} ${mb(sidePeakRss[s])}`).join(', ')} (each side's own process); ${mb(peakRss)} in the meter and load generator's process`);
    console.log(`\nsummary:\n  ${results.join('\n  ')}`);
  } finally {
    await a.disconnect().catch(() => undefined);
    await cluster.stop();
    await db.stop();
    await rm(dir, { recursive: true, force: true });
  }
  process.exit(0);
}

const childOrder = process.env['BENCH_CHILD'];
if (childOrder) await child(JSON.parse(childOrder) as ChildOrder);
else await main();
