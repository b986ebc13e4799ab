// One conformance suite for every source (as Redpanda Connect runs StreamTests over every plugin): it
// opens and closes, hands on one row, hands on N rows in order per partition with positions, and a
// restart loses nothing. Each source brings a harness: how to put rows upstream and how to open it.
// The in-process sources run here; kafka (mock cluster) and binlog (private MariaDB) too, over TCP.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { after, describe, test } from 'node:test';
import { Kafka, logLevel } from 'kafkajs';
import { silentLogger } from '../../src/observability/logger.js';
import { BinlogSource } from '../../src/sources/binlog/binlog-source.js';
import { FileCheckpointStore } from '../../src/sources/binlog/checkpoint.js';
import { FileSource } from '../../src/sources/file/file-source.js';
import { GeneratorSource } from '../../src/sources/generator/generator-source.js';
import { KafkaSource } from '../../src/sources/kafka/kafka-source.js';
import type { Batch, Source } from '../../src/core/source.js';
import { StdinSource } from '../../src/sources/stdin/stdin-source.js';
import { kcatProduce, randomName, startMockCluster, type MockCluster } from '../infra/kafka-mock/index.js';
import { startMariaDb, type MariaDb } from '../infra/mariadb/index.js';

interface Harness {
  /** Puts rows { n: 0 } .. { n: count - 1 } upstream, after what was put before (n continues). */
  seed(count: number): Promise<void>;
  /** A source over that upstream; called again for a restart (same group, same checkpoint). */
  open(): Source;
  /** The n a handed-on row carries. */
  nOf(row: Record<string, unknown>): number;
  /** A restart goes on after what was handled (committed); otherwise it reads the input again. */
  readonly resumes: boolean;
  readonly finite: boolean;
}

interface Collected { batches: Batch[]; ns: number[] }

/** Runs a source until `until` holds for what it handed on (or it ends), then stops it. */
async function runUntil(source: Source, h: Harness, until: (c: Collected) => boolean, opts: { abortInHandler?: boolean } = {}): Promise<Collected> {
  const c: Collected = { batches: [], ns: [] };
  const abort = new AbortController();
  let failure: unknown;
  const running = source.run(async (b) => {
    c.batches.push(b);
    c.ns.push(...b.rows.map((r) => h.nOf(r)));
    if (until(c) && opts.abortInHandler) abort.abort();
  }, abort.signal).catch((err: unknown) => { failure = err; });
  const deadline = Date.now() + 60_000;
  let ended = false;
  void running.then(() => { ended = true; });
  while (!until(c) && !ended && Date.now() < deadline && failure === undefined) await new Promise((r) => setTimeout(r, 20));
  abort.abort();
  await running;
  if (failure) throw failure;
  return c;
}

