// Keyed state and co-partitioned stream joins on Kafka (issue 4), over TCP to the librdkafka mock
// cluster; nothing is faked. One cluster for the file; each test has its own topics, app_id (so its own
// consumer groups and changelog topics) and dead-letter topics. Every assertion is on state: rows in a
// topic, records of a changelog, committed offsets, metric values. Tests 2 and 3 run the real CLI
// (`node dist/src/cli/main.js run`, so `npm run build` first), the others run KisService in this process.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test, type TestContext } from 'node:test';
import type { Admin } from 'kafkajs';
import { Registry } from 'prom-client';
import { kcatProduce, randomName, startMockCluster, type KcatMessage, type MockCluster } from '../infra/kafka-mock/index.js';
import { partitionForKey } from '../../src/kernel/partitioner.js';
import { silentLogger } from '../../src/observability/logger.js';
import { PromFlowObserver } from '../../src/observability/metrics.js';
import { prepareApp } from '../../src/runtime/app.js';
import { KisService } from '../../src/runtime/service.js';
import { changelogTopic } from '../../src/kernel/names.js';
import {
  admin as makeAdmin,
  committedToEnd,
  readTopic,
  recordCount,
  ServiceProcess,
  slowResponsesWhileRebalancing,
  waitFor,
} from './kafka-helpers.js';

const PARTITIONS = 4;
/** Keys land where kafkajs and the Java client put them (kcat's own default is CRC32). */
const MURMUR2 = { config: { 'topic.partitioner': 'murmur2_random' }, timeoutMs: 60_000 };
const BATCH_ROWS = 200;

let cluster: MockCluster;
let adm: Admin;
before(async () => {
  cluster = await startMockCluster({ brokers: 3 });
  adm = makeAdmin(cluster.bootstrap);
  await adm.connect();
});
after(async () => {
  await adm?.disconnect().catch(() => undefined);
  await cluster?.stop();
});

// ---- config ---------------------------------------------------------------------------------------

interface JoinNames {
  readonly app: string;
  readonly orders: string;
  readonly pays: string;
  readonly saved: string;
  readonly out: string;
  readonly dlqSave: string;
  readonly dlqJoin: string;
  /** The counter's input, output and dead letters (tests 2 and 4). */
  readonly events: string;
  readonly counts: string;
  readonly dlqCount: string;
}

function joinNames(): JoinNames {
  return {
    app: randomName('app'), orders: randomName('orders'), pays: randomName('pays'), saved: randomName('saved'), out: randomName('joined'),
    dlqSave: randomName('dlq-save'), dlqJoin: randomName('dlq-join'), events: randomName('events'), counts: randomName('counts'), dlqCount: randomName('dlq-count'),
  };
}

interface JoinOptions {
  /** Params of the Load step (join, join_window_ms, join_as), as YAML flow-mapping entries. */
  readonly joinParams?: string;
  /** params.partitions of connector o; absent: whatever its topic has. */
  readonly savedPartitions?: number;
  /** params.table_restore of the saved-orders connector (default here: topic; the service's default is changelog). */
  readonly tableRestore?: 'changelog' | 'topic';
  /** Adds the events source and the CountEvents flow (countPerKey with this option.state) sinking to counts. */
  readonly counterState?: string;
  /** Sink the counter's output to the counts topic (default true). */
  readonly counterSink?: boolean;
  /** host:port for /metrics. */
  readonly metrics?: string;
  /** option.state of the join's Load func (bounds its held and table stores). */
  readonly loadState?: string;
  /** commit_interval_ms of the pays source (absent: every chunk). */
  readonly paysCommitIntervalMs?: number;
}

/** SaveOrders (orders -> Save to connector o), JoinPays (pays -> Load from o, joined -> out), and optionally CountEvents. */
function joinYaml(n: JoinNames, o: JoinOptions = {}): string {
  const global = [
    'kistype: global',
    `app_id: ${n.app}`,
    'kafka: { brokers: "${KAFKA_BROKERS}" }',
    'functions: [fns.ts]',
    'reload_interval_ms: 0',
    ...(o.metrics ? ['prometheus_enable: true', 'prometheus_listen: true', `prometheus_serve: "${o.metrics}"`] : []),
  ].join('\n');
  const counter = o.counterState === undefined ? '' : `
---
kistype: source
sid: events
type: kafka
params: { topics: [${n.events}], from_beginning: true, max_batch_rows: ${BATCH_ROWS}, max_wait_ms: 50 }
flows: [CountEvents]
---
kistype: flow
flow_name: CountEvents
dead_letter: { topic: ${n.dlqCount} }
flows: [{ fid: Count }${o.counterSink === false ? '' : ', { fid: OutCounts }'}]
---
kistype: func
fid: Count
fname: countPerKey
fmode: Calculate
option: { state: ${o.counterState} }
---
kistype: func
fid: OutCounts
fname: kis.sink
fmode: Expand
option: { default_params: { to: topic, topic: ${n.counts}, key: key } }`;
  return `${global}
---
kistype: source
sid: orders
type: kafka
params: { topics: [${n.orders}], from_beginning: true, max_batch_rows: ${BATCH_ROWS}, max_wait_ms: 50 }
flows: [SaveOrders]
---
kistype: source
sid: pays
type: kafka
params: { topics: [${n.pays}], from_beginning: true, max_batch_rows: ${BATCH_ROWS}, max_wait_ms: 50${o.paysCommitIntervalMs !== undefined ? `, commit_interval_ms: ${o.paysCommitIntervalMs}` : ''} }
flows: [JoinPays]
---
kistype: conn
cid: o
type: kafka
key: orderid
params: { topic: ${n.saved}, table_restore: ${o.tableRestore ?? 'topic'}${o.savedPartitions !== undefined ? `, partitions: ${o.savedPartitions}` : ''} }
---
kistype: flow
flow_name: SaveOrders
dead_letter: { topic: ${n.dlqSave} }
flows: [{ fid: S }]
---
kistype: flow
flow_name: JoinPays
dead_letter: { topic: ${n.dlqJoin} }
flows: [{ fid: L${o.joinParams ? `, params: { ${o.joinParams} }` : ''} }, { fid: Out }]
---
kistype: func
fid: S
fmode: Save
option: { cid: o }
---
kistype: func
fid: L
fmode: Load
option: { cid: o${o.loadState ? `, state: ${o.loadState}` : ''} }
---
kistype: func
fid: Out
fname: kis.sink
fmode: Expand
option: { default_params: { to: topic, topic: ${n.out}, key: orderid } }${counter}
`;
}

/** A function module in the format of config/functions: a counter per key on keyed state (option.state). */
const FUNCTIONS_MODULE = `import type { FlowContext, KisPool, Row } from 'kisflow';

export default (pool: KisPool): void => {
  pool.faas('countPerKey', (flow: FlowContext, rows: readonly Row[]) => {
    const st = flow.state<number>();
    for (const row of rows) {
      const key = String(row['key']);
      const n = (st.get(key) ?? 0) + 1;
      st.set(key, n);
      flow.commitRow({ key, n }, row);
    }
  });
};
`;

