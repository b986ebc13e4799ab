/**
 * Tests for the Kafka mock harness, and an executable record of what kafkajs
 * 2.2.4 can do against the librdkafka 2.0.2 mock cluster.
 *
 * Run: npx tsx --test test/infra/kafka-mock/kafka-mock.test.ts
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { Kafka, logLevel, type Consumer, type KafkaMessage, type logCreator, type Producer } from 'kafkajs';

import {
  ApiKey,
  KafkaErrorCode,
  kcatConsume,
  kcatMetadata,
  kcatProduce,
  randomName,
  startMockCluster,
  type MockCluster,
} from './index.js';

const ROWS = 1_000;

let cluster: MockCluster;
const kafkaLogs: string[] = [];

before(async () => {
  cluster = await startMockCluster({ brokers: 3 });
});

after(async () => {
  await cluster?.stop();
});

const captureLogs: logCreator = () => (entry) => {
  kafkaLogs.push(`${entry.label} ${entry.namespace} ${entry.log.message} ${String(entry.log['error'] ?? '')}`);
  if (kafkaLogs.length > 500) kafkaLogs.splice(0, kafkaLogs.length - 500);
};

function kafka(clientId: string): Kafka {
  return new Kafka({
    clientId,
    brokers: cluster.brokers,
    logLevel: logLevel.WARN,
    logCreator: captureLogs,
    retry: { retries: 8, initialRetryTime: 100, maxRetryTime: 1_000 },
  });
}

function makeRows(n: number, tag: string): Array<{ key: string; value: string }> {
  return Array.from({ length: n }, (_, i) => ({
    key: `key-${i % 97}`,
    value: JSON.stringify({ i, tag, note: `row "${i}" | é` }),
  }));
}

function sortedPairs(rows: Array<{ key: string | null; value: string }>): string[] {
  return rows.map((r) => `${r.key ?? '<null>'}\u0000${r.value}`).sort();
}

/** Runs a kafkajs consumer group until `count` messages arrived (the consumer keeps running). */
async function consumeGroup(
  consumer: Consumer,
  topic: string,
  count: number,
  timeoutMs = 30_000,
): Promise<Array<{ partition: number; message: KafkaMessage }>> {
  const got: Array<{ partition: number; message: KafkaMessage }> = [];
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  let done!: () => void;
  const finished = new Promise<void>((resolve) => (done = resolve));
  await consumer.run({
    autoCommit: false,
    eachMessage: async ({ partition, message }) => {
      got.push({ partition, message });
      if (got.length >= count) done();
    },
  });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`kafkajs consumer got ${got.length}/${count} within ${timeoutMs} ms\n${kafkaLogs.slice(-20).join('\n')}`)),
      timeoutMs,
    );
  });
  try {
    await Promise.race([finished, timeout]);
  } finally {
    clearTimeout(timer);
  }
  return got;
}

test('harness: commands reply OK/ERR, are serialized, and stop() leaves no process', async () => {
  const c = await startMockCluster({ brokers: 2, topics: [{ name: randomName('h'), partitions: 2 }] });
  try {
    assert.equal(c.brokers.length, 2);
    assert.deepEqual(c.brokerIds, [1, 2]);
    assert.equal(c.bootstrap, c.brokers.join(','));
    // many commands in flight at once: each gets its own reply, in order
    const results = await Promise.allSettled([
      c.command('ping'),
      c.createTopic(randomName('t'), 3),
      c.brokerDown(9),
      c.setRtt(1, 0),
      c.command('no_such_command'),
      c.pushBrokerErrors(2, ApiKey.Produce, 2, KafkaErrorCode.REQUEST_TIMED_OUT),
      c.brokerErrorCount(2, ApiKey.Produce),
    ]);
    assert.deepEqual(
      results.map((r) => r.status),
      ['fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled'],
    );
    const down = results[2];
    assert.ok(down?.status === 'rejected' && /broker_down 9.*Broker not available/.test(String(down.reason)));
    const count = results[6];
    assert.ok(count?.status === 'fulfilled' && count.value === 2);
    await c.clearErrors(ApiKey.Produce);
    await assert.rejects(c.command('topic x'), /usage: topic/);
    await assert.rejects(c.command(''), /invalid command/);
    await assert.rejects(c.command('ping\nping'), /invalid command/);
  } finally {
    await c.stop();
  }
  await c.stop(); // idempotent
  await assert.rejects(c.command('ping'), /stopped/);
  assert.ok(c.pid !== undefined);
  assert.throws(() => process.kill(c.pid!, 0), { code: 'ESRCH' });
});

