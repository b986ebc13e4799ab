// KisFlow's Kafka codec (src/kafka/codec/) against kafkajs's own code, on generated records and requests:
// the same bytes written, the same objects read, the same checksums, and the cases outside the plain ones
// handed to kafkajs. A last test checks, in a fresh process, that importing the Kafka client puts the codec
// in place of kafkajs's and that a request its produce code writes reads back through its fetch decoder.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { mock, test } from 'node:test';
import { crc32c, decodeRecord, encodeProduceRequest, encodeRecord, kafkajs, useKafkaCodec, type BatchContext, type ProduceArgs, type RecordInput } from '../../src/kafka/codec/index.js';

const require = createRequire(import.meta.url);
const KafkajsDecoder = require('kafkajs/src/protocol/decoder.js') as new (b: Buffer) => { buffer: Buffer; offset: number };

/** A small deterministic generator (xorshift), so a failure names a seed that reproduces it. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

const TEXTS = ['', 'a', 'u12345', 'ключ', '订单-42', '🙂 emoji', 'x'.repeat(127), 'y'.repeat(128), 'z'.repeat(20_000), '\u0000nul'];

function bytes(r: () => number, allowAbsent: boolean): string | Buffer | null | undefined {
  const k = Math.floor(r() * 10);
  if (allowAbsent && k === 0) return null;
  if (allowAbsent && k === 1) return undefined;
  const text = TEXTS[Math.floor(r() * TEXTS.length)]!;
  return k < 5 ? Buffer.from(text + String(Math.floor(r() * 1e6))) : text;
}

function record(r: () => number): RecordInput {
  const headers: Record<string, string | Buffer | Array<string | Buffer>> = {};
  const n = Math.floor(r() * 4);
  for (let i = 0; i < n; i++) {
    const name = ['kis-lineage', 'kis-error-code', 'trace', 'заголовок'][Math.floor(r() * 4)]!;
    headers[name] = r() < 0.2 ? [bytes(r, false)!, bytes(r, false)!] : bytes(r, false)!;
  }
  const span = [0, 63, 64, 8191, 8192, 1_000_000, 2 ** 27 - 1, 2 ** 29][Math.floor(r() * 8)]!;
  return {
    offsetDelta: Math.floor(r() * 20_000),
    timestampDelta: Math.floor((r() * 2 - 1) * span),
    key: bytes(r, true),
    value: bytes(r, true),
    ...(r() < 0.2 ? {} : { headers }),
  };
}

test('encodes generated records to the bytes kafkajs writes', () => {
  const r = rng(42);
  for (let i = 0; i < 3000; i++) {
    const rec = record(r);
    const ours = encodeRecord(rec);
    assert.ok(ours, `record ${i} left to kafkajs: ${JSON.stringify(rec).slice(0, 200)}`);
    assert.ok(ours.buffer.equals(kafkajs.encodeRecord(rec).buffer), `record ${i} differs: ${JSON.stringify(rec).slice(0, 200)}`);
  }
});

test('leaves to kafkajs what is outside the plain cases', () => {
  assert.equal(encodeRecord({ key: 'k', value: 'v', headers: { h: null } }), undefined, 'a null header value (kafkajs throws)');
  assert.equal(encodeRecord({ key: 'k', value: 42 as unknown as string }), undefined, 'a number as the value');
  assert.equal(encodeRecord({ key: 'k', value: 'v', timestampDelta: 2 ** 40 }), undefined, 'a delta beyond 30 bits');
  assert.equal(encodeRecord({ key: 'k', value: 'v', headers: null as unknown as undefined }), undefined, 'null headers (kafkajs throws)');
  const big = { key: 'k', value: 'v', timestampDelta: 2 ** 40, offsetDelta: 3 };
  assert.ok(kafkajs.encodeRecord(big).buffer.length > 0);
});

test('decodes what kafkajs wrote into the objects kafkajs reads', () => {
  const r = rng(7);
  const contexts: BatchContext[] = [
    { firstOffset: '0', firstTimestamp: '1764460800000', magicByte: 2, timestampType: 0, maxTimestamp: '1764460800999' },
    { firstOffset: '9007199254000000', firstTimestamp: '-1', magicByte: 2, isControlBatch: true, timestampType: 0, maxTimestamp: '-1' },
    { firstOffset: '123456789', firstTimestamp: '1764460800000', magicByte: 2, timestampType: 1, maxTimestamp: '1764460801234' },
  ];
  let fast = 0;
  for (let i = 0; i < 3000; i++) {
    const rec = record(r);
    const encoded = kafkajs.encodeRecord(rec).buffer;
    // The batch decoder hands the record decoder a decoder over the record's bytes after its length.
    const lengthBytes = encoded.length - bodyLength(encoded);
    const ctx = contexts[i % contexts.length]!;
    const theirs = kafkajs.decodeRecord(new KafkajsDecoder(encoded.subarray(lengthBytes)), ctx);
    const ours = decodeRecord(new KafkajsDecoder(encoded.subarray(lengthBytes)), ctx);
    if (ours === undefined) {
      assert.ok(Math.abs(rec.timestampDelta ?? 0) >= 2 ** 27 || (rec.offsetDelta ?? 0) >= 2 ** 27, `record ${i} left to kafkajs: ${JSON.stringify(rec).slice(0, 200)}`);
      continue;
    }
    fast++;
    assert.deepEqual(ours, theirs, `record ${i} reads differently: ${JSON.stringify(rec).slice(0, 200)}`);
  }
  assert.ok(fast > 2500, `only ${fast} of 3000 records read by KisFlow's decoder`);
});

test('a repeated header name reads as a list; a name objects inherit is left to kafkajs', () => {
  const ctx: BatchContext = { firstOffset: '10', firstTimestamp: '1000', magicByte: 2, timestampType: 0, maxTimestamp: '1000' };
  const read = (rec: RecordInput): { ours: unknown; theirs: unknown } => {
    const encoded = kafkajs.encodeRecord(rec).buffer;
    const cut = encoded.length - bodyLength(encoded);
    return { ours: decodeRecord(new KafkajsDecoder(encoded.subarray(cut)), ctx), theirs: kafkajs.decodeRecord(new KafkajsDecoder(encoded.subarray(cut)), ctx) };
  };
  const listed = read({ key: 'k', value: 'v', headers: { a: ['1', '2', '3'], b: 'x' } });
  assert.deepEqual(listed.ours, listed.theirs);
  assert.deepEqual((listed.ours as { headers: unknown }).headers, { a: [Buffer.from('1'), Buffer.from('2'), Buffer.from('3')], b: Buffer.from('x') });
  assert.equal(read({ key: 'k', value: 'v', headers: { constructor: 'x' } }).ours, undefined);
});

test('writes generated produce requests as kafkajs writes them', async (t) => {
  const now = 1_764_460_800_123;
  mock.method(Date, 'now', () => now);
  t.after(() => mock.restoreAll());
  const r = rng(99);
  for (let i = 0; i < 60; i++) {
    const topics = 1 + Math.floor(r() * 3);
    const args: ProduceArgs = {
      acks: [-1, 0, 1][i % 3]!,
      timeout: 30_000,
      transactionalId: i % 4 === 0 ? `tx-${i}` : null,
      ...(i % 5 === 0 ? { producerId: 4242 + i, producerEpoch: 3 } : {}),
      compression: 0,
      topicData: Array.from({ length: topics }, (_, ti) => ({
        topic: `topic-${ti}-${'é'.repeat(ti)}`,
        partitions: Array.from({ length: 1 + Math.floor(r() * 4) }, (_, p) => ({
          partition: p * 3,
          ...(i % 5 === 0 ? { firstSequence: 100 + p } : {}),
          messages: Array.from({ length: 1 + Math.floor(r() * (i % 7 === 0 ? 300 : 20)) }, () => {
            const { key, value, headers } = record(r);
            return { key, value, ...(headers ? { headers } : {}) };
          }),
        })),
      })),
    };
    const ours = encodeProduceRequest(args);
    assert.ok(ours, `request ${i} left to kafkajs`);
    useKafkaCodec('kafkajs');
    try {
      const theirs = (await kafkajs.produceRequest(args).encode()).buffer;
      assert.ok(ours.buffer.equals(theirs), `request ${i} differs (${ours.buffer.length} and ${theirs.length} bytes)`);
    } finally {
      useKafkaCodec('kisflow');
    }
  }
});

test('leaves compressed requests and message timestamps to kafkajs', () => {
  const topicData = [{ topic: 't', partitions: [{ partition: 0, messages: [{ key: 'k', value: 'v' }] }] }];
  assert.ok(encodeProduceRequest({ acks: -1, timeout: 1, topicData }));
  assert.equal(encodeProduceRequest({ acks: -1, timeout: 1, compression: 1, topicData }), undefined);
  assert.equal(encodeProduceRequest({ acks: -1, timeout: 1, topicData: [{ topic: 't', partitions: [{ partition: 0, messages: [{ key: 'k', value: 'v', timestamp: 5 }] }] }] }), undefined);
  assert.equal(encodeProduceRequest({ acks: -1, timeout: 1, topicData: [{ topic: 't', partitions: [{ partition: 0, messages: [{ key: 'k', value: 'v', headers: { h: null } }] }] }] }), undefined);
});

test('computes the CRC-32C kafkajs computes', () => {
  const kafkajsCrc = require('kafkajs/src/protocol/recordBatch/crc32C/index.js') as (b: Buffer) => number;
  const r = rng(5);
  for (let i = 0; i < 300; i++) {
    const b = Buffer.alloc(Math.floor(r() * 3000));
    for (let j = 0; j < b.length; j++) b[j] = Math.floor(r() * 256);
    const from = Math.floor(r() * Math.min(b.length, 17));
    assert.equal(crc32c(b, from), kafkajsCrc(b.subarray(from)), `buffer ${i} (${b.length} bytes from ${from})`);
  }
});

test('importing the Kafka client puts the codec in place; a request it writes reads back through kafkajs', () => {
  const script = `
    import { createRequire } from 'node:module';
    import './src/kafka/client.ts';
    import { codecInstalled } from './src/kafka/codec/index.ts';
    const require = createRequire(import.meta.url);
    const encode = require('kafkajs/src/protocol/requests/produce/v3/request.js');
    const decodeBatch = require('kafkajs/src/protocol/recordBatch/v0/decoder.js');
    const Decoder = require('kafkajs/src/protocol/decoder.js');
    const messages = [
      { key: 'u1', value: '{"id":1}', headers: { 'kis-lineage': '3:17:orders:src\\u001fflow/fn' } },
      { key: null, value: null, headers: {} },
      { key: Buffer.from([0, 255]), value: 'ß'.repeat(300), headers: { a: ['x', 'y'] } },
    ];
    const request = encode({ acks: -1, timeout: 1000, compression: 0, topicData: [{ topic: 't', partitions: [{ partition: 0, messages: messages.slice(0, 2) }, { partition: 5, messages: messages.slice(2) }] }] });
    const bytes = (await request.encode()).buffer;
    // Produce request v3: transactional id (null: int16 -1), acks int16, timeout int32, [topic: string,
    // [partition int32, record set size int32, record batch]].
    const d = new Decoder(bytes);
    d.offset = 2 + 2 + 4 + 4 + 2 + 1;
    const partitions = [];
    for (let n = d.readInt32(); n > 0; n--) {
      const partition = d.readInt32();
      const size = d.readInt32();
      const end = d.offset + size;
      const batch = await decodeBatch(d);
      if (d.offset !== end) throw new Error('record set size ' + size + ' does not match the batch');
      partitions.push({ partition, records: batch.records.map((r) => ({ offset: r.offset, key: r.key && [...r.key], value: r.value && r.value.toString(), headers: Object.fromEntries(Object.entries(r.headers).map(([k, v]) => [k, Array.isArray(v) ? v.map(String) : String(v)])) })) });
    }
    console.log(JSON.stringify({ installed: codecInstalled, partitions }));
  `;
  const out = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: new URL('../..', import.meta.url).pathname, encoding: 'utf8' });
  assert.equal(out.status, 0, out.stderr);
  const got = JSON.parse(out.stdout.trim().split('\n').pop()!) as { installed: unknown; partitions: unknown };
  assert.deepEqual(got.installed, { produce: true, records: true, fetch: true });
  assert.deepEqual(got.partitions, [
    { partition: 0, records: [
      { offset: '0', key: [...Buffer.from('u1')], value: '{"id":1}', headers: { 'kis-lineage': '3:17:orders:src\u001fflow/fn' } },
      { offset: '1', key: null, value: null, headers: {} },
    ] },
    { partition: 5, records: [{ offset: '0', key: [0, 255], value: 'ß'.repeat(300), headers: { a: ['x', 'y'] } }] },
  ]);
});

/** The length of a record's body: what follows the varint length prefix kafkajs puts first. */
function bodyLength(encoded: Buffer): number {
  let z = 0;
  for (let i = 0, shift = 0; i < 5; i++, shift += 7) {
    const b = encoded[i]!;
    z |= (b & 0x7f) << shift;
    if (b < 0x80) return (z >>> 1) ^ -(z & 1);
  }
  throw new Error('bad length');
}
