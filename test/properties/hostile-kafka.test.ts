// Hostile records over the Kafka protocol (the librdkafka mock, real kafkajs clients): generated rows (deep,
// wide, huge, odd keys, numbers past 2^53) plus bytes that are not JSON or not UTF-8, empty values, a row
// nested 20,000 levels, and rows a function grows to 1.5 MB. The service never stops, and every record ends up
// exactly once in the output topic or the dead-letter topic: in = out + dead-lettered. (The mock takes records
// of any size, so a broker's MESSAGE_TOO_LARGE is covered by the bisection tests, not here.)
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { silentLogger } from '../../src/observability/logger.js';
import { prepareApp } from '../../src/runtime/app.js';
import { KisService } from '../../src/runtime/service.js';
import { randomName, startMockCluster, type MockCluster } from '../infra/kafka-mock/index.js';

let cluster: MockCluster;
let dir: string;
before(async () => {
  cluster = await startMockCluster({ brokers: 1 });
  dir = await mkdtemp(path.join(tmpdir(), 'kisflow-hostile-kafka-'));
});
after(async () => {
  await cluster?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const nest = (levels: number): string => '{"a":'.repeat(levels) + '1' + '}'.repeat(levels);
const hostile: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.integer({ min: 1, max: 120 }).map((n) => JSON.parse(nest(n)) as unknown),
  fc.integer({ min: 0, max: 400 }).map((n) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, i]))),
  fc.integer({ min: 0, max: 20_000 }).map((n) => '字'.repeat(n)),
  fc.dictionary(fc.constantFrom('__proto__', 'constructor', 'prototype', '', 'a.b'), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }),
  fc.constantFrom(2 ** 53 + 1, 1e308, -0, Number.MIN_VALUE),
);
const row = fc.record({ userid: fc.oneof(fc.constantFrom('u1', 'u2', 'u3'), hostile), payload: hostile, blow: fc.boolean() }, { requiredKeys: ['payload'] });

async function counts(kafka: Kafka, topics: string[]): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    let n = 0;
    // The high watermark: every record ever written (the mock drops old records of a partition past ~5 MB).
    for (const t of topics) for (const p of await admin.fetchTopicOffsets(t)) n += Number(p.high);
    return n;
  } finally {
    await admin.disconnect();
  }
}

test('hostile records on Kafka: the service stays up and in = out + dead-lettered, exactly', { timeout: 150_000 }, async () => {
  const seed = 20261130;
  const rows = fc.sample(row, { numRuns: 60, seed });
  const app = randomName('hostile');
  const input = randomName('in');
  const out = randomName('out');
  const dlq = randomName('dlq');
  await cluster.createTopic(input, 4);
  await cluster.createTopic(out, 4);
  await cluster.createTopic(dlq, 1);
  await writeFile(path.join(dir, 'kisflow.yml'), `kistype: global
app_id: ${app}
kafka: { brokers: "${cluster.bootstrap}" }
---
kistype: source
sid: in
type: kafka
params: { topics: [${input}], from_beginning: true, max_batch_rows: 25 }
flows: [Hostile]
---
kistype: flow
flow_id: Hostile
flow_name: Hostile
dead_letter: { topic: ${dlq} }
flows: [{ fid: Shown }, { fid: HasUser }, { fid: Blow }, { fid: SaveOut }]
---
kistype: func
fid: Shown
fname: kis.print
fmode: Calculate
---
kistype: func
fid: HasUser
fname: kis.filter
fmode: Verify
option: { default_params: { where: "$type(userid) = 'string'" } }
---
kistype: func
fid: Blow
fname: Blow
fmode: Calculate
---
kistype: func
fid: SaveOut
fmode: Save
option: { cid: Out }
---
kistype: conn
cid: Out
type: kafka
key: userid
params: { topic: ${out}, partitions: 4 }
save: [SaveOut]
`);
  const app2 = await prepareApp(dir, {
    register: (pool) => pool.faas('Blow', (flow, rs) => {
      // A row grown past the row limits by a function (limits are checked where rows enter a flow, so it is saved).
      for (const r of rs) flow.commitRow(r['blow'] === true ? { ...r, filler: 'x'.repeat(1536 * 1024) } : r, r);
    }),
  });
  const kafka = new Kafka({ brokers: cluster.bootstrap.split(','), logLevel: logLevel.NOTHING });
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  const values: Array<Buffer | null> = [
    ...rows.map((r) => Buffer.from(JSON.stringify(r))),
    Buffer.from(nest(20_000)), // parses, 20,000 levels deep: past limits.max_depth
    Buffer.from([0xff, 0xfe, 0x7b, 0x22]), // not UTF-8, not JSON
    Buffer.from('   '), Buffer.from(''), null, Buffer.from('[1,2]'), Buffer.from('{"a":'),
    Buffer.from(JSON.stringify({ userid: 'u9', blow: true })),
  ];
  await producer.send({ topic: input, acks: -1, messages: values.map((value, i) => ({ key: `k${i}`, value })) });
  await producer.disconnect();

  const svc = KisService.create(app2.config, { pool: app2.pool, logger: process.env['HOSTILE_LOG'] ? (await import('pino')).default({ level: 'info' }, (await import('pino')).default.destination('/tmp/hostile.log')) : silentLogger(), stdout: { write: (_t, cb) => { cb(); return true; } } });
  let failed: unknown;
  const running = svc.run().catch((err: unknown) => { failed = err; });
  try {
    const deadline = Date.now() + 90_000;
    let n = 0;
    while (Date.now() < deadline && failed === undefined) {
      n = await counts(kafka, [out, dlq]);
      if (n >= values.length) break;
      await new Promise((r) => setTimeout(r, 300));
    }
    assert.equal(failed, undefined, `the service stopped: ${String(failed)}`);
    await new Promise((r) => setTimeout(r, 1000)); // nothing more may arrive: exactly once each
    const outN = await counts(kafka, [out]);
    const dlqN = await counts(kafka, [dlq]);
    assert.equal(outN + dlqN, values.length, `in ${values.length} = out ${outN} + dead-lettered ${dlqN} (seed ${seed})`);
    assert.ok(svc.readiness().ready, `still running and ready: ${svc.readiness().waiting.join('; ')}`);
    const summary = svc.summary();
    assert.equal(summary.deadLetters['Hostile'], dlqN);
  } finally {
    svc.stop();
    await running;
  }
});