test('kcat round-trip: 1,000 keyed rows through a pre-created 6-partition topic', async () => {
  const topic = randomName('rt');
  await cluster.createTopic(topic, 6);
  const rows = makeRows(ROWS, 'kcat');
  await kcatProduce(cluster.bootstrap, topic, rows, { headers: { source: 'kcat' } });

  const got = await kcatConsume(cluster.bootstrap, topic, { count: ROWS });
  assert.equal(got.length, ROWS);
  assert.deepEqual(sortedPairs(got), sortedPairs(rows));
  // keyed partitioning: each key lives in exactly one partition; the 6 partitions are used
  const partOfKey = new Map<string, Set<number>>();
  for (const m of got) {
    const s = partOfKey.get(m.key ?? '') ?? new Set<number>();
    s.add(m.partition);
    partOfKey.set(m.key ?? '', s);
    assert.deepEqual(m.headers, { source: 'kcat' });
  }
  assert.ok([...partOfKey.values()].every((s) => s.size === 1));
  assert.equal(new Set(got.map((m) => m.partition)).size, 6);
  // offsets are dense per partition
  for (let p = 0; p < 6; p++) {
    const offs = got.filter((m) => m.partition === p).map((m) => m.offset).sort((a, b) => a - b);
    assert.deepEqual(offs, offs.map((_, i) => i));
  }
  // -e mode (exit at end of partitions) sees the same data
  const again = await kcatConsume(cluster.bootstrap, topic, { exitAtEnd: true });
  assert.equal(again.length, ROWS);

  const md = await kcatMetadata(cluster.bootstrap, topic);
  assert.equal(md.topics[0]?.partitions.length, 6);
  assert.equal(md.brokers.length, 3);
  assert.equal(md.controllerId, 0); // the mock's quirk that breaks kafkajs controller calls
});

test('kcat: null keys, empty keys and auto-created topics (4 partitions)', async () => {
  const topic = randomName('auto');
  await kcatProduce(cluster.bootstrap, topic, [{ value: 'no-key' }, { key: '', value: 'empty-key' }], { partition: 0 });
  const got = await kcatConsume(cluster.bootstrap, topic, { partition: 0 });
  assert.deepEqual(
    got.map((m) => [m.key, m.value, m.offset]),
    [
      [null, 'no-key', 0],
      ['', 'empty-key', 1],
    ],
  );
  const md = await kcatMetadata(cluster.bootstrap, topic);
  assert.equal(md.topics[0]?.partitions.length, 4);
});

