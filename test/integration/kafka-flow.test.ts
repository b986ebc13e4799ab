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

let cluster: MockCluster;
before(async () => { cluster = await startMockCluster({ brokers: 3 }); });
after(async () => { await cluster?.stop(); });

function config(names: { app: string; input: string; mid: string; out: string }, midPartitions = 4): string {
  return `kistype: global
app_id: ${names.app}
kafka: { brokers: "\${KAFKA_BROKERS}" }
---
kistype: source
sid: orders
type: kafka
params: { topics: [${names.input}], from_beginning: true, max_batch_rows: 200 }
flows: [Enrich]
---
kistype: conn
cid: mid
type: kafka
key: userid
params: { topic: ${names.mid}, partitions: ${midPartitions} }
save: [SaveMid]
load: [LoadMid]
---
kistype: flow
flow_name: Enrich
flows: [{ fid: Check }, { fid: Total }, { fid: SaveMid }]
---
kistype: flow
flow_name: Publish
flows: [{ fid: LoadMid }, { fid: Out }]
---
kistype: func
fid: Check
fname: kis.filter
fmode: Verify
source: { name: orders, must: [userid, orderid] }
option: { default_params: { where: "qty > 0" } }
---
kistype: func
fid: Total
fname: kis.map
fmode: Calculate
option: { default_params: { set: { total: "qty * price" } } }
---
kistype: func
fid: SaveMid
fmode: Save
option: { cid: mid }
---
kistype: func
fid: LoadMid
fmode: Load
option: { cid: mid }
---
kistype: func
fid: Out
fname: kis.sink
fmode: Expand
option: { default_params: { to: topic, topic: ${names.out}, key: orderid } }
`;
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

test('kafka mode end to end: rows, keys, dead letters with reasons, committed offsets', async () => {
  const names = { app: randomName('app'), input: randomName('in'), mid: randomName('mid'), out: randomName('out') };
  await cluster.createTopic(names.input, 4);
  const dir = await mkdtemp(path.join(tmpdir(), 'kisflow-kafka-'));
  await writeFile(path.join(dir, 'c.yml'), config(names));
  const app = await prepareApp(dir, { env: { ...process.env, KAFKA_BROKERS: cluster.bootstrap } });
  const svc = KisService.create(app.config, { pool: app.pool, logger: silentLogger() });
  assert.equal(svc.mode, 'kafka');
  const running = svc.run();
  try {
    const good = Array.from({ length: 300 }, (_, i) => ({ userid: `u${i % 17}`, orderid: `o${i}`, qty: (i % 3) + 1, price: 2 }));
    const lines = [
      ...good.map((r) => ({ key: String(r.userid), value: JSON.stringify(r) })),
      { key: 'bad', value: '{"userid": "u1", "orderid": ' },          // malformed JSON
      { key: 'bad', value: JSON.stringify({ userid: 'u2', qty: 1 }) },   // lacks orderid
      { key: 'bad', value: JSON.stringify({ userid: 'u3', orderid: 'z', qty: 0 }) }, // qty > 0 is false
    ];
    await kcatProduce(cluster.bootstrap, names.input, lines);
    const out = await waitFor('300 output rows', async () => {
      const msgs = await kcatConsume(cluster.bootstrap, names.out, { timeoutMs: 10_000 }).catch(() => []);
      return msgs.length >= 300 ? msgs : undefined;
    });
    assert.equal(out.length, 300);
    const byOrder = new Map(out.map((m) => [m.key, JSON.parse(m.value) as Record<string, unknown>]));
    for (const r of good) {
      assert.deepEqual(byOrder.get(r.orderid), { ...r, total: r.qty * r.price });
    }
    const mid = await kcatConsume(cluster.bootstrap, names.mid, { timeoutMs: 10_000 });
    assert.equal(mid.length, 300);
    for (const m of mid) assert.equal(m.key, (JSON.parse(m.value) as { userid: string }).userid, 'saved rows are keyed by the connector key');
    const dlq = await waitFor('3 dead letters', async () => {
      const msgs = await kcatConsume(cluster.bootstrap, 'Enrich.dlq', { timeoutMs: 10_000 }).catch(() => []);
      return msgs.length >= 3 ? msgs : undefined;
    });
    const codes = dlq.map((m) => m.headers?.['kis-error-code']).sort();
    assert.deepEqual(codes, ['KIS_ERR_ROW_DECODE', 'KIS_ERR_ROW_MISSING_FIELD', 'KIS_ERR_ROW_REJECTED']);
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
        const [committed] = await admin.fetchOffsets({ groupId: `${names.app}.orders`, topics: [names.input] });
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
    await assert.rejects(svc.run(), new RegExp(`topic ${names.mid} has 2 partitions but connector 'mid' configures 6: set params.partitions to 2, or recreate the topic with 6 partitions`));
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
