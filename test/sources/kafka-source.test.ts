// The kafka source's settings and decoding, without a broker (the broker tests are in test/integration).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { silentLogger } from '../../src/observability/logger.js';
import { kafkaConfig } from '../../src/kafka/client.js';
import { consumerConfig, decodeValue, runConfig } from '../../src/sources/kafka/kafka-source.js';
import { loadYaml } from '../helpers.js';

test('value_format: json rows, string and bytes wrapped as { value }, undecodable values with the reason', () => {
  assert.deepEqual(decodeValue(Buffer.from('{"a":1}'), 'json'), { row: { a: 1 } });
  assert.deepEqual(decodeValue(Buffer.from('plain'), 'string'), { row: { value: 'plain' } });
  assert.deepEqual(decodeValue(Buffer.from([0xff, 0x00]), 'bytes'), { row: { value: '/wA=' } });
  assert.match((decodeValue(Buffer.from('{"a":'), 'json') as { reason: string }).reason, /^malformed JSON/);
  assert.match((decodeValue(Buffer.from('[1]'), 'json') as { reason: string }).reason, /expected a JSON object, found an array/);
  assert.match((decodeValue(null, 'json') as { reason: string }).reason, /tombstone/);
});

test('max_wait_ms, partitions_concurrently and the commit policy reach the consumer', () => {
  assert.equal(consumerConfig('g', { topics: ['t'], max_wait_ms: 250 }).maxWaitTimeInMs, 250);
  assert.equal(consumerConfig('g', { topics: ['t'] }).maxWaitTimeInMs, 100);
  assert.equal(consumerConfig('g', { topics: ['t'] }).groupId, 'g');
  assert.deepEqual(runConfig({ topics: ['t'], partitions_concurrently: 8 }), { autoCommit: false, eachBatchAutoResolve: false, partitionsConsumedConcurrently: 8 });
  assert.equal(runConfig({ topics: ['t'] }).partitionsConsumedConcurrently, 4);
});

test('the cluster settings reach kafkajs: brokers, client id, timeouts, TLS and SASL from the environment', () => {
  const c = loadYaml(`kistype: global
app_id: shop
kafka:
  brokers: "k1:9093,k2:9093"
  connection_timeout_ms: 1500
  tls: { ca: "\${CA_PEM}", reject_unauthorized: true }
  sasl: { mechanism: scram-sha-256, username: svc, password: "\${KAFKA_PASSWORD}" }
`, { CA_PEM: '-----BEGIN CERTIFICATE-----', KAFKA_PASSWORD: 's3cret' }).config!;
  const k = kafkaConfig(c.global.kafka!, silentLogger());
  assert.deepEqual(k.brokers, ['k1:9093', 'k2:9093']);
  assert.equal(k.clientId, 'shop');
  assert.equal(k.connectionTimeout, 1500);
  assert.deepEqual(k.ssl, { ca: '-----BEGIN CERTIFICATE-----', rejectUnauthorized: true });
  assert.deepEqual(k.sasl, { mechanism: 'scram-sha-256', username: 'svc', password: 's3cret' });
  assert.deepEqual(kafkaConfig(c.global.kafka!, silentLogger(), ['other:9092']).brokers, ['other:9092'], "a source's addrs override the cluster");
  const plain = loadYaml('kistype: global\nkafka: { brokers: "a:1", tls: true }\n').config!;
  assert.equal(kafkaConfig(plain.global.kafka!, silentLogger()).ssl, true);
  assert.equal(kafkaConfig(plain.global.kafka!, silentLogger()).sasl, undefined);
});

test('a kafka source needs brokers, from the global document or its addrs', () => {
  const r = loadYaml({ 's.yml': 'kistype: source\nsid: k\ntype: kafka\nparams: { topics: [t] }\nflows: []\n' });
  assert.match(r.errors.map((e) => e.message).join('\n'), /s\.yml doc 1 at type \(line 3, col 7\): a kafka source needs brokers/);
  const ok = loadYaml({ 's.yml': 'kistype: source\nsid: k\ntype: kafka\naddrs: "b:1"\nparams: { topics: [t], value_format: string }\nflows: []\n' });
  assert.deepEqual(ok.errors, []);
});
