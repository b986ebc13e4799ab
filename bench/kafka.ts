// The Kafka benchmark (npm run bench:kafka; not part of npm test). Kafka -> flow bench_kafka (verify,
// map, Save; bench/kafka-config/) -> Kafka, against a hand-written kafkajs consume -> the same verify
// and map -> produce loop, on the librdkafka mock cluster, in the same run.
//
// This process runs the side under test (the service or the loop) and nothing else. A child (this
// file with --loadgen) feeds the input topic through kcat and reads the output and dead-letter topics
// back with kafkajs, accounting for every row id and timing each row from its produce stamp. The mock
// keeps only about 5 MiB per partition, so rows are produced while they are consumed, never more than
// BENCH_LAG_CAP rows ahead of the output; a row missing, doubled or wrong at the output fails the run.
//
// Env: BENCH_ROWS (default 500000, throughput phase; 0 skips it), BENCH_RATE (20000 rows/s) and
// BENCH_LATENCY_SECONDS (15; 0 skips) for the latency phase, BENCH_ROUNDS (2, throughput rounds,
// alternating which side goes first), BENCH_WARMUP (20000 rows before each timed run), BENCH_LAG_CAP
// (100000), BENCH_SIDES (service,baseline), BENCH_TICK_MS (20), BENCH_LINGER_MS (2), BENCH_MAX_WAIT_MS
// (100, the source's max_wait_ms, both sides), BENCH_LINEAGE (true, the default; false: the service writes no kis-lineage
// header), BENCH_COMMIT_INTERVAL_MS (0, the default: commit per chunk, as the loop), BENCH_SERVICE_ENCODING
// (kisflow; kafkajs: the service on kafkajs's own Kafka codec, as the loop).
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Kafka, logLevel, type Consumer, type KafkaMessage } from 'kafkajs';
import type { KafkaSourceParamsT } from '../src/config/codecs.js';
import type { KafkaClusterConfig } from '../src/config/model.js';
import type { FlowContext } from '../src/core/context.js';
import type { KisPool } from '../src/core/pool.js';
import type { Row } from '../src/kernel/types.js';
import { silentLogger } from '../src/observability/logger.js';
import { prepareApp } from '../src/runtime/app.js';
import { KisService } from '../src/runtime/service.js';
import { kafkaConfig } from '../src/kafka/client.js';
import { useKafkaCodec } from '../src/kafka/codec/index.js';
import { consumerConfig, runConfig } from '../src/sources/kafka/kafka-source.js';
import { randomName, startMockCluster, type MockCluster } from '../test/infra/kafka-mock/index.js';
import { envInt, nowMs } from './common.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const CONFIG_DIR = path.join(HERE, 'kafka-config');
const SOURCE = 'orders';
const PARTITIONS = 8;

const ROWS = envInt('BENCH_ROWS', 500_000);
const RATE = Math.max(1, envInt('BENCH_RATE', 20_000));
const LATENCY_SECONDS = envInt('BENCH_LATENCY_SECONDS', 15);
const ROUNDS = Math.max(1, envInt('BENCH_ROUNDS', 2));
const WARMUP = envInt('BENCH_WARMUP', 20_000);
const LAG_CAP = Math.max(1000, envInt('BENCH_LAG_CAP', 100_000));
/** BENCH_SERVICE_ENCODING=kafkajs runs the service on kafkajs's record encoder too, to measure what KisFlow's saves. */
const SERVICE_ENCODING = process.env['BENCH_SERVICE_ENCODING'] === 'kafkajs' ? 'kafkajs' : 'kisflow';
const SIDES = (process.env['BENCH_SIDES'] || 'service,baseline').split(',').map((s) => s.trim());
for (const s of SIDES) if (s !== 'service' && s !== 'baseline') throw new Error(`BENCH_SIDES lists service and/or baseline, found ${JSON.stringify(s)}`);
/** A run with no new row at the output for this long has lost rows. */
const STALL_MS = 30_000;
/**
 * In the latency phase the rows due are handed to the producer every TICK_MS, which lingers LINGER_MS:
 * the mock answers a fetch with one producer batch per partition, so smaller batches cap what any
 * consumer can read (BENCHMARKS.md).
 */
const TICK_MS = Math.max(1, envInt('BENCH_TICK_MS', 20));
const LINGER_MS = envInt('BENCH_LINGER_MS', 2);
/** The meter's fetch wait: the mock holds a fetch that finds nothing for this long. */
const METER_WAIT_MS = 20;

// ---- rows and the two steps, shared by the service's functions and the baseline --------------------

const STATUSES = ['paid', 'paid', 'shipped', 'paid', 'pending', 'paid', 'shipped', 'paid', 'paid', 'cancelled'] as const;
const CHANNELS = ['alipay', 'wechat', 'card', 'cash'] as const;
const REGIONS = ['north', 'south', 'east', 'west', 'central'] as const;