interface Setup {
  readonly n: JoinNames;
  readonly dir: string;
  cleanup(): Promise<void>;
}

/** Topics pre-created with 4 partitions (the mock refuses CreateTopics), the config directory written. */
async function setUp(o: JoinOptions = {}, n: JoinNames = joinNames(), topics: Record<string, number> = {}): Promise<Setup> {
  const counts: Record<string, number> = { [n.orders]: PARTITIONS, [n.pays]: PARTITIONS, [n.saved]: PARTITIONS, [n.out]: PARTITIONS, ...topics };
  if (o.counterState !== undefined) {
    counts[n.events] ??= PARTITIONS;
    counts[n.counts] ??= PARTITIONS;
  }
  for (const [t, p] of Object.entries(counts)) await cluster.createTopic(t, p);
  const dir = await configDir(n, o);
  return { n, dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** A config directory: the YAML and the function module. */
async function configDir(n: JoinNames, o: JoinOptions): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'kisflow-join-'));
  await writeFile(path.join(dir, 'c.yml'), joinYaml(n, o));
  await writeFile(path.join(dir, 'fns.ts'), FUNCTIONS_MODULE);
  return dir;
}

interface InProcess {
  readonly svc: KisService;
  readonly registry: Registry;
  readonly running: Promise<unknown>;
  stop(): Promise<void>;
}

async function startInProcess(dir: string): Promise<InProcess> {
  const prepared = await prepareApp(dir, { env: { ...process.env, KAFKA_BROKERS: cluster.bootstrap } });
  const registry = new Registry();
  const observer = new PromFlowObserver(registry);
  const svc = KisService.create(prepared.config, { pool: prepared.pool, logger: silentLogger(), observer, sourceObserver: observer, stateObserver: observer });
  const running = svc.run();
  running.catch(() => undefined);
  return {
    svc,
    registry,
    running,
    async stop() {
      svc.stop();
      await running;
    },
  };
}

// ---- rows -----------------------------------------------------------------------------------------

/** A deterministic PRNG, so a failing shuffle can be replayed from the seed in the diagnostics. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

function shuffle<T>(xs: T[], rnd: () => number): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [xs[i], xs[j]] = [xs[j]!, xs[i]!];
  }
  return xs;
}

const amountOf = (i: number): number => (i % 50) + 1;
const paidOf = (i: number): number => (i % 7) + 10;
const orderLine = (i: number): { key: string; value: string } => ({ key: `o${i}`, value: JSON.stringify({ orderid: `o${i}`, amount: amountOf(i) }) });
const payLine = (i: number): { key: string; value: string } => ({ key: `o${i}`, value: JSON.stringify({ orderid: `o${i}`, paid: paidOf(i) }) });
const joinedRow = (i: number): Record<string, unknown> => ({ orderid: `o${i}`, amount: amountOf(i), paid: paidOf(i) });
const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, k) => from + k);

/**
 * Orders and payments of `ids`, each side shuffled and cut into `chunks` kcat calls; the calls of both
 * sides go out in a random order, so for some keys the payment comes first and for others the order.
 */
async function produceInterleaved(n: JoinNames, ids: readonly number[], chunks: number, rnd: () => number): Promise<string[]> {
  const calls: Array<{ topic: string; side: string; lines: Array<{ key: string; value: string }> }> = [];
  for (const [topic, side, line] of [[n.orders, 'orders', orderLine], [n.pays, 'pays', payLine]] as const) {
    const order = shuffle([...ids], rnd);
    const size = Math.ceil(order.length / chunks);
    for (let c = 0; c < order.length; c += size) calls.push({ topic, side, lines: order.slice(c, c + size).map(line) });
  }
  shuffle(calls, rnd);
  for (const c of calls) await kcatProduce(cluster.bootstrap, c.topic, c.lines, MURMUR2);
  return calls.map((c) => `${c.side}:${c.lines.length}`);
}

interface JoinReport {
  readonly records: number;
  readonly distinct: number;
  readonly duplicates: number;
  readonly missing: string[];
  readonly unexpected: string[];
  /** orderids whose record differs from the expected row (any copy). */
  readonly wrong: string[];
}

/** Compares the output topic with the expected row per orderid: missing, unexpected, wrong values, extra copies. */
function compareJoined(messages: readonly KcatMessage[], expected: ReadonlyMap<string, Record<string, unknown>>): JoinReport {
  const seen = new Map<string, number>();
  const wrong = new Set<string>();
  for (const m of messages) {
    const row = JSON.parse(m.value) as Record<string, unknown>;
    const id = String(row['orderid']);
    seen.set(id, (seen.get(id) ?? 0) + 1);
    const want = expected.get(id);
    if (want && (m.key !== id || !isDeepStrictEqual(row, want))) wrong.add(id);
  }
  return {
    records: messages.length,
    distinct: seen.size,
    duplicates: messages.length - seen.size,
    missing: [...expected.keys()].filter((k) => !seen.has(k)),
    unexpected: [...seen.keys()].filter((k) => !expected.has(k)),
    wrong: [...wrong],
  };
}

function isDeepStrictEqual(a: unknown, b: unknown): boolean {
  try {
    assert.deepStrictEqual(a, b);
    return true;
  } catch {
    return false;
  }
}

/** Replays a changelog topic the way a restore does: the live keys per partition at its end. */
async function changelogState(topic: string): Promise<{ records: number; tombstones: number; live: Map<number, Map<string, unknown>> }> {
  const msgs = await readTopic(cluster.bootstrap, topic);
  const live = new Map<number, Map<string, unknown>>();
  let tombstones = 0;
  for (const m of msgs.sort((a, b) => a.partition - b.partition || a.offset - b.offset)) {
    const p = live.get(m.partition) ?? new Map<string, unknown>();
    live.set(m.partition, p);
    if (m.value === '') {
      tombstones++;
      p.delete(m.key ?? '');
    } else {
      p.set(m.key ?? '', (JSON.parse(m.value) as { v: unknown }).v);
    }
  }
  return { records: msgs.length, tombstones, live };
}

const liveKeys = (s: { live: Map<number, Map<string, unknown>> }): number => [...s.live.values()].reduce((a, m) => a + m.size, 0);

/** Waits until the group has committed the end of every topic given. */
async function waitCommitted(groupId: string, topics: readonly string[], timeoutMs = 90_000): Promise<void> {
  await waitFor(`group ${groupId} to commit the end of ${topics.join(', ')}`, async () => {
    for (const t of topics) if (!(await committedToEnd(adm, groupId, t))) return undefined;
    return true;
  }, timeoutMs, 500);
}