/** `only: 'restart'` runs the restart test alone (a variant of a source whose other behaviour is covered already). */
function conformance(name: string, make: () => Promise<Harness>, teardown: () => Promise<void> = async () => {}, only?: 'restart'): void {
  const t = (title: string, fn: () => Promise<void>): void => { if (only === undefined || title.startsWith(only)) test(title, fn); };
  describe(`source conformance: ${name}`, () => {
    after(teardown);

    t('opens and closes: stopping it before any input resolves run() without a hand-off', async () => {
      const h = await make();
      const abort = new AbortController();
      const handed: Batch[] = [];
      const source = h.open();
      const running = source.run(async (b) => { handed.push(b); }, abort.signal);
      abort.abort();
      await running;
      assert.ok(handed.every((b) => b.rows.length > 0), 'no empty hand-offs');
      assert.equal(source.finite, h.finite);
    });

    t('one row: handed on with its position (source id, partition, offset)', async () => {
      const h = await make();
      await h.seed(1);
      const source = h.open();
      const c = await runUntil(source, h, (x) => x.ns.length >= 1);
      assert.deepEqual(c.ns, [0]);
      const b = c.batches[0]!;
      assert.equal(b.source, source.id);
      assert.equal(b.positions.length, b.rows.length);
      assert.equal(b.positions[0]!.source, source.id);
      assert.equal(b.positions[0]!.partition, b.partition);
      assert.ok(b.positions[0]!.offset.length > 0);
    });

    t('N rows: all of them, once, in order within each partition', async () => {
      const h = await make();
      const N = 1000;
      await h.seed(N);
      const c = await runUntil(h.open(), h, (x) => x.ns.length >= N);
      assert.deepEqual([...c.ns].sort((a, b) => a - b), Array.from({ length: N }, (_, i) => i), 'every row once');
      const byPartition = new Map<number, number[]>();
      for (const b of c.batches) byPartition.set(b.partition, [...(byPartition.get(b.partition) ?? []), ...b.rows.map((r) => h.nOf(r))]);
      for (const [p, ns] of byPartition) assert.deepEqual(ns, [...ns].sort((a, b) => a - b), `partition ${p} in order`);
    });

    t('restart: stopped gracefully after its first hand-off, a new instance loses nothing and repeats nothing', async () => {
      const h = await make();
      const N = 600;
      await h.seed(N);
      const first = await runUntil(h.open(), h, (x) => x.batches.length >= 1, { abortInHandler: true });
      assert.ok(first.ns.length > 0);
      const second = await runUntil(h.open(), h, (x) => new Set([...first.ns, ...x.ns]).size >= N);
      const union = new Set([...first.ns, ...second.ns]);
      assert.equal(union.size, N, 'no row lost across the restart');
      if (h.resumes) {
        // a graceful stop lets the hand-offs in flight finish and commits them: nothing comes again
        const again = second.ns.filter((n) => first.ns.includes(n)).length;
        assert.equal(again, 0, `${again} rows handed on again after a graceful stop`);
      } else {
        assert.equal(second.ns.length, N, 'a source without a position reads its input again, whole');
      }
    });
  });
}

// ---- in-process sources -----------------------------------------------------------------------------

const dirs: string[] = [];
conformance('file', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'kisflow-conf-file-'));
  dirs.push(dir);
  let next = 0;
  let text = '';
  await writeFile(path.join(dir, 'rows.jsonl'), '');
  return {
    async seed(count) {
      for (let i = 0; i < count; i++) text += JSON.stringify({ n: next++ }) + '\n';
      await writeFile(path.join(dir, 'rows.jsonl'), text);
    },
    open: () => new FileSource('file', { path: 'rows.jsonl', batch_size: 100 }, dir),
    nOf: (r) => r['n'] as number,
    resumes: false,
    finite: true,
  };
}, async () => { for (const d of dirs) await rm(d, { recursive: true, force: true }); });

conformance('generator', async () => {
  let count = 0;
  return {
    async seed(n) { count += n; },
    open: () => new GeneratorSource('gen', { template: { n: '{{ $seq }}' }, count, batch_size: 100, partitions: 4, key: 'n' }),
    nOf: (r) => r['n'] as number,
    resumes: false,
    finite: true,
  };
});

conformance('stdin', async () => {
  const lines: string[] = [];
  return {
    async seed(n) { for (let i = 0; i < n; i++) lines.push(JSON.stringify({ n: lines.length })); },
    // stdin cannot be read twice: a restart is a new process fed the same input again
    open: () => {
      const input = new PassThrough();
      input.end(lines.map((l) => l + '\n').join(''));
      return new StdinSource('stdin', { batch_size: 100, max_wait_ms: 50 }, input);
    },
    nOf: (r) => r['n'] as number,
    resumes: false,
    finite: true,
  };
});

// ---- kafka, over TCP to the mock cluster ------------------------------------------------------------