/** 1 row in 200 lacks orderid (source.must rejects it), 1 in 200 has a negative amount (verify rejects it). */
const isDeadLetter = (id: number): boolean => id % 200 === 7 || id % 200 === 13;

/** Row `id`, deterministic but for `ts`, the time it is produced (about 150 bytes of JSON). */
function makeRow(id: number, ts: number): Row {
  const h = Math.imul(id ^ 0x9e3779b9, 0x85ebca6b) >>> 0;
  const amount = 1 + (h % 50_000) / 100;
  return {
    id,
    userid: `u${h % 100_003}`,
    orderid: id % 200 === 7 ? null : `o${id}`,
    amount: id % 200 === 13 ? -amount : amount,
    qty: 1 + ((h >>> 20) % 7),
    status: STATUSES[id % STATUSES.length]!,
    channel: CHANNELS[(h >>> 4) % CHANNELS.length]!,
    region: REGIONS[(h >>> 12) % REGIONS.length]!,
    ts: Math.round(ts * 100) / 100,
  };
}

const MUST = ['userid', 'orderid', 'amount'] as const;

function verifyReason(r: Row): string | undefined {
  return typeof r['amount'] === 'number' && r['amount'] > 0 ? undefined : 'amount must be positive';
}

function mapRow(r: Row): Row {
  return { ...r, key: `${String(r['userid'])}_${String(r['orderid'])}`, total: Math.round((r['amount'] as number) * (r['qty'] as number) * 100) / 100 };
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

// ---- the protocol between this process and the load generator --------------------------------------

interface Topics {
  readonly input: string;
  readonly output: string;
  readonly dlq: string;
  readonly group: string;
}

interface RunRequest {
  readonly kind: 'run';
  readonly runId: number;
  readonly topics: Topics;
  /** Rows idStart .. idStart + rows - 1. */
  readonly idStart: number;
  readonly rows: number;
  /** Rows per second, or 0: as fast as the lag cap allows. */
  readonly rate: number;
  readonly latency: boolean;
}

interface Latency {
  readonly count: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
}

interface RunReport {
  readonly firstProducedAt: number;
  readonly lastProducedAt: number;
  readonly lastSeenAt: number;
  readonly output: number;
  readonly deadLetters: number;
  /** Share of the producing time spent waiting because the output was LAG_CAP rows behind. */
  readonly capBound: number;
  readonly latency: Latency | undefined;
  /** Records in the output and dead-letter topics so far (high watermarks), against what was expected. */
  readonly topicRecords: { readonly output: number; readonly dlq: number; readonly expectedOutput: number; readonly expectedDlq: number };
  readonly duplicates: number;
  /** Rows with an unknown id, at the wrong topic, or (for the sampled rows) with the wrong content. */
  readonly unexpected: number;
  /** Input records the mock's retention had dropped by the end (after they were read: none went missing). */
  readonly inputLogStart: number;
  /** CPU time of the load generator (node and kcat) over the run. */
  readonly loadgenCpuMs: number;
}

type ToLoadgen = RunRequest | { readonly kind: 'release'; readonly topics: Topics } | { readonly kind: 'exit' };
type FromLoadgen =
  | { readonly kind: 'ready' }
  | { readonly kind: 'mark'; readonly runId: number; readonly q: number }
  | { readonly kind: 'done'; readonly runId: number; readonly report: RunReport }
  | { readonly kind: 'released' }
  | { readonly kind: 'failed'; readonly message: string };

const QUARTILES = [0.25, 0.5, 0.75, 1] as const;

// ---- the load generator (child process) --------------------------------------------------------------

function percentile(sorted: Float64Array, q: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * (sorted.length - 1)))]!;
}

const KEY_DELIM = '\x1f';

/**
 * Produces the input rows through kcat (librdkafka, linger BENCH_LINGER_MS), fed line by line on its
 * stdin: a kafkajs producer would cost the load generator about as much CPU per row as the side under
 * test, on a machine with two cores for everything.
 */
class Feeder {
  private readonly proc: ChildProcess;
  private stderr = '';
  private closing = false;
  private readonly exited: Promise<number | null>;
  failure: Error | undefined;

  constructor(bootstrap: string, private readonly topic: string) {
    this.proc = spawn('kcat', ['-b', bootstrap, '-t', topic, '-P', '-K', KEY_DELIM, '-X', 'acks=1', '-X', `linger.ms=${LINGER_MS}`, '-X', 'partitioner=murmur2_random',
      '-X', 'queue.buffering.max.messages=2000000', '-X', 'queue.buffering.max.kbytes=2097151'], { stdio: ['pipe', 'ignore', 'pipe'] });
    this.proc.stderr!.setEncoding('utf8');
    this.proc.stderr!.on('data', (c: string) => { this.stderr = (this.stderr + c).slice(-8192); });
    this.proc.stdin!.on('error', (err) => { this.failure ??= err; });
    this.proc.once('error', (err) => { this.failure ??= new Error(`cannot start kcat: ${err.message}`); });
    this.exited = new Promise((resolve) => this.proc.once('exit', (code) => {
      if (!this.closing || code !== 0) this.failure ??= new Error(`kcat -P to ${topic} exited (code ${code}): ${this.stderr.trim()}`);
      resolve(code);
    }));
  }