/** The sum of a metric's values whose labels include `labels`. */
async function metricSum(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = registry.getSingleMetric(name);
  if (!metric) return 0;
  const values = (await metric.get()).values;
  return values.filter((v) => Object.entries(labels).every(([k, x]) => String(v.labels[k]) === x)).reduce((a, v) => a + v.value, 0);
}

/** Values of a metric from a Prometheus text exposition whose labels include `labels`, by their full label set. */
function scrape(text: string, name: string, labels: Record<string, string> = {}): Array<{ labels: Record<string, string>; value: number }> {
  const out: Array<{ labels: Record<string, string>; value: number }> = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const ls: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"/g)) ls[l[1]!] = l[2]!;
    if (Object.entries(labels).every(([k, v]) => ls[k] === v)) out.push({ labels: ls, value: Number(m[3]) });
  }
  return out;
}

async function fetchMetrics(hostPort: string): Promise<string> {
  const res = await fetch(`http://${hostPort}/metrics`);
  if (!res.ok) throw new Error(`/metrics on ${hostPort}: HTTP ${res.status}`);
  return res.text();
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

const heldStore = 'L.0.held';
const tableStore = 'L.0.table';

/** Keys held by the join, over every partition whose state is in this process. */
function tableKeys(svc: KisService): number {
  return svc.state.partitions('JoinPays').reduce((a, p) => a + svc.state.store('JoinPays', tableStore, p).size, 0);
}

function heldKeys(svc: KisService): number {
  return svc.state.partitions('JoinPays').reduce((a, p) => a + svc.state.store('JoinPays', heldStore, p).size, 0);
}

// ---- 1. in-process joins ----------------------------------------------------------------------------

test('inner join, 10,000 orders x 10,000 payments arriving in random order: exactly the 10,000 joined rows, no duplicates, nothing left held', async (t: TestContext) => {
  const s = await setUp({ joinParams: 'join: inner', tableRestore: 'changelog' });
  const { n } = s;
  const seed = Date.now() % 1_000_000;
  const N = 10_000;
  const svc = await startInProcess(s.dir);
  try {
    await waitFor('readiness', () => (svc.svc.readiness().ready ? true : undefined), 60_000);
    const calls = await produceInterleaved(n, range(0, N), 5, mulberry32(seed));
    await waitFor(`${N} joined rows`, async () => ((await recordCount(adm, n.out)) >= N ? true : undefined), 120_000, 250);
    // Offsets are committed after what a batch produced is acknowledged: once both groups committed the
    // end of their topics, the output topic is final.
    await waitCommitted(`${n.app}.orders`, [n.orders]);
    await waitCommitted(`${n.app}.pays`, [n.pays, n.saved]);
    const expected = new Map(range(0, N).map((i) => [`o${i}`, joinedRow(i)]));
    const report = compareJoined(await readTopic(cluster.bootstrap, n.out), expected);
    t.diagnostic(`seed ${seed}; produce order ${calls.join(' ')}; ${report.records} records, ${report.duplicates} duplicates`);
    assert.deepEqual(report.missing, []);
    assert.deepEqual(report.unexpected, []);
    assert.deepEqual(report.wrong.slice(0, 5), [], 'every joined row is the order merged with its payment');
    assert.equal(report.duplicates, 0, 'an uninterrupted run joins each orderid exactly once');
    assert.equal(heldKeys(svc.svc), 0, 'nothing is left held');
    // Held rows went through the held store's changelog (some payments came first) and every one was deleted again.
    const held = await changelogState(changelogTopic(n.app, 'JoinPays', heldStore));
    assert.equal(liveKeys(held), 0, 'the held changelog ends with every key deleted');
    // The table holds every saved order in the store of its own partition, and (table_restore: changelog, the
    // default) in its own changelog too; with table_restore: topic it writes none (test 3 restores from the topic).
    for (const p of svc.svc.state.partitions('JoinPays')) {
      for (const [k] of svc.svc.state.store('JoinPays', tableStore, p).entries()) assert.equal(partitionForKey(k, PARTITIONS), p, `order ${k} is in the table of its own partition`);
    }
    assert.equal(tableKeys(svc.svc), N, 'the table stores hold every saved order');
    assert.equal(liveKeys(await changelogState(changelogTopic(n.app, 'JoinPays', tableStore))), N, 'the table changelog holds every saved order');
    t.diagnostic(`held changelog: ${held.records} records (${held.tombstones} tombstones)`);
    assert.deepEqual(await readTopic(cluster.bootstrap, n.dlqJoin), [], 'no dead letters');
  } finally {
    await svc.stop();
    await s.cleanup();
  }
});

test('left join with join_window_ms: payments whose order never comes are emitted unmatched after the window, and the held store ends empty', async (t: TestContext) => {
  const s = await setUp({ joinParams: 'join: left, join_window_ms: 5000, join_as: order' });
  const { n } = s;
  const N = 2_000;
  const LOST = 500; // o0 .. o499 never get an order
  const svc = await startInProcess(s.dir);
  try {
    await waitFor('readiness', () => (svc.svc.readiness().ready ? true : undefined), 60_000);
    // Both sides at once (the table keeps an order for the window too, so a match must come within it).
    const rnd = mulberry32(7);
    await Promise.all([
      kcatProduce(cluster.bootstrap, n.pays, shuffle(range(0, N), rnd).map(payLine), MURMUR2),
      kcatProduce(cluster.bootstrap, n.orders, shuffle(range(LOST, N), rnd).map(orderLine), MURMUR2),
    ]);
    await waitFor(`${N} rows out`, async () => ((await recordCount(adm, n.out)) >= N ? true : undefined), 60_000, 250);
    await waitCommitted(`${n.app}.pays`, [n.pays, n.saved]);
    await waitFor('the held store to be empty', () => (heldKeys(svc.svc) === 0 ? true : undefined), 30_000);
    const expected = new Map(range(0, N).map((i) => [`o${i}`, {
      orderid: `o${i}`, paid: paidOf(i), order: i < LOST ? null : { orderid: `o${i}`, amount: amountOf(i) },
    }]));
    const report = compareJoined(await readTopic(cluster.bootstrap, n.out), expected);
    assert.deepEqual(report.missing, []);
    assert.deepEqual(report.unexpected, []);
    assert.deepEqual(report.wrong.slice(0, 5), [], 'matched payments carry their order under join_as; the others order: null');
    assert.equal(report.duplicates, 0);
    const held = await changelogState(changelogTopic(n.app, 'JoinPays', heldStore));
    assert.equal(liveKeys(held), 0, 'the held changelog ends with every key deleted');
    assert.ok(held.records - held.tombstones >= LOST, `each unmatched payment was held (changelog: ${held.records} records, ${held.tombstones} tombstones)`);
    const keysGauge = await metricSum(svc.registry, 'kisflow_state_keys', { flow_id: 'JoinPays', store: heldStore });
    assert.equal(keysGauge, 0, 'kisflow_state_keys of the held store is 0 on every partition');
    assert.deepEqual(await readTopic(cluster.bootstrap, n.dlqJoin), [], 'a left join dead-letters nothing');
    t.diagnostic(`held changelog: ${held.records} records, ${held.tombstones} tombstones`);
  } finally {
    await svc.stop();
    await s.cleanup();
  }
});

test('commit_interval_ms: state changes between two commits are flushed once, before the commit; payments held and released within one interval write nothing to the held changelog', async (t: TestContext) => {
  // One interval longer than the test: the only commit of the pays group is the one of the graceful stop.
  const s = await setUp({ joinParams: 'join: inner', paysCommitIntervalMs: 600_000 });
  const { n } = s;
  const N = 2_000;
  const svc = await startInProcess(s.dir);
  try {
    await waitFor('readiness', () => (svc.svc.readiness().ready ? true : undefined), 60_000);
    // Every payment first (all held), then their orders (all released): within the one interval.
    await kcatProduce(cluster.bootstrap, n.pays, range(0, N).map(payLine), MURMUR2);
    await waitFor(`${N} payments held`, () => {
      try {
        return heldKeys(svc.svc) === N ? true : undefined;
      } catch {
        return undefined; // a partition still restoring
      }
    }, 60_000);
    assert.equal(await committedSum(`${n.app}.pays`, n.pays), 0, 'nothing of pays is committed within the interval');
    await kcatProduce(cluster.bootstrap, n.orders, range(0, N).map(orderLine), MURMUR2);
    await waitFor(`${N} joined rows`, async () => ((await recordCount(adm, n.out)) >= N ? true : undefined), 60_000, 250);
    await svc.stop();
    // The graceful stop flushed the state and then committed both topics of the group to their ends.
    assert.ok(await committedToEnd(adm, `${n.app}.pays`, n.pays), 'pays committed to its end at the stop');
    assert.ok(await committedToEnd(adm, `${n.app}.pays`, n.saved), 'the saved topic committed to its end at the stop');
    const report = compareJoined(await readTopic(cluster.bootstrap, n.out), new Map(range(0, N).map((i) => [`o${i}`, joinedRow(i)])));
    assert.deepEqual(report.missing, []);
    assert.equal(report.duplicates, 0);
    // Every payment was held and released between two flushes (the service's tick changed nothing, so it did not flush).
    const held = await changelogState(changelogTopic(n.app, 'JoinPays', heldStore));
    t.diagnostic(`held changelog: ${held.records} records (${held.tombstones} tombstones) for ${N} payments held and released`);
    assert.equal(held.records, 0, 'the held changelog got nothing');
    assert.equal(await recordCount(adm, changelogTopic(n.app, 'JoinPays', tableStore)).catch(() => 0), 0, 'no table changelog');
  } finally {
    await svc.stop().catch(() => undefined);
    await s.cleanup();
  }
});

/** Offsets a group committed on a topic, summed (partitions without a commit count 0). */
async function committedSum(groupId: string, topic: string): Promise<number> {
  const [c] = await adm.fetchOffsets({ groupId, topics: [topic] });
  return (c?.partitions ?? []).reduce((a, p) => a + Math.max(0, Number(p.offset)), 0);
}

// ---- 2. crash and restart ---------------------------------------------------------------------------

/** The last value per key of a topic written by the counter ({ key, n }), by offset within its partition. */
async function finalCounts(topic: string): Promise<Map<string, number>> {
  const msgs = (await readTopic(cluster.bootstrap, topic)).sort((a, b) => a.partition - b.partition || a.offset - b.offset);
  const out = new Map<string, number>();
  for (const m of msgs) out.set(m.key ?? '', (JSON.parse(m.value) as { n: number }).n);
  return out;
}

test('kill -9 mid-stream and restart: every orderid joined, duplicates bounded by what was in flight; a keyed counter restores from its changelog and never undercounts', async (t: TestContext) => {
  const metrics = `127.0.0.1:${await freePort()}`;
  const s = await setUp({ joinParams: 'join: inner', counterState: '{}', metrics });
  const { n } = s;
  const N1 = 10_000; // orders and payments before the crash
  const N2 = 2_000; // and after it
  const E1 = 40_000; // counter events before the crash (the counter is faster than the join)
  const E2 = 2_000;
  const KEYS = 100;
  const eventLine = (i: number): { key: string; value: string } => ({ key: `k${i % KEYS}`, value: JSON.stringify({ key: `k${i % KEYS}`, i }) });
  const services: ServiceProcess[] = [];
  try {
    const seed = Date.now() % 1_000_000;
    const rnd = mulberry32(seed);
    await produceInterleaved(n, range(0, N1), 4, rnd);
    await kcatProduce(cluster.bootstrap, n.events, range(0, E1).map(eventLine), MURMUR2);
    const first = ServiceProcess.start('first', s.dir, cluster.bootstrap);
    services.push(first);
    const countLog = changelogTopic(n.app, 'CountEvents', 'Count');
    // Well into the stream: the join's table has orders (committed in the pays group) and the counter state in its changelog.
    await waitFor('1,000 joined rows, saved orders committed by the join, and state in the changelog', async () => {
      assert.ok(first.alive, first.tail());
      if ((await recordCount(adm, n.out)) < 1000 || (await recordCount(adm, countLog).catch(() => 0)) === 0) return undefined;
      const [saved] = await adm.fetchOffsets({ groupId: `${n.app}.pays`, topics: [n.saved] });
      return saved?.partitions.some((p) => Number(p.offset) > 0) ? true : undefined;
    }, 90_000, 25);
    first.signal('SIGKILL');
    assert.equal((await first.exited).signal, 'SIGKILL');
    const outAtKill = await recordCount(adm, n.out);
    const outEndsAtKill = new Map((await adm.fetchTopicOffsets(n.out)).map((o) => [o.partition, Number(o.high)]));
    const countsAtKill = await recordCount(adm, n.counts);
    assert.ok(outAtKill < N1, `the crash came mid-stream (${outAtKill} of ${N1} joined rows were out)`);
    assert.ok(countsAtKill < E1, `the crash came mid-stream for the counter too (${countsAtKill} of ${E1} counts were out)`);

    // More of both sides while nothing runs, then the restart.
    await produceInterleaved(n, range(N1, N1 + N2), 2, rnd);
    await kcatProduce(cluster.bootstrap, n.events, range(E1, E1 + E2).map(eventLine), MURMUR2);
    const second = ServiceProcess.start('second', s.dir, cluster.bootstrap);
    services.push(second);
    const N = N1 + N2;
    await waitFor(`${N} joined rows`, async () => {
      assert.ok(second.alive, second.tail());
      return (await recordCount(adm, n.out)) >= N ? true : undefined;
    }, 150_000, 500);
    await waitCommitted(`${n.app}.orders`, [n.orders]);
    await waitCommitted(`${n.app}.pays`, [n.pays, n.saved]);
    await waitCommitted(`${n.app}.events`, [n.events]);

    // The join: the same rows as an uninterrupted run, plus copies of what was in flight.
    const outRows = await readTopic(cluster.bootstrap, n.out);
    const report = compareJoined(outRows, new Map(range(0, N).map((i) => [`o${i}`, joinedRow(i)])));
    assert.deepEqual(report.missing, [], 'every orderid joined at least once');
    assert.deepEqual(report.unexpected, []);
    assert.deepEqual(report.wrong.slice(0, 5), []);
    // A batch's output and its state changes are acknowledged before its offsets are committed, and each
    // partition has at most two uncommitted chunks (the one in progress, the one being committed) per topic
    // of the group: 4 partitions x 2 chunks x 200 rows for each of the two topics. Re-running them joins
    // again what they joined: a payment that found its order, a saved order that released a held payment
    // whose tombstone was not yet flushed; and a payment that was held (and flushed) is held a second time,
    // so it is joined twice when its order comes, both copies after the restart.
    const joinBound = PARTITIONS * 2 * BATCH_ROWS * 2;
    assert.ok(report.duplicates <= joinBound, `${report.duplicates} duplicate joined rows, more than the ${joinBound} that can be in flight`);

    // The counter: at least once, so never below the true count; the excess is what was replayed over state
    // that already held it (flushed, not yet committed): at most 4 partitions x 2 chunks x 200 rows.
    const counts = await finalCounts(n.counts);
    const truth = (E1 + E2) / KEYS;
    const under = [...range(0, KEYS)].filter((k) => (counts.get(`k${k}`) ?? 0) < truth);
    assert.deepEqual(under.map((k) => `k${k}=${counts.get(`k${k}`) ?? 0}`), [], `no key counts fewer than the ${truth} events it had`);
    const excess = [...counts.values()].reduce((a, c) => a + (c - truth), 0);
    const countBound = PARTITIONS * 2 * BATCH_ROWS;
    assert.ok(excess <= countBound, `counts exceed the truth by ${excess} in all, more than the ${countBound} that can be replayed`);

    // The restart restored the counter's state from its changelog: the log line, and the metric.
    const restoredLines = second.lines.filter((l) => l.msg === 'state restored' && l['flow'] === 'CountEvents' && l['store'] === 'Count');
    assert.ok(restoredLines.length > 0 && restoredLines.every((l) => Number(l['records']) > 0), `'state restored' of CountEvents/Count: ${second.tail()}`);
    const text = await fetchMetrics(metrics);
    const restored = scrape(text, 'kisflow_state_restored_records_total', { flow_id: 'CountEvents', store: 'Count' }).reduce((a, v) => a + v.value, 0);
    assert.equal(restored, restoredLines.reduce((a, l) => a + Number(l['records']), 0), 'kisflow_state_restored_records_total counts the records restored');
    assert.ok(restored > 0);
    // Where the extra copies come from: copies written before the kill and again after it, or both after.
    const copies = new Map<string, { before: number; after: number }>();
    for (const m of outRows) {
      const c = copies.get(m.key ?? '') ?? { before: 0, after: 0 };
      if (m.offset < (outEndsAtKill.get(m.partition) ?? 0)) c.before++;
      else c.after++;
      copies.set(m.key ?? '', c);
    }
    const dupKeys = [...copies.values()].filter((c) => c.before + c.after > 1);
    const heldTwice = await heldTwiceRecords(changelogTopic(n.app, 'JoinPays', heldStore));
    const joinRestored = scrape(text, 'kisflow_state_restored_records_total', { flow_id: 'JoinPays' }).map((v) => `${v.labels['store']}=${v.value}`);
    const tableRestored = scrape(text, 'kisflow_state_restored_records_total', { flow_id: 'JoinPays', store: tableStore }).reduce((a, v) => a + v.value, 0);
    assert.ok(tableRestored > 0, `the join's table was restored too: ${joinRestored.join(' ')}`);
    // From the connector's topic, up to what the pays group had committed of it (the group hands on the rest again).
    const tableLines = second.lines.filter((l) => l.msg === 'state restored' && l['store'] === tableStore);
    assert.ok(tableLines.length > 0 && tableLines.every((l) => l['topic'] === n.saved), `the table restored from ${n.saved}: ${second.tail()}`);
    assert.equal(await recordCount(adm, changelogTopic(n.app, 'JoinPays', tableStore)).catch(() => 0), 0, 'no table changelog was written');
    assert.deepEqual(await readTopic(cluster.bootstrap, n.dlqJoin), [], 'no dead letters');
    t.diagnostic(`seed ${seed}; killed with ${outAtKill} joined rows and ${countsAtKill} counter rows out; ` +
      `joined duplicates ${report.duplicates} (bound ${joinBound}): ${dupKeys.filter((c) => c.before > 0).length} orderids out before the kill and again after, ` +
      `${dupKeys.filter((c) => c.before === 0).length} twice after the restart; held-changelog records holding one payment twice: ${heldTwice}; counter excess ${excess} over ${KEYS} keys (bound ${countBound}); ` +
      `restored records: CountEvents/Count ${restored}, JoinPays ${joinRestored.join(' ')}`);
  } finally {
    await Promise.all(services.map((p) => p.kill()));
    await s.cleanup();
  }
});

/** Records of a held changelog whose list holds the same source position twice (a replayed payment held again). */
async function heldTwiceRecords(topic: string): Promise<number> {
  let n = 0;
  for (const m of await readTopic(cluster.bootstrap, topic)) {
    if (m.value === '') continue;
    const list = (JSON.parse(m.value) as { v: Array<{ p: { partition: number; offset: string; topic?: string } | null }> }).v;
    const at = list.map((h) => (h.p ? `${h.p.topic ?? ''}:${h.p.partition}:${h.p.offset}` : ''));
    if (new Set(at).size < at.length) n++;
  }
  return n;
}

// ---- 3. rebalance -------------------------------------------------------------------------------------

test('a second replica joins: partitions split, the state of the moved partitions goes with them (orders saved and payments held on A join on B), none lost', async (t: TestContext) => {
  const [portA, portB] = [await freePort(), await freePort()];
  const metricsA = `127.0.0.1:${portA}`;
  const metricsB = `127.0.0.1:${portB}`;
  const s = await setUp({ joinParams: 'join: inner', metrics: metricsA });
  const { n } = s;
  const dirB = await configDir(n, { joinParams: 'join: inner', metrics: metricsB });
  const N1 = 2_000; // orders saved while A is alone; their payments come after the split
  const H = 1_000; // payments held while A is alone; their orders come after the split
  const N2 = 2_000; // both sides after the split
  const FIRST_STREAMED = 100_000; // orderids of the rows streamed in while the group rebalances start here
  const services: ServiceProcess[] = [];
  try {
    const a = ServiceProcess.start('A', s.dir, cluster.bootstrap);
    services.push(a);
    await waitFor('A to be assigned the pays group', () => (a.assignments('pays', n.pays).length > 0 ? true : undefined), 60_000);
    await kcatProduce(cluster.bootstrap, n.orders, range(0, N1).map(orderLine), MURMUR2);
    await kcatProduce(cluster.bootstrap, n.pays, range(N1, N1 + H).map(payLine), MURMUR2);
    const heldLog = changelogTopic(n.app, 'JoinPays', heldStore);
    const tableKeysOf = async (metrics: string): Promise<number> => scrape(await fetchMetrics(metrics), 'kisflow_state_keys', { flow_id: 'JoinPays', store: tableStore }).reduce((x, v) => x + v.value, 0);
    await waitFor(`A's table stores to hold the ${N1} orders`, async () => ((await tableKeysOf(metricsA)) >= N1 ? true : undefined), 60_000);
    // A committed both topics of the group: B can only know these orders through the saved topic (the table's
    // changelog) and these payments through the held changelog.
    await waitCommitted(`${n.app}.pays`, [n.saved, n.pays]);
    const heldOnA = await changelogState(heldLog);
    assert.equal(liveKeys(heldOnA), H, `A holds the ${H} payments whose orders have not come`);
    const aBefore = a.assignments('pays', n.pays).length;

    const restoreRtt = await slowResponsesWhileRebalancing(cluster);
    let split: { a: number[]; b: number[] };
    let b: ServiceProcess;
    // Both sides keep arriving, in random order, while B joins: rows are in flight when partitions move.
    let streaming = true;
    let streamed = 0;
    const rndStream = mulberry32(5);
    const stream = (async () => {
      while (streaming) {
        await produceInterleaved(n, range(FIRST_STREAMED + streamed, FIRST_STREAMED + streamed + 100), 1, rndStream);
        streamed += 100;
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
    try {
      b = ServiceProcess.start('B', dirB, cluster.bootstrap);
      services.push(b);
      split = await waitFor('the pays group to be split between A and B', () => {
        assert.ok(b.alive, `B exited: ${b.tail()}`);
        assert.ok(a.alive, `A exited: ${a.tail()}`);
        const aNow = a.assignments('pays', n.pays).slice(aBefore).at(-1);
        const bNow = b.assignments('pays', n.pays).at(-1);
        if (!aNow || !bNow || aNow.length === 0 || bNow.length === 0) return undefined;
        const union = new Set([...aNow, ...bNow]);
        return union.size === PARTITIONS && aNow.length + bNow.length === PARTITIONS ? { a: aNow, b: bNow } : undefined;
      }, 120_000, 500);
      // The co-partitioning assigner gives each member partition p of both topics of the group.
      const savedOf = (s: ServiceProcess, from: number): number[] | undefined => s.assignments('pays', n.saved).slice(from).at(-1);
      assert.deepEqual(savedOf(a, aBefore), split.a, 'A has the same partitions of pays and of the saved topic');
      assert.deepEqual(savedOf(b, 0), split.b, 'B has the same partitions of pays and of the saved topic');
    } finally {
      streaming = false;
      await stream;
      await restoreRtt();
    }
    assert.equal(a.assignments('pays', n.pays)[0]?.length, PARTITIONS, 'alone, A had every partition');
    const ids = [...range(0, N1 + H + N2), ...range(FIRST_STREAMED, FIRST_STREAMED + streamed)];
    const N = ids.length;

    await kcatProduce(cluster.bootstrap, n.pays, range(0, N1).map(payLine), MURMUR2);
    await kcatProduce(cluster.bootstrap, n.orders, range(N1, N1 + H).map(orderLine), MURMUR2);
    await produceInterleaved(n, range(N1 + H, N1 + H + N2), 3, mulberry32(11));
    await waitFor(`${N} joined rows`, async () => {
      assert.ok(a.alive && b.alive, `${a.tail()}\n${b.tail()}`);
      return (await recordCount(adm, n.out)) >= N ? true : undefined;
    }, 120_000, 500);
    await waitCommitted(`${n.app}.pays`, [n.pays, n.saved]);
    const report = compareJoined(await readTopic(cluster.bootstrap, n.out), new Map(ids.map((i) => [`o${i}`, joinedRow(i)])));
    assert.deepEqual(report.missing, [], 'no join lost across the rebalance');
    assert.deepEqual(report.unexpected, []);
    assert.deepEqual(report.wrong.slice(0, 5), [], 'payments of orders saved on A joined with those orders');
    assert.equal(liveKeys(await changelogState(heldLog)), 0, 'every held payment was released');

    // B restored the table stores of its partitions from the saved topic, up to what A committed: at least the orders of phase 1 there.
    const onB = (i: number): boolean => split.b.includes(partitionForKey(`o${i}`, PARTITIONS));
    const phase1OnB = range(0, N1).filter(onB).length;
    const textB = await fetchMetrics(metricsB);
    const restoredB = scrape(textB, 'kisflow_state_restored_records_total', { flow_id: 'JoinPays', store: tableStore }).reduce((x, v) => x + v.value, 0);
    assert.ok(restoredB >= phase1OnB, `B restored ${restoredB} table records, fewer than the ${phase1OnB} orders A saved in B's partitions`);
    const heldOnB = [...heldOnA.live].filter(([p]) => split.b.includes(p)).reduce((x, [, m]) => x + m.size, 0);
    const heldRestoredB = scrape(textB, 'kisflow_state_restored_records_total', { flow_id: 'JoinPays', store: heldStore }).reduce((x, v) => x + v.value, 0);
    assert.ok(heldOnB > 0 && heldRestoredB >= heldOnB, `B restored ${heldRestoredB} held records, fewer than the ${heldOnB} payments A held in B's partitions`);
    for (const store of [tableStore, heldStore]) {
      const restoredLines = b.lines.filter((l) => l.msg === 'state restored' && l['store'] === store);
      assert.deepEqual([...new Set(restoredLines.map((l) => Number(l['partition'])))].sort(), [...split.b].sort(), `B restored ${store} of each of its partitions: ${b.tail()}`);
    }
    // A let go of the state of the partitions it lost (kisflow_state_keys is 0 there) and kept its own.
    const textA = await fetchMetrics(metricsA);
    for (const p of split.b) {
      for (const store of [tableStore, heldStore]) {
        assert.deepEqual(scrape(textA, 'kisflow_state_keys', { flow_id: 'JoinPays', store, partition: String(p) }).map((v) => v.value), [0], `A's ${store} of partition ${p}, which moved to B`);
      }
    }
    const tableKeysA = split.a.map((p) => scrape(textA, 'kisflow_state_keys', { flow_id: 'JoinPays', store: tableStore, partition: String(p) })[0]?.value ?? 0);
    assert.ok(tableKeysA.every((k) => k > 0), `A's table stores of its own partitions: ${JSON.stringify(tableKeysA)}`);
    // Every payment of B's partitions went out through B's sink, and A's through A's.
    const sunk = async (metrics: string): Promise<number> => scrape(await fetchMetrics(metrics), 'kisflow_func_rows_total', { flow_id: 'JoinPays', func_name: 'Out', outcome: 'in' }).reduce((x, v) => x + v.value, 0);
    // (The rows streamed during the rebalance went to either side, so they only count in the totals.)
    const paysOnB = range(0, N1 + H + N2).filter(onB).length;
    const paysOnA = N1 + H + N2 - paysOnB;
    const [outA, outB] = [await sunk(metricsA), await sunk(metricsB)];
    assert.ok(outB >= paysOnB, `B sank ${outB} joined rows, fewer than the ${paysOnB} payments of its partitions`);
    assert.ok(outA >= paysOnA, `A sank ${outA} joined rows, fewer than the ${paysOnA} payments of its partitions`);
    assert.ok(outA + outB >= N, `A and B sank ${outA + outB} joined rows, fewer than the ${N} payments`);
    assert.deepEqual(await readTopic(cluster.bootstrap, n.dlqJoin), [], 'no dead letters');
    t.diagnostic(`split A ${JSON.stringify(split.a)} B ${JSON.stringify(split.b)}; B restored ${restoredB} table records (${phase1OnB} orders saved on A in its partitions) ` +
      `and ${heldRestoredB} held records (${heldOnB} payments held on A in its partitions); ` +
      `${streamed} orders and payments streamed in during the rebalance; ` +
      `joined rows sunk: A ${outA} (its payments outside the stream ${paysOnA}), B ${outB} (${paysOnB}); total ${N}, duplicates ${report.duplicates}`);
  } finally {
    await Promise.all(services.map((p) => p.kill()));
    await s.cleanup();
    await rm(dirB, { recursive: true, force: true });
  }
});

// ---- 4. bounds --------------------------------------------------------------------------------------

test('max_keys bounds a store: a flood of 20,000 distinct keys keeps 1,000 per partition, kisflow_state_evictions_total counts the rest', async (t: TestContext) => {
  const MAX = 1000;
  const s = await setUp({ counterState: `{ max_keys: ${MAX} }`, counterSink: false });
  const { n } = s;
  const N = 20_000;
  const svc = await startInProcess(s.dir);
  try {
    await waitFor('readiness', () => (svc.svc.readiness().ready ? true : undefined), 60_000);
    await kcatProduce(cluster.bootstrap, n.events, range(0, N).map((i) => ({ key: `k${i}`, value: JSON.stringify({ key: `k${i}` }) })), MURMUR2);
    await waitCommitted(`${n.app}.events`, [n.events]);
    // What each partition got, read back from the topic: evictions are what is past max_keys there.
    const perPartition = new Map<number, number>();
    for (const m of await readTopic(cluster.bootstrap, n.events)) perPartition.set(m.partition, (perPartition.get(m.partition) ?? 0) + 1);
    const expectedEvictions = [...perPartition.values()].reduce((a, c) => a + Math.max(0, c - MAX), 0);
    t.diagnostic(`keys per partition ${JSON.stringify([...perPartition].sort())}; expected evictions ${expectedEvictions}`);
    assert.ok(expectedEvictions > 0);
    assert.equal(await metricSum(svc.registry, 'kisflow_state_evictions_total', { flow_id: 'CountEvents', store: 'Count' }), expectedEvictions);
    for (const [p, c] of perPartition) {
      assert.equal(await metricSum(svc.registry, 'kisflow_state_keys', { flow_id: 'CountEvents', store: 'Count', partition: String(p) }), Math.min(c, MAX), `kisflow_state_keys of partition ${p}`);
      assert.equal(svc.svc.state.store('CountEvents', 'Count', p).size, Math.min(c, MAX), `the store of partition ${p} holds at most max_keys`);
    }
    // The changelog agrees: replayed, it leaves exactly the keys the store kept per partition (evictions of keys
    // it held wrote tombstones; a key put and evicted between two flushes wrote nothing at all).
    const log = await changelogState(changelogTopic(n.app, 'CountEvents', 'Count'));
    for (const [p, c] of perPartition) {
      assert.equal(log.live.get(p)?.size ?? 0, Math.min(c, MAX), `changelog partition ${p}`);
      const kept = [...svc.svc.state.store('CountEvents', 'Count', p).entries()].map(([k]) => k).sort();
      assert.deepEqual([...(log.live.get(p)?.keys() ?? [])].sort(), kept, `changelog partition ${p} replays to the store's keys`);
    }
    t.diagnostic(`changelog: ${log.records} records, ${log.tombstones} tombstones`);
    assert.ok(log.tombstones <= expectedEvictions, 'at most one tombstone per evicted key');
    assert.ok(log.records - log.tombstones <= N, 'at most one record per key written');
  } finally {
    await svc.stop();
    await s.cleanup();
  }
});

test('max_keys on the join\'s Load: held payments past it are evicted least recently held first and counted, the rest join when their orders come', async (t: TestContext) => {
  const MAX = 100;
  const s = await setUp({ joinParams: 'join: inner', loadState: `{ max_keys: ${MAX} }` });
  const { n } = s;
  const N = 1_000;
  const svc = await startInProcess(s.dir);
  try {
    await waitFor('readiness', () => (svc.svc.readiness().ready ? true : undefined), 60_000);
    await kcatProduce(cluster.bootstrap, n.pays, range(0, N).map(payLine), MURMUR2);
    await waitCommitted(`${n.app}.pays`, [n.pays]);
    // Per partition, the payments held last (highest offsets) are the ones kept.
    const byPartition = new Map<number, KcatMessage[]>();
    for (const m of await readTopic(cluster.bootstrap, n.pays)) byPartition.set(m.partition, [...(byPartition.get(m.partition) ?? []), m]);
    const kept = new Set<string>();
    let expectedEvictions = 0;
    for (const [p, msgs] of byPartition) {
      msgs.sort((a, b) => a.offset - b.offset);
      for (const m of msgs.slice(-MAX)) kept.add(m.key!);
      expectedEvictions += Math.max(0, msgs.length - MAX);
      assert.equal(svc.svc.state.store('JoinPays', heldStore, p).size, Math.min(msgs.length, MAX), `held payments of partition ${p}`);
      assert.equal(await metricSum(svc.registry, 'kisflow_state_keys', { flow_id: 'JoinPays', store: heldStore, partition: String(p) }), Math.min(msgs.length, MAX));
    }
    assert.equal(await metricSum(svc.registry, 'kisflow_state_evictions_total', { flow_id: 'JoinPays', store: heldStore }), expectedEvictions);
    await kcatProduce(cluster.bootstrap, n.orders, range(0, N).map(orderLine), MURMUR2);
    await waitCommitted(`${n.app}.orders`, [n.orders]);
    await waitCommitted(`${n.app}.pays`, [n.pays, n.saved]);
    const report = compareJoined(await readTopic(cluster.bootstrap, n.out), new Map([...kept].map((k) => [k, joinedRow(Number(k.slice(1)))])));
    assert.deepEqual(report.missing, []);
    assert.deepEqual(report.unexpected, [], 'an evicted payment is not joined');
    assert.equal(report.duplicates, 0);
    // never dropped silently: every evicted payment is in the dead-letter topic, with the reason
    const letters = await readTopic(cluster.bootstrap, n.dlqJoin);
    t.diagnostic(`${expectedEvictions} of ${N} held payments evicted (kisflow_state_evictions_total), ${kept.size} joined; dead letters for the evicted: ${letters.length}`);
    assert.equal(letters.length, expectedEvictions);
    const evicted = new Set(range(0, N).map((i) => JSON.parse(payLine(i).value) as { orderid: string }).map((r) => r.orderid).filter((id) => !kept.has(id)));
    assert.deepEqual(new Set(letters.map((m) => (JSON.parse(m.value) as { orderid: string }).orderid)), evicted);
    for (const m of letters) {
      assert.equal(m.headers?.['kis-error-code'], 'KIS_ERR_JOIN_EXPIRED');
      assert.match(m.headers?.['kis-error-message'] ?? '', /evicted: the store of held rows reached max_keys/);
    }
  } finally {
    await svc.stop();
    await s.cleanup();
  }
});

// ---- 5. partition counts ----------------------------------------------------------------------------

test('joined topics with different partition counts: start-up fails naming both topics and counts, before any row is processed', async (t: TestContext) => {
  // Either way round. The connector asks for its topic's own count, so only the join check objects; when
  // pays has 6, its changelogs need 6 too (the mock cannot create them, and auto-creates 4).
  for (const [paysCount, savedCount] of [[4, 6], [6, 4]] as const) {
    await t.test(`pays ${paysCount} partitions, the connector's topic ${savedCount}`, async () => {
      const names = joinNames();
      const s = await setUp({ joinParams: 'join: inner', savedPartitions: savedCount }, names, {
        [names.pays]: paysCount,
        [names.saved]: savedCount,
        [changelogTopic(names.app, 'JoinPays', heldStore)]: paysCount,
        [changelogTopic(names.app, 'JoinPays', tableStore)]: paysCount,
      });
      const { n } = s;
      try {
        await kcatProduce(cluster.bootstrap, n.pays, range(0, 20).map(payLine), MURMUR2);
        await kcatProduce(cluster.bootstrap, n.orders, range(0, 20).map(orderLine), MURMUR2);
        const svc = await startInProcess(s.dir);
        await assert.rejects(svc.running, (err: Error) => {
          assert.match(err.message, /flow 'JoinPays' joins topics that are not co-partitioned/);
          assert.ok(err.message.includes(`${n.pays} has ${paysCount} partitions`), err.message);
          assert.ok(err.message.includes(`${n.saved} has ${savedCount} partitions`), err.message);
          return true;
        });
        assert.deepEqual(svc.svc.summary().rowsIn, {}, 'no source read a row');
        assert.equal(await recordCount(adm, n.saved), 0, 'SaveOrders saved nothing');
        for (const [group, topic] of [[`${n.app}.pays`, n.pays], [`${n.app}.orders`, n.orders]] as const) {
          const [committed] = await adm.fetchOffsets({ groupId: group, topics: [topic] });
          assert.ok(committed!.partitions.every((p) => p.offset === '-1'), `group ${group} committed nothing: ${JSON.stringify(committed)}`);
        }
        assert.equal((await readTopic(cluster.bootstrap, n.out)).length, 0);
        assert.equal(await recordCount(adm, n.dlqJoin).catch(() => 0), 0);
      } finally {
        await s.cleanup();
      }
    });
  }
});

// ---- 6. misplaced keys ------------------------------------------------------------------------------

test('payments keyed with another partitioner than murmur2 reach the join on the wrong partition: dead-lettered with KIS_ERR_JOIN_PARTITION, the rest join', async (t: TestContext) => {
  const s = await setUp({ joinParams: 'join: inner' });
  const { n } = s;
  const N = 400;
  const svc = await startInProcess(s.dir);
  try {
    await waitFor('readiness', () => (svc.svc.readiness().ready ? true : undefined), 60_000);
    await kcatProduce(cluster.bootstrap, n.orders, range(0, N).map(orderLine), MURMUR2);
    await waitFor(`${N} orders saved`, async () => ((await recordCount(adm, n.saved)) >= N ? true : undefined), 60_000);
    // kcat's default partitioner (consistent_random: CRC32 of the key), not Kafka's murmur2.
    await kcatProduce(cluster.bootstrap, n.pays, range(0, N).map(payLine));
    await waitCommitted(`${n.app}.pays`, [n.pays, n.saved]);
    const pays = await readTopic(cluster.bootstrap, n.pays);
    assert.equal(pays.length, N);
    const misplaced = new Set(pays.filter((m) => partitionForKey(m.key!, PARTITIONS) !== m.partition).map((m) => m.key!));
    const placed = range(0, N).filter((i) => !misplaced.has(`o${i}`));
    t.diagnostic(`${misplaced.size} of ${N} payments landed on another partition than murmur2's`);
    assert.ok(misplaced.size > 0 && placed.length > 0, 'the two partitioners disagree on some keys and agree on others');
    const dlq = await waitFor(`${misplaced.size} dead letters`, async () => {
      const msgs = await readTopic(cluster.bootstrap, n.dlqJoin);
      return msgs.length >= misplaced.size ? msgs : undefined;
    }, 30_000);
    assert.equal(dlq.length, misplaced.size);
    assert.deepEqual(new Set(dlq.map((m) => String((JSON.parse(m.value) as { orderid: string }).orderid))), misplaced, 'exactly the misplaced payments');
    for (const m of dlq) {
      assert.equal(m.headers?.['kis-error-code'], 'KIS_ERR_JOIN_PARTITION');
      assert.equal(m.headers?.['kis-flow'], 'JoinPays');
      assert.equal(m.headers?.['kis-topic'], n.pays);
      const orderid = String((JSON.parse(m.value) as { orderid: string }).orderid);
      assert.match(m.headers?.['kis-error-message'] ?? '', new RegExp(`belongs to partition ${partitionForKey(orderid, PARTITIONS)} .* but it arrived on partition ${pays.find((x) => x.key === orderid)!.partition}`));
    }
    const report = compareJoined(await readTopic(cluster.bootstrap, n.out), new Map(placed.map((i) => [`o${i}`, joinedRow(i)])));
    assert.deepEqual(report.missing, []);
    assert.deepEqual(report.unexpected, [], 'no misplaced payment was joined');
    assert.equal(report.duplicates, 0);
    assert.equal(heldKeys(svc.svc), 0, 'and none is held');
    assert.equal(await metricSum(svc.registry, 'kisflow_dead_letters_total', { flow_id: 'JoinPays', code: 'KIS_ERR_JOIN_PARTITION' }), misplaced.size);
  } finally {
    await svc.stop();
    await s.cleanup();
  }
});
