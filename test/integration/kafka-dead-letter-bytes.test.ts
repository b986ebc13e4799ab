// A record that never decodes reaches the dead-letter topic as the bytes its producer wrote (not a UTF-8
// re-encoding of them), with its full position in headers; and a connector with lineage: false saves its
// rows with no header at all. Over TCP to the librdkafka mock cluster; written and read back with kafkajs.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { Kafka, logLevel, type KafkaMessage } from 'kafkajs';
import { randomName, startMockCluster, type MockCluster } from '../infra/kafka-mock/index.js';
import { silentLogger } from '../../src/observability/logger.js';
import { prepareApp } from '../../src/runtime/app.js';
import { KisService } from '../../src/runtime/service.js';
import { waitFor } from './kafka-helpers.js';

let cluster: MockCluster;
before(async () => { cluster = await startMockCluster({ brokers: 1 }); });
after(async () => { await cluster?.stop(); });

/** Every record of a topic, read from the beginning by a group of its own. */
async function readAll(kafka: Kafka, topic: string, want: number): Promise<KafkaMessage[]> {
  const consumer = kafka.consumer({ groupId: randomName('read'), maxWaitTimeInMs: 50 });
  const got: KafkaMessage[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({ eachMessage: async ({ message }) => { got.push(message); } });
    await waitFor(`${want} records of ${topic}`, () => (got.length >= want ? true : undefined), 60_000);
  } finally {
    await consumer.disconnect();
  }
  return got;
}

test('an undecodable record is dead-lettered byte for byte; lineage: false saves records without headers', async () => {
  const app = randomName('app');
  const input = randomName('in');
  const out = randomName('out');
  await cluster.createTopic(input, 1);
  await cluster.createTopic(out, 1);
  const dir = await mkdtemp(path.join(tmpdir(), 'kisflow-dlq-bytes-'));
  await writeFile(path.join(dir, 'c.yml'), `kistype: global
app_id: ${app}
kafka: { brokers: "${cluster.bootstrap}" }
---
kistype: source
sid: orders
type: kafka
params: { topics: [${input}], from_beginning: true, max_wait_ms: 50 }
flows: [Keep]
---
kistype: conn
cid: kept
type: kafka
key: userid
params: { topic: ${out}, partitions: 1, lineage: false }
save: [SaveKept]
---
kistype: flow
flow_name: Keep
flows: [{ fid: SaveKept }]
---
kistype: func
fid: SaveKept
fmode: Save
option: { cid: kept }
`);
  const kafka = new Kafka({ brokers: [cluster.bootstrap], logLevel: logLevel.NOTHING });
  const producer = kafka.producer();
  // Not UTF-8 (0xff, 0xfe), and not JSON: decoding it as text would turn each bad byte into U+FFFD (3 bytes).
  const garbage = Buffer.from([0xff, 0xfe, 0x7b, 0x00, 0x22, 0xc3]);
  await producer.connect();
  await producer.send({ topic: input, acks: -1, messages: [
    { key: 'k-bad', value: garbage },
    { key: 'u1', value: JSON.stringify({ userid: 'u1', amount: 3 }) },
  ] });
  await producer.disconnect();
  const parsed = await prepareApp(dir);
  const svc = KisService.create(parsed.config, { pool: parsed.pool, logger: silentLogger() });
  const running = svc.run();
  try {
    const [dead] = await readAll(kafka, 'Keep.dlq', 1);
    assert.ok(dead?.value, 'the dead letter has a value');
    assert.ok(dead.value.equals(garbage), `the original bytes, unchanged: got ${dead.value.toString('hex')}`);
    assert.equal(dead.key?.toString(), 'k-bad', 'keyed as the record was');
    assert.equal(dead.headers?.['kis-error-code']?.toString(), 'KIS_ERR_ROW_DECODE');
    assert.equal(dead.headers?.['kis-topic']?.toString(), input);
    assert.equal(dead.headers?.['kis-partition']?.toString(), '0');
    assert.equal(dead.headers?.['kis-offset']?.toString(), '0', 'the full position stays on the dead letter');
    const [saved] = await readAll(kafka, out, 1);
    assert.deepEqual(JSON.parse(saved!.value!.toString()), { userid: 'u1', amount: 3 });
    assert.deepEqual(Object.keys(saved!.headers ?? {}), [], 'lineage: false writes no header');
  } finally {
    svc.stop();
    await running;
    await rm(dir, { recursive: true, force: true });
  }
});
