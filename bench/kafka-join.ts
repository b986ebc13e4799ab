// The join benchmark (part of npm run bench:kafka; not part of npm test). A two-stream inner join of
// orders and payments by orderid at 8 partitions, on the librdkafka mock cluster:
//   service   the flow JoinPays = [Load through connector orders (join), kis.sink to a topic], its consumer
//             group reading payments and the orders topic co-partitioned, held rows and the orders table in
//             keyed state backed by changelog topics;
//   baseline  a hand-written kafkajs loop over the same two topics in one group, the same Map-based join
//             state per partition (orders by key, payments waiting for their order), producing the same rows;
// each in its own child process, on the same input, in the same run; then the restore of 1M keys from a
// changelog. Prints throughputs, the ratio, the restore time and each side's peak RSS.
//
// Env: BENCH_JOIN_ROWS (orders, and as many payments; default 100000), BENCH_RESTORE_KEYS (1000000; 0 skips),
// BENCH_CPU_PROF (a directory: each side writes a CPU profile there), BENCH_JOIN_COMMIT_INTERVAL_MS (the
// service source's commit_interval_ms; default 0, the product's default: commit after every chunk, as the loop
// does; 1000 flushes state once a second), BENCH_JOIN_TABLE_RESTORE (the orders connector's table_restore:
// changelog, the product's default, which writes the orders table's changelog, or topic, which does not),
// BENCH_SIDES (the rounds, in order; default baseline,service,service,baseline), BENCH_BEFORE_DIR (another
// checkout of this repository: the side `before` runs the service from there, to compare two versions in one run).
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Kafka, logLevel } from 'kafkajs';
import { KafkaChangelog } from '../src/connectors/kafka/changelog.js';
import { BatchProducer } from '../src/kafka/batch-producer.js';
import { silentLogger } from '../src/observability/logger.js';
import { prepareApp } from '../src/runtime/app.js';
import { KisService } from '../src/runtime/service.js';
import { coPartitionAssigner } from '../src/kafka/assigners.js';
import { StateManager } from '../src/state/state-manager.js';
import { changelogTopic } from '../src/kernel/names.js';
import { kcatProduce, randomName, startMockCluster } from '../test/infra/kafka-mock/index.js';
import { envInt } from './common.js';
import { useKafkaCodec } from '../src/kafka/codec/index.js';

const HERE = fileURLToPath(import.meta.url);
const PARTITIONS = 8;
const ROWS = Math.max(1, envInt('BENCH_JOIN_ROWS', 100_000));
const RESTORE_KEYS = envInt('BENCH_RESTORE_KEYS', 1_000_000);
const MURMUR2 = { 'topic.partitioner': 'murmur2_random', 'linger.ms': '5', 'queue.buffering.max.messages': '2000000' };
const COMMIT_INTERVAL_MS = envInt('BENCH_JOIN_COMMIT_INTERVAL_MS', 0);
const TABLE_RESTORE = process.env['BENCH_JOIN_TABLE_RESTORE'] || 'changelog';
if (TABLE_RESTORE !== 'topic' && TABLE_RESTORE !== 'changelog') throw new Error(`BENCH_JOIN_TABLE_RESTORE is topic or changelog, found ${JSON.stringify(TABLE_RESTORE)}`);
const SIDES = (process.env['BENCH_SIDES'] ?? 'baseline,service,service,baseline').split(',').map((s) => s.trim()).filter(Boolean);
const BEFORE_DIR = process.env['BENCH_BEFORE_DIR'];

interface Topics { orders: string; pays: string; out: string; appId: string }
interface SideResult { side: string; ms: number; rows: number; maxRssMb: number; /** CPU time of the side's process over the timed stretch, µs */ cpuUs: number }

async function outCount(kafka: Kafka, topic: string): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const offs = await admin.fetchTopicOffsets(topic);
    return offs.reduce((n, o) => n + Number(o.high) - Number(o.low), 0);
  } finally {
    await admin.disconnect();
  }
}

