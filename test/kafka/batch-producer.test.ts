// The produce coalescing: sends of one event-loop turn go out as one request; when that request fails, each
// caller's records are sent alone again, so one bad record fails only its own caller. (A stand-in for the
// producer's sendBatch records the requests; the Kafka path itself is tested over TCP in test/integration.)
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Producer, ProducerBatch } from 'kafkajs';
import { BatchProducer } from '../../src/kafka/batch-producer.js';

function recorder(refuse: (value: string) => boolean): { producer: Producer; requests: ProducerBatch[] } {
  const requests: ProducerBatch[] = [];
  const producer = {
    async sendBatch(batch: ProducerBatch) {
      requests.push(batch);
      const all = (batch.topicMessages ?? []).flatMap((t) => t.messages.map((m) => String(m.value)));
      if (all.some(refuse)) throw Object.assign(new Error('MESSAGE_TOO_LARGE'), { retriable: false });
      return [];
    },
  } as unknown as Producer;
  return { producer, requests };
}

test('sends of one turn share one request; topics stay apart inside it', async () => {
  const { producer, requests } = recorder(() => false);
  const b = new BatchProducer(producer);
  await Promise.all([b.send('a', [{ value: '1' }], -1), b.send('b', [{ value: '2' }], -1), b.send('a', [{ value: '3' }], -1)]);
  assert.equal(requests.length, 1);
  assert.deepEqual(requests[0]!.topicMessages!.map((t) => [t.topic, t.messages.map((m) => m.value)]), [['a', ['1', '3']], ['b', ['2']]]);
});

test('a refused request is sent again caller by caller: only the caller with the bad record fails', async () => {
  const { producer, requests } = recorder((v) => v === 'huge');
  const b = new BatchProducer(producer);
  const results = await Promise.allSettled([b.send('a', [{ value: 'ok1' }], -1), b.send('a', [{ value: 'huge' }], -1), b.send('b', [{ value: 'ok2' }], -1)]);
  assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled']);
  assert.equal(requests.length, 4, 'the shared request, then one per caller');
});
