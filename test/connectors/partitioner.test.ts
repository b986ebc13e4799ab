// The embedded log puts a key on the partition Kafka would: checked against kafkajs' own partitioner.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Partitioners } from 'kafkajs';
import { partitionForKey } from '../../src/kernel/partitioner.js';
import { EmbeddedLog } from '../../src/connectors/embedded/log.js';

test('key -> partition equals kafkajs DefaultPartitioner (Java-compatible murmur2) for 20,000 keys', () => {
  const kafkajs = Partitioners.DefaultPartitioner();
  const keys = ['', 'a', 'ab', 'abc', 'abcd', '用户订单', '😀', 'u1_o1'];
  for (let i = 0; i < 20000; i++) keys.push(`user-${i}_order-${i * 7919}`);
  for (const partitions of [1, 3, 4, 8, 12]) {
    const meta = Array.from({ length: partitions }, (_, p) => ({ partitionErrorCode: 0, partitionId: p, leader: 0, replicas: [0], isr: [0] }));
    for (const key of keys) {
      const expected = kafkajs({ topic: 't', partitionMetadata: meta, message: { key, value: null } });
      assert.equal(partitionForKey(key, partitions), expected, `key ${JSON.stringify(key)} over ${partitions} partitions`);
    }
  }
});

test('the embedded log appends keyed records to their partition with increasing offsets', () => {
  const log = new EmbeddedLog();
  const t = log.topic('orders', 4);
  const other = ['k2', 'k3', 'k4', 'k5', 'k6'].find((k) => partitionForKey(k, 4) !== partitionForKey('k1', 4))!;
  const recs = t.append([{ key: 'k1', value: { n: 1 } }, { key: 'k1', value: { n: 2 } }, { key: other, value: { n: 3 } }]);
  assert.equal(recs[2]!.partition, partitionForKey(other, 4));
  assert.equal(recs[2]!.offset, 0);
  assert.equal(recs[0]!.partition, partitionForKey('k1', 4));
  assert.equal(recs[1]!.partition, recs[0]!.partition);
  assert.deepEqual([recs[0]!.offset, recs[1]!.offset], [0, 1]);
  assert.deepEqual(t.read(recs[0]!.partition, 1, 10).map((r) => r.value), [{ n: 2 }]);
  assert.equal(t.endOffset(recs[0]!.partition), 2);
  assert.equal(log.topic('orders', 4), t);
  assert.throws(() => log.topic('orders', 8), /topic orders has 4 partitions, but 8 were configured/);
});

test('retention: a topic with no reader keeps its newest records; with a reader, only what the reader has not passed', () => {
  const log = new EmbeddedLog();
  const unread = log.topic('dlq', 1, 2000);
  for (let i = 0; i < 20000; i++) unread.append([{ key: null, value: { i }, partition: 0 }]);
  assert.equal(unread.endOffset(0), 20000);
  assert.ok(unread.all().length <= 2000 + 4096, `kept ${unread.all().length}`);
  assert.equal(unread.all().at(-1)!.value['i'], 19999);
  assert.equal(unread.read(0, 0, 1)[0]!.offset, unread.startOffset(0), 'reading below the start reads from the oldest kept');

  const read = log.topic('saved', 1, 10);
  const reader = read.addReader();
  for (let i = 0; i < 9000; i++) read.append([{ key: null, value: { i }, partition: 0 }]);
  assert.equal(read.all().length, 9000, 'nothing the reader still needs is let go');
  reader.offsets[0] = 8500;
  read.trim(0);
  assert.deepEqual(read.read(0, 8500, 1).map((r) => r.value), [{ i: 8500 }]);
  assert.equal(read.startOffset(0), 8500);
});
