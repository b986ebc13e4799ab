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
import { changelogTopic } from '../../src/state/state-manager.js';
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
  /** Adds the events source and the CountEvents flow (countPerKey with this option.state) sinking to counts. */
  readonly counterState?: string;
  /** Sink the counter's output to the counts topic (default true). */
  readonly counterSink?: boolean;
  /** host:port for /metrics. */
  readonly metrics?: string;
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
params: { topics: [${n.pays}], from_beginning: true, max_batch_rows: ${BATCH_ROWS}, max_wait_ms: 50 }
flows: [JoinPays]
---
kistype: conn
cid: o
type: kafka
key: orderid
params: { topic: ${n.saved}${o.savedPartitions !== undefined ? `, partitions: ${o.savedPartitions}` : ''} }
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
option: { cid: o }
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
  const dir = await mkdtemp(path.join(tmpdir(), 'kisflow-join-'));
  await writeFile(path.join(dir, 'c.yml'), joinYaml(n, o));
  await writeFile(path.join(dir, 'fns.ts'), FUNCTIONS_MODULE);
  return { n, dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
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
function heldKeys(svc: KisService): number {
  return svc.state.partitions('JoinPays').reduce((a, p) => a + svc.state.store('JoinPays', heldStore, p).size, 0);
}

// ---- 1. in-process joins ----------------------------------------------------------------------------

test('inner join, 10,000 orders x 10,000 payments arriving in random order: exactly the 10,000 joined rows, no duplicates, nothing left held', async (t: TestContext) => {
  const s = await setUp({ joinParams: 'join: inner' });
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
    const table = await changelogState(changelogTopic(n.app, 'JoinPays', tableStore));
    assert.equal(liveKeys(table), N, 'the table changelog holds every saved order');
    for (const [p, m] of table.live) for (const k of m.keys()) assert.equal(partitionForKey(k, PARTITIONS), p, `order ${k} is in the table of its own partition`);
    t.diagnostic(`held changelog: ${held.records} records (${held.tombstones} tombstones); table changelog: ${table.records} records`);
    assert.deepEqual(await readTopic(cluster.bootstrap, n.dlqJoin), [], 'no dead letters');
  } finally {
    await svc.stop();
    await s.cleanup();
  }
});

test('left join with join_window_ms: payments whose order never comes are emitted unmatched after the window, and the held store ends empty', async (t: TestContext) => {
  const s = await setUp({ joinParams: 'join: left, join_window_ms: 3000, join_as: order' });
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
    // The changelog agrees: replayed, it leaves max_keys live keys per partition (evictions wrote tombstones).
    const log = await changelogState(changelogTopic(n.app, 'CountEvents', 'Count'));
    for (const [p, c] of perPartition) assert.equal(log.live.get(p)?.size ?? 0, Math.min(c, MAX), `changelog partition ${p}`);
    assert.equal(log.tombstones, expectedEvictions, 'one tombstone per evicted key');
  } finally {
    await svc.stop();
    await s.cleanup();
  }
});

// ---- 5. partition counts ----------------------------------------------------------------------------

test('joined topics with different partition counts: start-up fails naming both topics and counts, before any row is processed', async () => {
  // pays has 4 partitions, the connector's topic 6 (and the connector asks for 6, so only the join check objects).
  const names = joinNames();
  const s = await setUp({ joinParams: 'join: inner', savedPartitions: 6 }, names, { [names.saved]: 6 });
  const { n } = s;
  try {
    await kcatProduce(cluster.bootstrap, n.pays, range(0, 20).map(payLine), MURMUR2);
    await kcatProduce(cluster.bootstrap, n.orders, range(0, 20).map(orderLine), MURMUR2);
    const svc = await startInProcess(s.dir);
    await assert.rejects(svc.running, (err: Error) => {
      assert.match(err.message, /flow 'JoinPays' joins topics that are not co-partitioned/);
      assert.ok(err.message.includes(`${n.pays} has 4 partitions`), err.message);
      assert.ok(err.message.includes(`${n.saved} has 6 partitions`), err.message);
      return true;
    });
    assert.deepEqual(svc.svc.summary().rowsIn, {}, 'no source read a row');
    assert.equal(await recordCount(adm, n.saved), 0, 'SaveOrders saved nothing');
    for (const [group, topic] of [[`${n.app}.pays`, n.pays], [`${n.app}.orders`, n.orders]] as const) {
      const [committed] = await adm.fetchOffsets({ groupId: group, topics: [topic] });
      assert.ok(committed!.partitions.every((p) => p.offset === '-1'), `group ${group} committed nothing: ${JSON.stringify(committed)}`);
    }
    assert.equal((await readTopic(cluster.bootstrap, n.out)).length, 0);
  } finally {
    await s.cleanup();
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