test('kafkajs consumer group reads kcat rows, commits, and admin.fetchOffsets reads them back', async () => {
  const topic = randomName('grp');
  const groupId = randomName('g');
  await cluster.createTopic(topic, 6);
  const rows = makeRows(ROWS, 'group');
  await kcatProduce(cluster.bootstrap, topic, rows);

  const k = kafka('group-test');
  const consumer = k.consumer({ groupId, sessionTimeout: 10_000, heartbeatInterval: 500, maxWaitTimeInMs: 200 });
  const admin = k.admin();
  await consumer.connect();
  await admin.connect();
  try {
    const got = await consumeGroup(consumer, topic, ROWS);
    assert.equal(got.length, ROWS);
    assert.deepEqual(
      sortedPairs(got.map(({ message }) => ({ key: message.key?.toString() ?? null, value: message.value?.toString() ?? '' }))),
      sortedPairs(rows),
    );

    // commit "next offset to read" per partition, as a consumer would
    const next = new Map<number, bigint>();
    for (const { partition, message } of got) {
      const o = BigInt(message.offset) + 1n;
      if (o > (next.get(partition) ?? 0n)) next.set(partition, o);
    }
    await consumer.commitOffsets([...next].map(([partition, o]) => ({ topic, partition, offset: o.toString() })));

    const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
    const high = await admin.fetchTopicOffsets(topic);
    const byPartition = (xs: Array<{ partition: number; offset: string }>): Record<number, string> =>
      Object.fromEntries(xs.map((x) => [x.partition, x.offset]));
    assert.deepEqual(byPartition(committed?.partitions ?? []), byPartition(high));
    assert.equal(high.reduce((s, p) => s + Number(p.offset), 0), ROWS);
  } finally {
    await consumer.disconnect();
    await admin.disconnect();
  }
});

test('kafkajs capabilities against the mock (controller id 0): what works and what fails', async () => {
  const topic = randomName('cap');
  await cluster.createTopic(topic, 3);
  const k = kafka('caps');
  const admin = k.admin();
  const producer = k.producer();
  await admin.connect();
  await producer.connect();
  const results: Record<string, string> = {};
  const probe = async (name: string, fn: () => Promise<unknown>): Promise<void> => {
    try {
      await fn();
      results[name] = 'ok';
    } catch (e) {
      const err = e as Error;
      results[name] = `${err.name}: ${err.message}`;
    }
  };
  try {
    await probe('producer.send', () => producer.send({ topic, messages: [{ key: 'a', value: '1' }] }));
    await probe('producer.send(auto-create)', () => producer.send({ topic: randomName('ac'), messages: [{ value: 'x' }] }));
    await probe('admin.fetchTopicMetadata', () => admin.fetchTopicMetadata({ topics: [topic] }));
    await probe('admin.fetchTopicOffsets', () => admin.fetchTopicOffsets(topic));
    await probe('admin.describeCluster', () => admin.describeCluster());
    await probe('admin.fetchOffsets', () => admin.fetchOffsets({ groupId: randomName('none'), topics: [topic] }));
    await probe('admin.createTopics', () => admin.createTopics({ topics: [{ topic: randomName('ct') }], timeout: 2_000 }));
    await probe('admin.listGroups', () => admin.listGroups());
    await probe('admin.describeGroups', () => admin.describeGroups([randomName('none')]));
    await probe('admin.setOffsets', () =>
      admin.setOffsets({ groupId: randomName('none'), topic, partitions: [{ partition: 0, offset: '0' }] }),
    );
    const idem = k.producer({ idempotent: true, maxInFlightRequests: 1 });
    await probe('producer(idempotent)', async () => {
      await idem.connect();
      await idem.send({ topic, messages: [{ value: 'idem' }] });
    });
    await idem.disconnect().catch(() => undefined);
  } finally {
    await producer.disconnect();
    await admin.disconnect();
  }
  const brokerZero = /Broker 0 not found/;
  const noApi = /does not support the requested API version/;
  for (const ok of [
    'producer.send',
    'producer.send(auto-create)',
    'admin.fetchTopicMetadata',
    'admin.fetchTopicOffsets',
    'admin.describeCluster',
    'admin.fetchOffsets',
  ]) {
    assert.equal(results[ok], 'ok', `${ok}: ${results[ok]}`);
  }
  assert.match(results['admin.createTopics'] ?? '', brokerZero);
  assert.match(results['producer(idempotent)'] ?? '', brokerZero);
  assert.match(results['admin.listGroups'] ?? '', noApi);
  assert.match(results['admin.describeGroups'] ?? '', noApi);
  assert.match(results['admin.setOffsets'] ?? '', noApi);
});