  /** Hands rows to kcat; resolves when the pipe takes more. */
  async write(text: string): Promise<void> {
    if (this.failure) throw this.failure;
    if (!this.proc.stdin!.write(text)) await Promise.race([once(this.proc.stdin!, 'drain'), this.exited]);
  }

  /**
   * kcat reads its input 1024 bytes at a time and keeps the last read's lines until more input comes (or
   * the end): empty lines, which it skips, push them out. Between two writes of a fixed-rate run this
   * holds a few rows for one tick at most, which only makes their measured latency longer.
   */
  flush(): Promise<void> {
    return this.write('\n'.repeat(1100));
  }

  cpuMs(): number | undefined {
    return cpuMsOf(this.proc.pid);
  }

  /** Flushes (kcat delivers everything queued before it exits) and checks kcat's exit. */
  async close(): Promise<void> {
    this.closing = true;
    this.proc.stdin!.end();
    await this.exited;
    if (this.failure) throw this.failure;
    if (/delivery failed|error/i.test(this.stderr)) throw new Error(`kcat -P to ${this.topic} reported: ${this.stderr.trim()}`);
  }
}

/** `rows` rows from id `first`, stamped `ts`, as kcat input lines (key, \x1f, JSON value). */
function inputLines(first: number, rows: number, ts: number): string {
  let text = '';
  for (let id = first; id < first + rows; id++) {
    const row = makeRow(id, ts);
    text += `${row['userid'] as string}${KEY_DELIM}${JSON.stringify(row)}\n`;
  }
  return text;
}

interface ActiveRun {
  readonly req: RunRequest;
  got: number;
  nextMark: number;
  lastSeenAt: number;
  lastProgressAt: number;
  readonly lat: Float64Array | undefined;
  latN: number;
}

/** Every CHECK_EVERY-th row read back is compared byte for byte with what the same steps make of its input. */
const CHECK_EVERY = 101;

/**
 * Reads a side's output and dead-letter topics from the beginning and accounts for every row id. Values
 * are not parsed: every row starts with {"id":<id>, and carries "ts":<produce time>.
 */
class Meter {
  private seen = new Uint8Array(0);
  private consumer: Consumer | undefined;
  run: ActiveRun | undefined;
  duplicates = 0;
  misplaced = 0;
  unknown = 0;
  wrongContent = 0;
  progress: () => void = () => {};

  constructor(private readonly kafka: Kafka, readonly topics: Topics, private readonly send: (m: FromLoadgen) => void) {}

  async start(): Promise<void> {
    const consumer = this.kafka.consumer({ groupId: randomName('bench-meter'), maxWaitTimeInMs: METER_WAIT_MS });
    this.consumer = consumer;
    await consumer.connect();
    await consumer.subscribe({ topics: [this.topics.output, this.topics.dlq], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      partitionsConsumedConcurrently: PARTITIONS,
      eachBatch: async ({ batch }) => this.account(batch.topic === this.topics.dlq, batch.messages, nowMs()),
    });
  }

  begin(req: RunRequest): ActiveRun {
    const end = req.idStart + req.rows;
    if (this.seen.length < end) {
      const grown = new Uint8Array(end);
      grown.set(this.seen);
      this.seen = grown;
    }
    this.run = { req, got: 0, nextMark: 0, lastSeenAt: 0, lastProgressAt: nowMs(), lat: req.latency ? new Float64Array(req.rows) : undefined, latN: 0 };
    return this.run;
  }

  private account(dlq: boolean, messages: readonly KafkaMessage[], now: number): void {
    const run = this.run;
    for (const m of messages) {
      const value = m.value?.toString('utf8') ?? '';
      const comma = value.startsWith('{"id":') ? value.indexOf(',', 6) : -1;
      const id = comma > 0 ? Number(value.slice(6, comma)) : NaN;
      if (!(id >= 0 && id < this.seen.length)) { this.unknown++; continue; }
      if (this.seen[id]) { this.duplicates++; continue; }
      this.seen[id] = 1;
      if (dlq !== isDeadLetter(id)) this.misplaced++;
      const at = value.indexOf('"ts":', comma);
      const ts = at > 0 ? parseFloat(value.slice(at + 5, at + 30)) : NaN;
      if (id % CHECK_EVERY === 0) {
        const input = makeRow(id, ts);
        if (value !== JSON.stringify(dlq ? input : mapRow(input))) this.wrongContent++;
      }
      if (run && id >= run.req.idStart && id < run.req.idStart + run.req.rows) {
        run.got++;
        if (run.lat) run.lat[run.latN++] = now - ts;
      }
    }
    if (run && messages.length > 0) {
      run.lastSeenAt = now;
      run.lastProgressAt = now;
      while (run.nextMark < QUARTILES.length && run.got >= Math.ceil(run.req.rows * QUARTILES[run.nextMark]!)) {
        this.send({ kind: 'mark', runId: run.req.runId, q: QUARTILES[run.nextMark]! });
        run.nextMark++;
      }
      this.progress();
    }
  }