async function waitForOutput(kafka: Kafka, topic: string, want: number): Promise<void> {
  for (;;) {
    if ((await outCount(kafka, topic).catch(() => 0)) >= want) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}

// ---- the sides (child processes) -------------------------------------------------------------------

/** The timed stretch of a side: wall-clock ms and the process's CPU µs. */
interface Timed { ms: number; cpuUs: number }

async function runService(bootstrap: string, t: Topics): Promise<Timed> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'kisflow-bench-join-'));
  await writeFile(path.join(dir, 'c.yml'), `kistype: global
app_id: ${t.appId}
kafka: { brokers: "${bootstrap}" }
---
kistype: source
sid: pays
type: kafka
params: { topics: [${t.pays}], from_beginning: true, max_batch_rows: 1000, partitions_concurrently: ${PARTITIONS}, commit_interval_ms: ${COMMIT_INTERVAL_MS} }
flows: [JoinPays]
---
kistype: conn
cid: orders
type: kafka
key: orderid
params: { topic: ${t.orders}, partitions: ${PARTITIONS}, table_restore: ${TABLE_RESTORE} }
load: [L]
---
kistype: func
fid: L
fmode: Load
option: { cid: orders, state: { max_keys: ${Math.max(100_000, ROWS)} } }
---
kistype: func
fid: Out
fname: kis.sink
fmode: Expand
option: { default_params: { to: topic, topic: ${t.out}, key: orderid } }
---
kistype: flow
flow_name: JoinPays
flows: [{ fid: L }, { fid: Out }]
`);
  const app = await prepareApp(dir);
  const svc = KisService.create(app.config, { pool: app.pool, logger: silentLogger() });
  const kafka = new Kafka({ brokers: bootstrap.split(','), logLevel: logLevel.NOTHING });
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const running = svc.run();
  await waitForOutput(kafka, t.out, ROWS);
  const ms = performance.now() - t0;
  const c = process.cpuUsage(c0);
  svc.stop();
  await running;
  await rm(dir, { recursive: true, force: true });
  return { ms, cpuUs: c.user + c.system };
}

async function runBaseline(bootstrap: string, t: Topics): Promise<Timed> {
  const kafka = new Kafka({ brokers: bootstrap.split(','), logLevel: logLevel.NOTHING });
  const producer = kafka.producer();
  const consumer = kafka.consumer({ groupId: randomName('bench-join-loop'), partitionAssigners: [coPartitionAssigner], maxWaitTimeInMs: 100 });
  // per partition: orders by key, payments waiting for their order
  const orders = new Map<number, Map<string, Record<string, unknown>>>();
  const waiting = new Map<number, Map<string, Array<Record<string, unknown>>>>();
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  await producer.connect();
  await consumer.connect();
  await consumer.subscribe({ topics: [t.orders, t.pays], fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    partitionsConsumedConcurrently: PARTITIONS,
    eachBatch: async ({ batch, resolveOffset, commitOffsetsIfNecessary }) => {
      const p = batch.partition;
      const table = orders.get(p) ?? new Map<string, Record<string, unknown>>();
      orders.set(p, table);
      const held = waiting.get(p) ?? new Map<string, Array<Record<string, unknown>>>();
      waiting.set(p, held);
      const out: Array<{ key: string; value: string }> = [];
      for (const m of batch.messages) {
        const key = m.key!.toString();
        const row = JSON.parse(m.value!.toString()) as Record<string, unknown>;
        if (batch.topic === t.orders) {
          table.set(key, row);
          const w = held.get(key);
          if (w) {
            held.delete(key);
            for (const pay of w) out.push({ key, value: JSON.stringify({ ...row, ...pay }) });
          }
        } else {
          const order = table.get(key);
          if (order) out.push({ key, value: JSON.stringify({ ...order, ...row }) });
          else held.set(key, [...(held.get(key) ?? []), row]);
        }
      }
      if (out.length > 0) await producer.send({ topic: t.out, acks: -1, messages: out });
      const last = batch.messages[batch.messages.length - 1];
      if (last) {
        resolveOffset(last.offset);
        await consumer.commitOffsets([{ topic: batch.topic, partition: p, offset: (BigInt(last.offset) + 1n).toString() }]);
      }
      await commitOffsetsIfNecessary();
    },
  });
  await waitForOutput(kafka, t.out, ROWS);
  const ms = performance.now() - t0;
  const c = process.cpuUsage(c0);
  await consumer.disconnect();
  await producer.disconnect();
  return { ms, cpuUs: c.user + c.system };
}