test('fault: partition leader down for 3 s during a kafkajs produce loop loses no rows', async (t) => {
  const topic = randomName('down');
  await cluster.createTopic(topic, 3);
  const md = await kcatMetadata(cluster.bootstrap, topic);
  const leader = md.topics[0]?.partitions.find((p) => p.partition === 0)?.leader;
  assert.ok(leader !== undefined && leader > 0);

  const k = kafka('fault-down');
  const producer: Producer = k.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  const BATCH = 10;
  const OUTAGE_AT = 30; // batch index at which the leader goes down
  let sentWhileDown = 0;
  let failedSends = 0;
  let isDown = false;
  let upTimer: NodeJS.Timeout | undefined;
  let upDone: Promise<void> = Promise.resolve();
  try {
    for (let b = 0; b < ROWS / BATCH; b++) {
      if (b === OUTAGE_AT) {
        await cluster.brokerDown(leader);
        isDown = true;
        upDone = new Promise<void>((resolve, reject) => {
          upTimer = setTimeout(() => {
            isDown = false;
            cluster.brokerUp(leader).then(resolve, reject);
          }, 3_000);
        });
      }
      if (isDown) sentWhileDown++;
      const messages = Array.from({ length: BATCH }, (_, j) => {
        const i = b * BATCH + j;
        return { key: `k${i}`, value: `row-${i}` };
      });
      // At-least-once: retry the whole batch until it is acknowledged.
      for (let attempt = 0; ; attempt++) {
        try {
          await producer.send({ topic, messages: messages.map((m) => ({ ...m, partition: 0 })) });
          break;
        } catch (e) {
          failedSends++;
          if (attempt >= 30) throw e;
          await new Promise((r) => setTimeout(r, 200));
        }
      }
    }
    await upDone;
  } finally {
    clearTimeout(upTimer);
    if (isDown) await cluster.brokerUp(leader);
    await producer.disconnect();
  }
  assert.ok(sentWhileDown > 0, 'the loop overlapped the outage');

  const got = await kcatConsume(cluster.bootstrap, topic, { partition: 0, exitAtEnd: true });
  const values = got.map((m) => m.value);
  const expected = Array.from({ length: ROWS }, (_, i) => `row-${i}`);
  assert.deepEqual([...new Set(values)].sort(), [...expected].sort());
  assert.ok(values.length >= ROWS);
  // order within the partition is preserved for first occurrences
  const firstSeen = values.filter((v, i) => values.indexOf(v) === i);
  assert.deepEqual(firstSeen, expected);
  t.diagnostic(`leader ${leader}; batches sent while down ${sentWhileDown}; failed sends ${failedSends}; duplicates ${values.length - ROWS}`);
});

test('fault: injected Produce errors on the leader are retried by kafkajs without loss or duplicates', async () => {
  const topic = randomName('err');
  await cluster.createTopic(topic, 1);
  const md = await kcatMetadata(cluster.bootstrap, topic);
  const leader = md.topics[0]?.partitions[0]?.leader;
  assert.ok(leader !== undefined && leader > 0);
  await cluster.pushBrokerErrors(leader, ApiKey.Produce, 2, KafkaErrorCode.NOT_LEADER_FOR_PARTITION);
  await cluster.pushBrokerErrors(leader, ApiKey.Produce, 1, KafkaErrorCode.REQUEST_TIMED_OUT);
  assert.equal(await cluster.brokerErrorCount(leader, ApiKey.Produce), 3);

  const producer = kafka('fault-err').producer({ allowAutoTopicCreation: false });
  await producer.connect();
  try {
    for (let b = 0; b < 10; b++) {
      await producer.send({
        topic,
        messages: Array.from({ length: 100 }, (_, j) => ({ key: `k${b}`, value: `v${b * 100 + j}` })),
      });
    }
  } finally {
    await producer.disconnect();
  }
  assert.equal(await cluster.brokerErrorCount(leader, ApiKey.Produce), 0, 'all injected errors were served');
  const got = await kcatConsume(cluster.bootstrap, topic, { exitAtEnd: true });
  assert.deepEqual(
    got.map((m) => m.value),
    Array.from({ length: ROWS }, (_, i) => `v${i}`),
  );
});