  /** Ids below `end` that were never seen, split by where they should have appeared. */
  missing(end: number): { output: number; dlq: number } {
    let output = 0;
    let dlq = 0;
    for (let id = 0; id < end; id++) if (!this.seen[id]) { if (isDeadLetter(id)) dlq++; else output++; }
    return { output, dlq };
  }

  async stop(): Promise<void> {
    await this.consumer?.disconnect();
  }
}

async function loadgen(bootstrap: string): Promise<void> {
  const send = (m: FromLoadgen): void => { process.send!(m); };
  const kafka = new Kafka({ clientId: 'bench-loadgen', brokers: bootstrap.split(','), logLevel: logLevel.ERROR });
  const admin = kafka.admin();
  await admin.connect();
  /** Per side and phase (keyed by the output topic): the feeder and the meter, kept from the warm-up to the timed run. */
  const sets = new Map<string, { feeder: Feeder; meter: Meter }>();

  const sumHigh = async (topic: string): Promise<number> =>
    (await admin.fetchTopicOffsets(topic)).reduce((n, p) => n + Number(p.high), 0);

  async function execute(req: RunRequest): Promise<RunReport> {
    let set = sets.get(req.topics.output);
    if (!set) {
      set = { feeder: new Feeder(bootstrap, req.topics.input), meter: new Meter(kafka, req.topics, send) };
      sets.set(req.topics.output, set);
      await set.meter.start();
    }
    const { feeder, meter } = set;
    const run = meter.begin(req);
    let wake: (() => void) | undefined;
    const waitProgress = (): Promise<void> => new Promise<void>((resolve) => { wake = resolve; });
    meter.progress = () => { const w = wake; wake = undefined; w?.(); };
    const watchdog = setInterval(() => meter.progress(), 250);
    const end = req.idStart + req.rows;
    let next = req.idStart;
    const cpu0 = process.cpuUsage();
    const kcat0 = feeder.cpuMs();
    const firstProducedAt = nowMs();
    let capWaitMs = 0;
    try {
      if (req.rate === 0) {
        // As fast as kcat takes them, at most LAG_CAP rows ahead of the output (the mock's retention).
        while (next < end) {
          if (next - req.idStart - run.got >= LAG_CAP) {
            const t0 = nowMs();
            await waitProgress();
            capWaitMs += nowMs() - t0;
            if (nowMs() - run.lastProgressAt > STALL_MS) throw stalled(meter, req, next);
            continue;
          }
          const n = Math.min(1000, end - next);
          await feeder.write(inputLines(next, n, nowMs()));
          next += n;
        }
      } else {
        // A fixed rate: every TICK_MS, every row whose time has come, stamped when it is handed to kcat.
        while (next < end) {
          const now = nowMs();
          const due = Math.min(end, req.idStart + Math.floor(((now - firstProducedAt) / 1000) * req.rate));
          if (due > next) {
            await feeder.write(inputLines(next, due - next, now));
            next = due;
          }
          await new Promise((r) => setTimeout(r, TICK_MS));
        }
      }
      const lastProducedAt = nowMs();
      await feeder.flush();
      while (run.got < req.rows) {
        if (feeder.failure) throw feeder.failure;
        await waitProgress();
        if (nowMs() - run.lastProgressAt > STALL_MS) throw stalled(meter, req, next);
      }
      const cpu = process.cpuUsage(cpu0);
      const kcat1 = feeder.cpuMs();
      let latency: Latency | undefined;
      if (run.lat) {
        const sorted = run.lat.slice(0, run.latN).sort();
        latency = { count: sorted.length, p50: percentile(sorted, 0.5), p90: percentile(sorted, 0.9), p99: percentile(sorted, 0.99), p999: percentile(sorted, 0.999), max: sorted[sorted.length - 1] ?? NaN };
      }
      let expectedOutput = 0;
      for (let id = 0; id < end; id++) if (!isDeadLetter(id)) expectedOutput++;
      const inputLogStart = (await admin.fetchTopicOffsets(req.topics.input)).reduce((n, p) => n + Number(p.low), 0);
      let dead = 0;
      for (let id = req.idStart; id < end; id++) if (isDeadLetter(id)) dead++;
      return {
        firstProducedAt,
        lastProducedAt,
        lastSeenAt: run.lastSeenAt,
        output: req.rows - dead,
        deadLetters: dead,
        capBound: capWaitMs / Math.max(1, lastProducedAt - firstProducedAt),
        latency,
        topicRecords: { output: await sumHigh(req.topics.output), dlq: await sumHigh(req.topics.dlq), expectedOutput, expectedDlq: end - expectedOutput },
        duplicates: meter.duplicates,
        unexpected: meter.unknown + meter.misplaced + meter.wrongContent,
        inputLogStart,
        loadgenCpuMs: (cpu.user + cpu.system) / 1000 + (kcat0 !== undefined && kcat1 !== undefined ? kcat1 - kcat0 : 0),
      };
    } finally {
      clearInterval(watchdog);
      meter.progress = () => {};
      meter.run = undefined;
    }
  }

  function stalled(meter: Meter, req: RunRequest, produced: number): Error {
    const missing = meter.missing(produced);
    return new Error(`no new row at ${req.topics.output} / ${req.topics.dlq} for ${STALL_MS / 1000} s: ` +
      `${missing.output} rows missing at the output and ${missing.dlq} dead letters missing, of ${produced} produced. ` +
      'Lost to the mock\'s retention (about 5 MiB per partition) or never processed.');
  }

  async function release(output: string): Promise<void> {
    const set = sets.get(output);
    sets.delete(output);
    await set?.feeder.close();
    await set?.meter.stop();
  }

  let queue = Promise.resolve();
  process.on('message', (m: ToLoadgen) => {
    queue = queue.then(async () => {
      if (m.kind === 'run') send({ kind: 'done', runId: m.runId, report: await execute(m) });
      else if (m.kind === 'release') {
        await release(m.topics.output);
        send({ kind: 'released' });
      } else {
        for (const output of [...sets.keys()]) await release(output);
        await admin.disconnect();
        process.disconnect();
      }
    }).catch((err: unknown) => send({ kind: 'failed', message: err instanceof Error ? err.stack ?? err.message : String(err) }));
  });
  send({ kind: 'ready' });
}

