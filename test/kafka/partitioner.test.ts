// KisFlow's producer partitioner chooses as kafkajs's DefaultPartitioner does: keyed messages land on the
// same partition (generated keys, strings, bytes, numbers), a message's own partition wins, and keyless
// messages go round robin over the partitions that have a leader.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Partitioners, type PartitionMetadata } from 'kafkajs';
import { kisPartitioner } from '../../src/kafka/partitioner.js';

const meta = (n: number, down: readonly number[] = []): PartitionMetadata[] =>
  Array.from({ length: n }, (_, i) => ({ partitionId: i, leader: down.includes(i) ? -1 : 1, partitionErrorCode: 0, replicas: [1], isr: [1] }));

test('a keyed message lands where kafkajs puts it', () => {
  const ours = kisPartitioner();
  const theirs = Partitioners.DefaultPartitioner();
  const keys: Array<string | Buffer | number> = ['', 'a', 'u12345', 'ключ-7', '订单', 42, Buffer.from([0, 1, 2, 255, 254])];
  for (let i = 0; i < 2000; i++) keys.push(`user-${i}-${'x'.repeat(i % 13)}`);
  for (const n of [1, 3, 8, 12, 100]) {
    const partitionMetadata = meta(n);
    for (const key of keys) {
      const message = { key: key as string, value: 'v' };
      assert.equal(ours({ topic: 't', partitionMetadata, message }), theirs({ topic: 't', partitionMetadata, message }), `key ${JSON.stringify(key)} over ${n} partitions`);
    }
  }
});

test("a message's own partition wins; keyless messages go round robin over partitions with a leader", () => {
  const pick = kisPartitioner();
  assert.equal(pick({ topic: 't', partitionMetadata: meta(8), message: { key: 'k', value: 'v', partition: 5 } }), 5);
  const partitionMetadata = meta(6, [1, 4]);
  const seen = new Map<number, number>();
  for (let i = 0; i < 400; i++) {
    const p = pick({ topic: 't', partitionMetadata, message: { value: 'v' } });
    seen.set(p, (seen.get(p) ?? 0) + 1);
  }
  assert.deepEqual([...seen.keys()].sort(), [0, 2, 3, 5]);
  for (const count of seen.values()) assert.equal(count, 100);
  assert.ok(pick({ topic: 'u', partitionMetadata: meta(3, [0, 1, 2]), message: { value: 'v' } }) < 3, 'no leader anywhere: still a partition');
});