let cluster: MockCluster | undefined;
function kafkaHarness(extra: { commit_interval_ms?: number }): () => Promise<Harness> {
  return async () => {
    cluster ??= await startMockCluster({ brokers: 1 });
    const bootstrap = cluster.bootstrap;
    const topic = randomName('conf');
    await cluster.createTopic(topic, 4);
    const group = randomName('conf-group');
    const kafka = new Kafka({ brokers: bootstrap.split(','), logLevel: logLevel.NOTHING });
    let next = 0;
    return {
      async seed(count) {
        const lines = Array.from({ length: count }, () => { const n = next++; return { key: `k${n}`, value: JSON.stringify({ n }) }; });
        await kcatProduce(bootstrap, topic, lines);
      },
      open: () => new KafkaSource({ id: 'kafka', kafka, groupId: group, params: { topics: [topic], from_beginning: true, max_batch_rows: 100, ...extra }, logger: silentLogger() }),
      nOf: (r) => r['n'] as number,
      resumes: true,
      finite: false,
    };
  };
}
const stopCluster = async (): Promise<void> => { await cluster?.stop(); cluster = undefined; };
conformance('kafka', kafkaHarness({}), stopCluster);
// Offsets held back by the interval (here: never due while running) are committed by a graceful stop.
conformance('kafka with commit_interval_ms', kafkaHarness({ commit_interval_ms: 600_000 }), stopCluster, 'restart');

test('kafka commit_interval_ms: offsets are held back while the interval runs, then committed after it, all of them acknowledged first', async () => {
  cluster ??= await startMockCluster({ brokers: 1 });
  const bootstrap = cluster.bootstrap;
  const topic = randomName('interval');
  await cluster.createTopic(topic, 1);
  const group = randomName('interval-group');
  const kafka = new Kafka({ brokers: bootstrap.split(','), logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  const committed = async (): Promise<string | undefined> => (await admin.fetchOffsets({ groupId: group, topics: [topic] }))[0]?.partitions[0]?.offset;
  try {
    await kcatProduce(bootstrap, topic, Array.from({ length: 300 }, (_, n) => ({ key: `k${n}`, value: JSON.stringify({ n }) })));
    const source = new KafkaSource({ id: 'kafka', kafka, groupId: group, params: { topics: [topic], from_beginning: true, max_batch_rows: 100, commit_interval_ms: 5_000 }, logger: silentLogger() });
    const abort = new AbortController();
    let handled = 0;
    const running = source.run(async (b) => { handled += b.rows.length; }, abort.signal);
    while (handled < 300) await new Promise((r) => setTimeout(r, 20));
    assert.equal(await committed(), '-1', 'nothing committed before the interval has passed');
    const deadline = Date.now() + 15_000;
    let offset = await committed();
    while (offset !== '300' && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      offset = await committed();
    }
    assert.equal(offset, '300', 'committed to the end once the interval passed');
    abort.abort();
    await running;
  } finally {
    await admin.disconnect();
    await stopCluster();
  }
});

// ---- binlog, over TCP to a private MariaDB ----------------------------------------------------------

let db: MariaDb | undefined;
let serverId = 9100;
const binlogDirs: string[] = [];
conformance('binlog', async () => {
  if (!db) {
    db = await startMariaDb();
    await db.query('CREATE DATABASE conf');
  }
  const table = randomName('t').replace(/-/g, '_');
  await db.query(`CREATE TABLE conf.${table} (n INT PRIMARY KEY)`);
  const dir = await mkdtemp(path.join(tmpdir(), 'kisflow-conf-binlog-'));
  binlogDirs.push(dir);
  const store = new FileCheckpointStore(path.join(dir, 'checkpoint.json'));
  const start = await db.binlogPosition();
  let next = 0;
  const database = db;
  return {
    async seed(count) {
      // 100 rows per transaction: several hand-offs, whole transactions each
      for (let i = 0; i < count; i += 100) {
        const ns = Array.from({ length: Math.min(100, count - i) }, () => next++);
        await database.query(`INSERT INTO conf.${table} VALUES ${ns.map((n) => `(${n})`).join(',')}`);
      }
    },
    open: () => new BinlogSource({
      id: 'binlog', addr: `${database.host}:${database.port}`, appId: 'conf', store, logger: silentLogger(),
      params: { user: 'root', password: '', tables: [`conf.${table}`], start: `${start.file}:${start.position}`, server_id: serverId++, max_batch_rows: 100 },
    }),
    nOf: (r) => (r['after'] as { n: number }).n,
    resumes: true,
    finite: false,
  };
}, async () => {
  await db?.stop();
  for (const d of binlogDirs) await rm(d, { recursive: true, force: true });
});