// ---- the sides under test (this process) -------------------------------------------------------------

type Side = 'service' | 'baseline';

interface Running {
  /** Rejects when the side fails while it runs. */
  readonly failed: Promise<never>;
  stop(): Promise<void>;
}

function envFor(bootstrap: string, t: Topics): NodeJS.ProcessEnv {
  return { ...process.env, KAFKA_BROKERS: bootstrap, BENCH_IN: t.input, BENCH_OUT: t.output, BENCH_DLQ: t.dlq, BENCH_GROUP: t.group };
}

async function startService(bootstrap: string, t: Topics): Promise<Running> {
  const app = await prepareApp(CONFIG_DIR, { env: envFor(bootstrap, t), register });
  const svc = KisService.create(app.config, { pool: app.pool, logger: silentLogger() });
  if (svc.mode !== 'kafka') throw new Error(`the service runs in ${svc.mode} mode; expected kafka`);
  const running = svc.run();
  const failed = running.then(() => { throw new Error('the service stopped by itself'); });
  failed.catch(() => undefined);
  return { failed, async stop() { svc.stop(); await running; } };
}

/**
 * The hand-written loop: the service's consumer settings (same kafkajs client config, consumer config,
 * run config and chunking), JSON decode, the must check, verify and map, then one produce of the output
 * rows and one of the rejected rows (acks all), then the offset commit, as a careful hand loop does it.
 */
async function startBaseline(bootstrap: string, t: Topics): Promise<Running> {
  const app = await prepareApp(CONFIG_DIR, { env: envFor(bootstrap, t), register });
  const cluster: KafkaClusterConfig = app.config.global.kafka!;
  const params = app.config.sources.get(SOURCE)!.params as KafkaSourceParamsT;
  const max = params.max_batch_rows ?? 500;
  const kafka = new Kafka(kafkaConfig(cluster, silentLogger()));
  const producer = kafka.producer({ allowAutoTopicCreation: true, idempotent: false, retry: { retries: 10, initialRetryTime: 200, maxRetryTime: 3000 } });
  const consumer = kafka.consumer(consumerConfig(params.group_id!, params));
  let reject: (err: unknown) => void = () => {};
  const failed = new Promise<never>((_, r) => { reject = r; });
  failed.catch(() => undefined);
  consumer.on(consumer.events.CRASH, (e) => reject((e.payload as { error: Error }).error));
  await producer.connect();
  await consumer.connect();
  await consumer.subscribe({ topics: [...params.topics], fromBeginning: params.from_beginning ?? false });
  await consumer.run({
    ...runConfig(params),
    eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
      for (let i = 0; i < batch.messages.length; i += max) {
        if (!isRunning() || isStale()) return;
        const chunk = batch.messages.slice(i, i + max);
        const out: Array<{ key: string; value: string }> = [];
        const dead: Array<{ key: Buffer | null; value: Buffer | null; headers: { reason: string } }> = [];
        for (const m of chunk) {
          let row: Row;
          try {
            row = JSON.parse(m.value!.toString('utf8')) as Row;
          } catch (err) {
            dead.push({ key: m.key, value: m.value, headers: { reason: `malformed JSON: ${String(err)}` } });
            continue;
          }
          const missing = MUST.filter((f) => row[f] === undefined || row[f] === null);
          const why = missing.length > 0 ? `lacks ${missing.join(', ')}` : verifyReason(row);
          if (why) { dead.push({ key: m.key, value: m.value, headers: { reason: why } }); continue; }
          const mapped = mapRow(row);
          out.push({ key: mapped['userid'] as string, value: JSON.stringify(mapped) });
        }
        if (out.length > 0) await producer.send({ topic: t.output, acks: -1, messages: out });
        if (dead.length > 0) await producer.send({ topic: t.dlq, acks: -1, messages: dead });
        const last = chunk[chunk.length - 1]!;
        resolveOffset(last.offset);
        if (isStale()) return;
        await consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: (BigInt(last.offset) + 1n).toString() }]);
        await heartbeat();
      }
    },
  });
  return {
    failed,
    async stop() {
      await consumer.stop();
      await consumer.disconnect();
      await producer.disconnect();
    },
  };
}

