// The same YAML on Kafka: kcat produces to an input topic; flow 1 verifies, calculates and Saves to an
// intermediate topic; flow 2 Loads from it and Expands to an output topic; kcat reads the results back.
// Over TCP to the librdkafka mock cluster; nothing is faked.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { Kafka, logLevel } from 'kafkajs';
import { kcatConsume, kcatProduce, randomName, startMockCluster, type MockCluster } from '../infra/kafka-mock/index.js';
import { silentLogger } from '../../src/observability/logger.js';
import { prepareApp } from '../../src/runtime/app.js';
import { KisService } from '../../src/runtime/service.js';
import { parseLineage } from '../../src/kafka/headers.js';
import { pipelineYaml, waitFor as waitForState, type PipelineNames } from './kafka-helpers.js';

let cluster: MockCluster;
before(async () => { cluster = await startMockCluster({ brokers: 3 }); });
after(async () => { await cluster?.stop(); });

const config = (names: PipelineNames, midPartitions = 4, midExtra = '', sourceExtra = ''): string =>
  pipelineYaml(names, { midPartitions, midExtra, sourceExtra });
const waitFor = <T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> => waitForState(what, fn, timeoutMs);

test('kafka mode end to end, 50,000 rows: exactly the expected rows and keys out, exactly the bad ones in the DLQ with reasons, offsets committed', async () => {
  const names = { app: randomName('app'), input: randomName('in'), mid: randomName('mid'), out: randomName('out') };
  const group = randomName('grp');
  await cluster.createTopic(names.input, 4);
  const dir = await mkdtemp(path.join(tmpdir(), 'kisflow-kafka-'));
  await writeFile(path.join(dir, 'c.yml'), config(names, 4, ', acks: 1, compression: gzip', `, group_id: ${group}, max_wait_ms: 50, partitions_concurrently: 4`));
  const app = await prepareApp(dir, { env: { ...process.env, KAFKA_BROKERS: cluster.bootstrap } });
  const svc = KisService.create(app.config, { pool: app.pool, logger: silentLogger() });
  assert.equal(svc.mode, 'kafka');
  assert.equal(svc.readiness().ready, false, 'not ready before it runs');
  const running = svc.run();
  try {
    // readiness flips once the consumer groups have their partitions
    await waitFor('readiness', async () => (svc.readiness().ready ? true : undefined));
    // 50,000 rows: 1 in 100 malformed, 1 in 100 lacking orderid, 1 in 100 with qty 0 (rejected by the Verify filter)
    const N = 50_000;
    const good: Array<{ userid: string; orderid: string; qty: number; price: number }> = [];
    const bad = { decode: 0, missing: 0, rejected: 0 };
    const lines: Array<{ key: string; value: string }> = [];
    for (let i = 0; i < N; i++) {
      const row = { userid: `u${i % 97}`, orderid: `o${i}`, qty: (i % 3) + 1, price: 2 };
      if (i % 100 === 7) { lines.push({ key: row.userid, value: `{"userid": "${row.userid}", "orderid": ` }); bad.decode++; continue; }
      if (i % 100 === 42) { lines.push({ key: row.userid, value: JSON.stringify({ userid: row.userid, qty: 1 }) }); bad.missing++; continue; }
      if (i % 100 === 77) { lines.push({ key: row.userid, value: JSON.stringify({ ...row, qty: 0 }) }); bad.rejected++; continue; }
      good.push(row);
      lines.push({ key: row.userid, value: JSON.stringify(row) });
    }
    await kcatProduce(cluster.bootstrap, names.input, lines);
    const out = await waitFor(`${good.length} output rows`, async () => {
      const msgs = await kcatConsume(cluster.bootstrap, names.out, { timeoutMs: 20_000 }).catch(() => []);
      return msgs.length >= good.length ? msgs : undefined;
    }, 120_000);
    assert.equal(out.length, good.length, 'exactly once each, in an uninterrupted run');
    const byOrder = new Map(out.map((m) => [m.key, JSON.parse(m.value) as Record<string, unknown>]));
    for (const r of good) {
      assert.deepEqual(byOrder.get(r.orderid), { ...r, total: r.qty * r.price });
    }
    const mid = await kcatConsume(cluster.bootstrap, names.mid, { timeoutMs: 20_000 });
    assert.equal(mid.length, good.length);
    for (const m of mid) {
      assert.equal(m.key, (JSON.parse(m.value) as { userid: string }).userid, 'saved rows are keyed by the connector key');
      const lineage = parseLineage(m.headers?.['kis-lineage']);
      assert.equal(lineage?.by, 'Enrich/SaveMid');
      assert.equal(lineage?.from?.source, 'orders');
      assert.equal(lineage?.from?.topic, names.input);
      assert.deepEqual(Object.keys(m.headers ?? {}), ['kis-lineage'], 'one header per saved record');
    }
    const total = bad.decode + bad.missing + bad.rejected;
    const dlq = await waitFor(`${total} dead letters`, async () => {
      const msgs = await kcatConsume(cluster.bootstrap, 'Enrich.dlq', { timeoutMs: 20_000 }).catch(() => []);
      return msgs.length >= total ? msgs : undefined;
    });
    assert.equal(dlq.length, total);
    const count = (code: string) => dlq.filter((m) => m.headers?.['kis-error-code'] === code).length;
    assert.deepEqual([count('KIS_ERR_ROW_DECODE'), count('KIS_ERR_ROW_MISSING_FIELD'), count('KIS_ERR_ROW_REJECTED')], [bad.decode, bad.missing, bad.rejected]);
    assert.match(dlq.find((m) => m.headers?.['kis-error-code'] === 'KIS_ERR_ROW_MISSING_FIELD')!.headers!['kis-error-message']!, /lacks required field orderid/);
    assert.match(dlq.find((m) => m.headers?.['kis-error-code'] === 'KIS_ERR_ROW_REJECTED')!.headers!['kis-error-message']!, /where "qty > 0" is false/);
    assert.match(dlq.find((m) => m.headers?.['kis-error-code'] === 'KIS_ERR_ROW_DECODE')!.headers!['kis-error-message']!, /malformed JSON/);
    for (const m of dlq) {
      assert.equal(m.headers?.['kis-source'], 'orders');
      assert.equal(m.headers?.['kis-topic'], names.input);
      assert.match(m.headers?.['kis-offset'] ?? '', /^\d+$/);
      assert.ok(m.headers?.['kis-error-message']);
    }
    // the input group committed every offset (end of each partition)
    const admin = new Kafka({ brokers: cluster.bootstrap.split(','), logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    try {
      const ends = await admin.fetchTopicOffsets(names.input);
      await waitFor('committed offsets at the end', async () => {
        const [committed] = await admin.fetchOffsets({ groupId: group, topics: [names.input] });
        const ok = ends.every((e) => committed!.partitions.find((p) => p.partition === e.partition)?.offset === e.high);
        return ok ? true : undefined;
      }, 20_000);
    } finally {
      await admin.disconnect();
    }
  } finally {
    svc.stop();
    await running;
    await rm(dir, { recursive: true, force: true });
  }
});

test('a partition count that differs from the configured one stops start-up with what to fix', async () => {
  const names = { app: randomName('app'), input: randomName('in'), mid: randomName('mid'), out: randomName('out') };
  await cluster.createTopic(names.mid, 2);
  const dir = await mkdtemp(path.join(tmpdir(), 'kisflow-kafka-'));
  try {
    await writeFile(path.join(dir, 'c.yml'), config(names, 6));
    const app = await prepareApp(dir, { env: { ...process.env, KAFKA_BROKERS: cluster.bootstrap } });
    const svc = KisService.create(app.config, { pool: app.pool, logger: silentLogger() });
    await assert.rejects(svc.run(), new RegExp(`topic ${names.mid} has 2 partitions but connector 'mid' needs 6: set params.partitions to 2, or recreate the topic with 6 partitions`));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('unreachable brokers: a clear error naming them and what to check', async () => {
  const names = { app: randomName('app'), input: randomName('in'), mid: randomName('mid'), out: randomName('out') };
  const dir = await mkdtemp(path.join(tmpdir(), 'kisflow-kafka-'));
  try {
    await writeFile(path.join(dir, 'c.yml'), config(names).replace('kafka: { brokers: "${KAFKA_BROKERS}" }', 'kafka: { brokers: "127.0.0.1:1", connection_timeout_ms: 300 }'));
    const app = await prepareApp(dir);
    const svc = KisService.create(app.config, { pool: app.pool, logger: silentLogger() });
    await assert.rejects(svc.run(), /cannot reach Kafka at 127\.0\.0\.1:1: .*Check kafka\.brokers in the global document/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('partitions_concurrently bounds how many partitions are processed at once, each in order; rows carry their record metadata', async () => {
  const input = randomName('in');
  await cluster.createTopic(input, 4);
  const dir = await mkdtemp(path.join(tmpdir(), 'kisflow-kafka-'));
  let active = 0;
  let maxActive = 0;
  const badMeta: string[] = [];
  const seen = new Map<number, number[]>();
  try {
    await writeFile(path.join(dir, 'c.yml'), `kistype: global
app_id: ${randomName('app')}
kafka: { brokers: "\${KAFKA_BROKERS}" }
---
kistype: source
sid: s
type: kafka
params: { topics: [${input}], from_beginning: true, max_batch_rows: 20, partitions_concurrently: 2 }
flows: [F]
---
kistype: flow
flow_name: F
flows: [{ fid: Slow }]
---
kistype: func
fid: Slow
fmode: Calculate
`);
    const app = await prepareApp(dir, {
      env: { ...process.env, KAFKA_BROKERS: cluster.bootstrap },
      register: (pool) => pool.faas('Slow', async (flow, rows) => {
        active++;
        maxActive = Math.max(maxActive, active);
        await new Promise((r) => setTimeout(r, 30));
        for (const r of rows) {
          const list = seen.get(flow.partition) ?? [];
          list.push(r['n'] as number);
          seen.set(flow.partition, list);
          const rec = flow.recordOf(r);
          if (rec?.topic !== input || rec.key !== `k${(r['n'] as number) % 8}` || rec.partition !== flow.partition || !/^\d+$/.test(rec.offset) || !/^\d+$/.test(rec.timestamp ?? '')) {
            badMeta.push(JSON.stringify(rec));
          }
        }
        active--;
      }),
    });
    // 400 rows over 4 partitions, in increasing n per partition
    await kcatProduce(cluster.bootstrap, input, Array.from({ length: 400 }, (_, n) => ({ key: `k${n % 8}`, value: JSON.stringify({ n }) })));
    const svc = KisService.create(app.config, { pool: app.pool, logger: silentLogger() });
    const running = svc.run();
    await waitFor('400 rows processed', async () => ([...seen.values()].reduce((a, l) => a + l.length, 0) >= 400 ? true : undefined));
    svc.stop();
    await running;
    assert.equal(maxActive, 2, 'two partitions at a time, never more');
    assert.deepEqual(badMeta, [], 'every row carries its topic, key, partition, offset and timestamp (flow.recordOf)');
    for (const list of seen.values()) assert.deepEqual(list, [...list].sort((a, b) => a - b), 'each partition in order');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

const MURMUR2 = { config: { 'topic.partitioner': 'murmur2_random' } };

test('kafka mode joins (co-partitioned): a payment that arrives before its order is held, and joined when the order is saved', async () => {
  const app = randomName('app');
  const orders = randomName('orders');
  const pays = randomName('pays');
  const saved = randomName('saved');
  const out = randomName('joined');
  await cluster.createTopic(orders, 4);
  await cluster.createTopic(pays, 4);
  const dir = await mkdtemp(path.join(tmpdir(), 'kisflow-kafka-'));
  try {
    await writeFile(path.join(dir, 'c.yml'), `kistype: global
app_id: ${app}
kafka: { brokers: "\${KAFKA_BROKERS}" }
---
kistype: source
sid: orders
type: kafka
params: { topics: [${orders}], from_beginning: true }
flows: [SaveOrders]
---
kistype: source
sid: pays
type: kafka
params: { topics: [${pays}], from_beginning: true }
flows: [JoinPays]
---
kistype: conn
cid: o
type: kafka
key: orderid
params: { topic: ${saved}, partitions: 4 }
---
kistype: flow
flow_name: SaveOrders
flows: [{ fid: S }]
---
kistype: flow
flow_name: JoinPays
flows: [{ fid: L }, { fid: Out }]
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
option: { default_params: { to: topic, topic: ${out}, key: orderid } }
`);
    const prepared = await prepareApp(dir, { env: { ...process.env, KAFKA_BROKERS: cluster.bootstrap } });
    // an order saved before the service starts is in the table when it starts
    await kcatProduce(cluster.bootstrap, saved, [{ key: 'o0', value: JSON.stringify({ orderid: 'o0', amount: 5 }) }], MURMUR2);
    const svc = KisService.create(prepared.config, { pool: prepared.pool, logger: silentLogger() });
    const running = svc.run();
    try {
      // keyed with Kafka's default partitioner (murmur2, as kafkajs and the Java client), so pays is co-partitioned with the saved orders
      await kcatProduce(cluster.bootstrap, pays, [0, 1, 2].map((n) => ({ key: `o${n}`, value: JSON.stringify({ orderid: `o${n}`, paid: n + 10 }) })), MURMUR2);
      await waitFor('o0 joined', async () => ((await kcatConsume(cluster.bootstrap, out, { timeoutMs: 5000 }).catch(() => [])).length >= 1 ? true : undefined));
      await kcatProduce(cluster.bootstrap, orders, [1, 2].map((n) => ({ key: `o${n}`, value: JSON.stringify({ orderid: `o${n}`, amount: n * 100 }) })), MURMUR2);
      const rows = await waitFor('3 joined rows', async () => {
        const msgs = await kcatConsume(cluster.bootstrap, out, { timeoutMs: 5000 }).catch(() => []);
        return msgs.length >= 3 ? msgs : undefined;
      });
      const joined = rows.map((m) => JSON.parse(m.value) as Record<string, unknown>).sort((a, b) => String(a['orderid']).localeCompare(String(b['orderid'])));
      assert.deepEqual(joined, [
        { orderid: 'o0', amount: 5, paid: 10 },
        { orderid: 'o1', amount: 100, paid: 11 },
        { orderid: 'o2', amount: 200, paid: 12 },
      ]);
    } finally {
      svc.stop();
      await running;
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