if (process.argv[2] === '--side') {
  const [, , , side, bootstrap, json] = process.argv;
  const t = JSON.parse(json!) as Topics;
  // The hand loop runs on kafkajs's own code; the service on KisFlow's codec (src/kafka/codec/).
  useKafkaCodec(side === 'service' ? 'kisflow' : 'kafkajs');
  const { ms, cpuUs } = side === 'service' ? await runService(bootstrap!, t) : await runBaseline(bootstrap!, t);
  process.send!({ side: side!, ms, cpuUs, rows: ROWS, maxRssMb: Math.round(process.resourceUsage().maxRSS / 1024) } satisfies SideResult);
  process.exit(0);
}

// ---- the driver --------------------------------------------------------------------------------------

async function side(name: string, bootstrap: string, t: Topics): Promise<SideResult> {
  // BENCH_CPU_PROF=<dir>: each side writes a V8 CPU profile there (node --cpu-prof), to see where its time goes.
  const prof = process.env['BENCH_CPU_PROF'] ? ['--cpu-prof', `--cpu-prof-dir=${process.env['BENCH_CPU_PROF']}`] : [];
  // `before`: the service of another checkout (BENCH_BEFORE_DIR), run by its copy of this file.
  const file = name === 'before' ? path.join(BEFORE_DIR ?? '', 'bench', 'kafka-join.ts') : HERE;
  const child = fork(file, ['--side', name === 'before' ? 'service' : name, bootstrap, JSON.stringify(t)], { execArgv: ['--import', 'tsx', ...prof], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const [msg] = await once(child, 'message') as [SideResult];
  await once(child, 'exit');
  return { ...msg, side: name };
}

async function restoreBench(bootstrap: string, mock: { createTopic(name: string, partitions: number): Promise<void> }): Promise<{ keys: number; ms: number }> {
  // 16 partitions keep each under the mock's ~100k records per partition
  const parts = 16;
  const appId = randomName('benchrestore');
  const topic = changelogTopic(appId, 'F', 'S');
  await mock.createTopic(topic, parts);
  const cluster = { bootstrap };
  const kafka = new Kafka({ brokers: cluster.bootstrap.split(','), logLevel: logLevel.NOTHING });
  const producer = kafka.producer();
  const admin = kafka.admin();
  await producer.connect();
  await admin.connect();
  const changelog = new KafkaChangelog(kafka, new BatchProducer(producer), admin, appId, silentLogger());
  const per = Math.ceil(RESTORE_KEYS / parts);
  for (let p = 0; p < parts; p++) {
    for (let i = 0; i < per; i += 10_000) {
      const n = Math.min(10_000, per - i);
      await changelog.write(topic, p, Array.from({ length: n }, (_, k) => ({ key: `user-${p}-${i + k}`, value: { v: { count: i + k, sum: (i + k) * 3.5 } } })));
    }
  }
  const mgr = new StateManager({ appId, specs: [{ flow: 'F', store: 'S', maxKeys: per + 1, ttlMs: undefined }], backend: changelog, logger: silentLogger() });
  const t0 = performance.now();
  await Promise.all(Array.from({ length: parts }, (_, p) => mgr.ready('F', p)));
  const ms = performance.now() - t0;
  let keys = 0;
  for (let p = 0; p < parts; p++) keys += mgr.store('F', 'S', p).size;
  changelog.close();
  await producer.disconnect();
  await admin.disconnect();
  return { keys, ms };
}

const cluster = await startMockCluster({ brokers: 3 });
try {
  const results: SideResult[] = [];
  if (SIDES.includes('before') && !BEFORE_DIR) throw new Error('the side `before` needs BENCH_BEFORE_DIR (a checkout with node_modules)');
  for (const name of SIDES) {
    const t: Topics = { orders: randomName('bj-orders'), pays: randomName('bj-pays'), out: randomName('bj-out'), appId: randomName('benchjoin') };
    // the mock cannot create topics through the admin API: the changelogs are made here with the input's count
    for (const store of ['L.0.held', 'L.0.table']) await cluster.createTopic(changelogTopic(t.appId, 'JoinPays', store), PARTITIONS);
    await cluster.createTopic(t.orders, PARTITIONS);
    await cluster.createTopic(t.pays, PARTITIONS);
    await cluster.createTopic(t.out, PARTITIONS);
    // shuffled: in each chunk of 2,000 orderids, the payments of half come before their orders
    for (let c = 0; c < ROWS; c += 2000) {
      const ids = Array.from({ length: Math.min(2000, ROWS - c) }, (_, i) => c + i);
      const first = ids.filter((id) => id % 2 === 0);
      const pay = (id: number) => ({ key: `o${id}`, value: JSON.stringify({ orderid: `o${id}`, paid: id % 97, channel: 'alipay' }) });
      const order = (id: number) => ({ key: `o${id}`, value: JSON.stringify({ orderid: `o${id}`, userid: `u${id % 5000}`, amount: id % 1000, status: 'paid' }) });
      await kcatProduce(cluster.bootstrap, t.pays, first.map(pay), { config: MURMUR2 });
      await kcatProduce(cluster.bootstrap, t.orders, ids.map(order), { config: MURMUR2 });
      await kcatProduce(cluster.bootstrap, t.pays, ids.filter((id) => id % 2 === 1).map(pay), { config: MURMUR2 });
    }
    const r = await side(name, cluster.bootstrap, t);
    results.push(r);
    // What the side wrote besides the joined rows: records in the two changelogs (the loop writes none).
    const kafka = new Kafka({ brokers: cluster.bootstrap.split(','), logLevel: logLevel.NOTHING });
    const logs = await Promise.all(['L.0.held', 'L.0.table'].map((s) => outCount(kafka, changelogTopic(t.appId, 'JoinPays', s)).catch(() => 0)));
    console.log(`${name.padEnd(8)} ${ROWS} joined rows in ${(r.ms / 1000).toFixed(2)} s: ${Math.round(ROWS / (r.ms / 1000))} rows/s, CPU ${(r.cpuUs / ROWS).toFixed(1)} µs/row, peak RSS ${r.maxRssMb} MB; ` +
      `changelog records: held ${logs[0]}, table ${logs[1]}`);
  }
  const median = (xs: number[]): number => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
  };
  const of = (n: string) => results.filter((r) => r.side === n);
  for (const n of ['service', 'before']) {
    if (of(n).length === 0 || of('baseline').length === 0) continue;
    const best = Math.min(...of('baseline').map((r) => r.ms)) / Math.min(...of(n).map((r) => r.ms));
    const med = median(of('baseline').map((r) => r.ms)) / median(of(n).map((r) => r.ms));
    const cpu = median(of(n).map((r) => r.cpuUs)) / median(of('baseline').map((r) => r.cpuUs));
    console.log(`${n}/baseline: throughput ratio ${best.toFixed(3)} best/best, ${med.toFixed(3)} median/median; CPU per row ${cpu.toFixed(3)} of the loop's (medians ` +
      `${(median(of(n).map((r) => r.cpuUs)) / ROWS).toFixed(1)} and ${(median(of('baseline').map((r) => r.cpuUs)) / ROWS).toFixed(1)} µs/row); goal >= 1.0`);
  }
  if (RESTORE_KEYS > 0) {
    const r = await restoreBench(cluster.bootstrap, cluster);
    console.log(`restore: ${r.keys} keys from 16 changelog partitions in ${(r.ms / 1000).toFixed(2)} s (${Math.round(r.keys / (r.ms / 1000))} keys/s); peak RSS of this process ${Math.round(process.resourceUsage().maxRSS / 1024)} MB`);
  }
} finally {
  await cluster.stop();
}