// ---- measurement -------------------------------------------------------------------------------------

let peakRss = process.memoryUsage.rss();
let windowPeak = 0;
const sampler = setInterval(() => {
  const rss = process.memoryUsage.rss();
  peakRss = Math.max(peakRss, rss);
  windowPeak = Math.max(windowPeak, rss);
}, 100);

/** RSS of another process (the mock broker), from /proc; undefined where there is no /proc. */
function rssOf(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** CPU time of another process (the mock broker, kcat) in ms, from /proc; undefined where there is no /proc. */
function cpuMsOf(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    // Fields 14 and 15 (utime, stime, in clock ticks) after the parenthesised command name.
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10; // USER_HZ is 100 on Linux
  } catch {
    return undefined;
  }
}

interface Outcome {
  readonly side: Side;
  readonly phase: 'throughput' | 'latency';
  readonly rows: number;
  readonly report: RunReport;
  /** CPU time of this process (the side under test) over the timed run. */
  readonly cpuMs: number;
  readonly brokerCpuMs: number | undefined;
  readonly rssAt: readonly number[];
  readonly heapAt: readonly number[];
  readonly peakRss: number;
}

class LoadgenClient {
  private readonly child: ChildProcess;
  private readonly listeners = new Set<(m: FromLoadgen) => void>();
  private readonly exited: Promise<never>;
  private runIds = 0;

  constructor(bootstrap: string) {
    // Not profiled even when this process is (node --cpu-prof): the load generator is not under test.
    const execArgv = process.execArgv.filter((a) => !a.startsWith('--cpu-prof'));
    this.child = fork(fileURLToPath(import.meta.url), ['--loadgen', bootstrap], { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.child.on('message', (m: FromLoadgen) => { for (const l of this.listeners) l(m); });
    this.exited = new Promise<never>((_, reject) => this.child.once('exit', (code, signal) => reject(new Error(`the load generator exited (${signal ?? `code ${code}`})`))));
    this.exited.catch(() => undefined);
  }

  private next<T>(pick: (m: FromLoadgen) => T | undefined, onOther?: (m: FromLoadgen) => void): Promise<T> {
    return Promise.race([this.exited, new Promise<T>((resolve, reject) => {
      const l = (m: FromLoadgen): void => {
        if (m.kind === 'failed') { this.listeners.delete(l); reject(new Error(`BENCHMARK INVALID: load generator: ${m.message}`)); return; }
        const v = pick(m);
        if (v !== undefined) { this.listeners.delete(l); resolve(v); } else onOther?.(m);
      };
      this.listeners.add(l);
    })]);
  }

  ready(): Promise<true> {
    return this.next((m) => (m.kind === 'ready' ? true : undefined));
  }

  /** Runs rows through the side; `onMark` is called at 25/50/75/100 % of the rows seen at the output. */
  run(topics: Topics, idStart: number, rows: number, rate: number, latency: boolean, onMark: (q: number) => void): Promise<RunReport> {
    const runId = ++this.runIds;
    const done = this.next((m) => (m.kind === 'done' && m.runId === runId ? m.report : undefined), (m) => { if (m.kind === 'mark' && m.runId === runId) onMark(m.q); });
    this.send({ kind: 'run', runId, topics, idStart, rows, rate, latency });
    return done;
  }

  async release(topics: Topics): Promise<void> {
    const done = this.next((m) => (m.kind === 'released' ? true : undefined));
    this.send({ kind: 'release', topics });
    await done;
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null || !this.child.connected) return;
    const gone = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.send({ kind: 'exit' });
    await Promise.race([gone, new Promise((r) => setTimeout(r, 10_000))]);
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
  }

  private send(m: ToLoadgen): void {
    this.child.send(m);
  }
}

async function newTopics(cluster: MockCluster, tag: string): Promise<Topics> {
  const t = { input: randomName(`${tag}-in`), output: randomName(`${tag}-out`), dlq: randomName(`${tag}-dlq`), group: randomName(`${tag}-grp`) };
  for (const name of [t.input, t.output, t.dlq]) await cluster.createTopic(name, PARTITIONS);
  return t;
}

/** Starts a side on fresh topics, warms it up, runs the timed rows, stops it. */
async function measure(cluster: MockCluster, gen: LoadgenClient, side: Side, phase: Outcome['phase'], rows: number, rate: number): Promise<Outcome> {
  const topics = await newTopics(cluster, `${phase.slice(0, 3)}-${side}`);
  // The hand loop runs on kafkajs's own record encoder; the service on the one it installs (src/kafka/codec/).
  useKafkaCodec(side === 'service' ? SERVICE_ENCODING : 'kafkajs');
  const running = await (side === 'service' ? startService : startBaseline)(cluster.bootstrap, topics);
  try {
    if (WARMUP > 0) await Promise.race([running.failed, gen.run(topics, 0, WARMUP, 0, false, () => {})]);
    const rssAt: number[] = [];
    const heapAt: number[] = [];
    windowPeak = process.memoryUsage.rss();
    const cpu0 = process.cpuUsage();
    const broker0 = cpuMsOf(cluster.pid);
    const report = await Promise.race([running.failed, gen.run(topics, WARMUP, rows, rate, phase === 'latency', () => {
      const m = process.memoryUsage();
      windowPeak = Math.max(windowPeak, m.rss);
      rssAt.push(m.rss);
      heapAt.push(m.heapUsed);
    })]);
    const cpu = process.cpuUsage(cpu0);
    const broker1 = cpuMsOf(cluster.pid);
    check(side, phase, report);
    const brokerCpuMs = broker0 === undefined || broker1 === undefined ? undefined : broker1 - broker0;
    return { side, phase, rows, report, cpuMs: (cpu.user + cpu.system) / 1000, brokerCpuMs, rssAt, heapAt, peakRss: windowPeak };
  } finally {
    await running.stop();
    await gen.release(topics);
  }
}

function check(side: Side, phase: string, r: RunReport): void {
  const problems: string[] = [];
  const tr = r.topicRecords;
  if (tr.output !== tr.expectedOutput) problems.push(`output topic holds ${tr.output} records, expected ${tr.expectedOutput}`);
  if (tr.dlq !== tr.expectedDlq) problems.push(`dead-letter topic holds ${tr.dlq} records, expected ${tr.expectedDlq}`);
  if (r.duplicates > 0) problems.push(`${r.duplicates} rows read back twice`);
  if (r.unexpected > 0) problems.push(`${r.unexpected} rows with an unknown id, at the wrong topic or with the wrong content`);
  if (problems.length > 0) throw new Error(`BENCHMARK INVALID: ${side}, ${phase} phase: ${problems.join('; ')}`);
}

const rowsPerSec = (o: Outcome): number => o.rows / ((o.report.lastSeenAt - o.report.firstProducedAt) / 1000);
const fmtRate = (r: number): string => `${Math.round(r).toLocaleString('en-US')} rows/s`;
const mb = (b: number | undefined): string => (b === undefined ? '?' : `${(b / 2 ** 20).toFixed(0)} MB`);
const ms = (x: number): string => `${x.toFixed(1)} ms`;
const loadavg = (): string => os.loadavg().map((l) => l.toFixed(2)).join(' ');

function line(o: Outcome): string {
  const r = o.report;
  const head = o.phase === 'throughput'
    ? `${fmtRate(rowsPerSec(o)).padStart(16)}  ${((r.lastSeenAt - r.firstProducedAt) / 1000).toFixed(2)} s  producer waited on the lag cap ${(r.capBound * 100).toFixed(0)} %`
    : `latency p50 ${ms(r.latency!.p50)}  p90 ${ms(r.latency!.p90)}  p99 ${ms(r.latency!.p99)}  p99.9 ${ms(r.latency!.p999)}  max ${ms(r.latency!.max)}\n` +
      `            ${r.latency!.count} rows produced at ${fmtRate(o.rows / ((r.lastProducedAt - r.firstProducedAt) / 1000))}; the last one read back ${ms(r.lastSeenAt - r.lastProducedAt)} after the last was produced`;
  const perRow = (cpuMs: number | undefined): string => (cpuMs === undefined ? '?' : (cpuMs * 1000 / o.rows).toFixed(1));
  const wall = (r.lastSeenAt - r.firstProducedAt) / 1000;
  const cores = (cpuMs: number | undefined): string => (cpuMs === undefined ? '?' : (cpuMs / 1000 / wall).toFixed(2));
  return `  ${o.side.padEnd(9)} ${head}\n` +
    `            out ${r.output}  dead letters ${r.deadLetters}  input records dropped by retention after being read ${r.inputLogStart}\n` +
    `            CPU µs/row (cores): ${o.side} ${perRow(o.cpuMs)} (${cores(o.cpuMs)}),` +
    ` load generator ${perRow(r.loadgenCpuMs)} (${cores(r.loadgenCpuMs)}), mock broker ${perRow(o.brokerCpuMs)} (${cores(o.brokerCpuMs)})\n` +
    `            rss@25/50/75/100% ${o.rssAt.map(mb).join(' / ')}  heap ${o.heapAt.map(mb).join(' / ')}  peak ${mb(o.peakRss)}`;
}

async function main(): Promise<void> {
  const started = performance.now();
  const cluster = await startMockCluster({ brokers: 3 });
  const gen = new LoadgenClient(cluster.bootstrap);
  try {
    await gen.ready();
    const sample = JSON.stringify(makeRow(123_456, nowMs()));
    console.log(`kisflow kafka benchmark: node ${process.version}, librdkafka mock cluster (3 brokers), ${PARTITIONS} partitions per topic; row ~${sample.length} bytes JSON`);
    console.log(`throughput: ${ROWS} rows per side, ${ROUNDS} round(s), lag cap ${LAG_CAP}; latency: ${RATE} rows/s for ${LATENCY_SECONDS} s per side; warm-up ${WARMUP} rows before each`);
    console.log(`machine: ${os.cpus().length} CPUs (${os.cpus()[0]?.model.trim() ?? '?'}), ${mb(os.totalmem())}; load average ${loadavg()} before the run`);
    console.log(`RSS after start-up ${mb(process.memoryUsage.rss())}`);

    const throughput: Outcome[] = [];
    for (let r = 0; ROWS > 0 && r < ROUNDS; r++) {
      const order = ((r % 2 === 0 ? ['service', 'baseline'] : ['baseline', 'service']) as Side[]).filter((s) => SIDES.includes(s));
      console.log(`\nthroughput round ${r + 1} (produce as fast as the lag cap allows):`);
      for (const side of order) {
        const o = await measure(cluster, gen, side, 'throughput', ROWS, 0);
        throughput.push(o);
        console.log(line(o));
      }
    }

    const latency: Outcome[] = [];
    const latencyRows = RATE * LATENCY_SECONDS;
    if (latencyRows > 0) {
      console.log(`\nlatency at ${RATE} rows/s (produce timestamp -> read back from the output topic):`);
      const order = ((ROUNDS % 2 === 0 ? ['service', 'baseline'] : ['baseline', 'service']) as Side[]).filter((s) => SIDES.includes(s));
      for (const side of order) {
        const o = await measure(cluster, gen, side, 'latency', latencyRows, RATE);
        latency.push(o);
        console.log(line(o));
      }
    }

    const ran = (side: Side): Outcome[] => throughput.filter((o) => o.side === side);
    const best = (side: Side): number => Math.max(...ran(side).map(rowsPerSec));
    const cpuPerRow = (side: Side): number => Math.min(...ran(side).map((o) => o.cpuMs * 1000 / o.rows));
    console.log('');
    for (const side of (throughput.length > 0 ? SIDES : []) as Side[]) {
      const label = side === 'service' ? 'service (flow bench_kafka)' : 'baseline (kafkajs loop)';
      console.log(`${label.padEnd(27)} ${fmtRate(best(side))}${ROUNDS > 1 ? ` (best of ${ROUNDS})` : ''}, ${cpuPerRow(side).toFixed(1)} µs CPU per row in this process`);
    }
    if (SIDES.length === 2 && throughput.length > 0) {
      const ratio = best('service') / best('baseline');
      console.log(`ratio service/baseline      ${ratio.toFixed(3)} rows/s (goal >= 1.2: ${ratio >= 1.2 ? 'met' : 'NOT met'}); CPU per row ${(cpuPerRow('service') / cpuPerRow('baseline')).toFixed(3)} (goal <= 1.0: ${cpuPerRow('service') <= cpuPerRow('baseline') ? 'met' : 'NOT met'})`);
    }
    for (const o of latency) {
      const p99 = o.report.latency!.p99;
      console.log(`p99 at ${RATE} rows/s, ${o.side.padEnd(9)}  ${ms(p99)} (goal < 100 ms: ${p99 < 100 ? 'met' : 'NOT met'})`);
    }
    for (const side of (throughput.length > 0 ? SIDES : []) as Side[]) {
      const runs = ran(side);
      console.log(`RSS over the throughput runs, ${side.padEnd(9)} at 25 % ${runs.map((o) => mb(o.rssAt[0])).join(', ')}; at 100 % ${runs.map((o) => mb(o.rssAt[o.rssAt.length - 1])).join(', ')}`);
    }
    console.log(`\npeak RSS ${mb(peakRss)} (this process, sampled every 100 ms); mock broker RSS at the end ${mb(rssOf(cluster.pid))}`);
    console.log(`total ${((performance.now() - started) / 1000).toFixed(0)} s; load average ${loadavg()} at the end`);
  } finally {
    await gen.close();
    await cluster.stop();
  }
}

if (process.argv[2] === '--loadgen') {
  clearInterval(sampler);
  loadgen(process.argv[3]!).catch((err: unknown) => {
    console.error(err instanceof Error ? err.stack ?? err.message : err);
    process.exit(1);
  });
} else {
  main().then(() => clearInterval(sampler), (err: unknown) => {
    clearInterval(sampler);
    console.error(err instanceof Error ? err.stack ?? err.message : err);
    process.exitCode = 1;
  });
}
