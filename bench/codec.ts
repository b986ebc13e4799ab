// The Kafka codec benchmark (npm run bench:codec; not part of npm test): CPU per record to write a Produce
// request and to read a fetched record batch, kafkajs's own code against KisFlow's (src/kafka/codec/), in
// the same process, alternating, on the same messages. No broker: this is the part of a produce and a fetch
// that the process spends on the wire format, which the mock cluster's own slowness hides in bench:kafka.
//
// Env: BENCH_RECORDS (records per partition per request, 500), BENCH_PARTITIONS (8), BENCH_REQUESTS (200 per
// round), BENCH_ROUNDS (4, alternating which side goes first).
import { createRequire } from 'node:module';
import { useKafkaCodec } from '../src/kafka/codec/index.js';
import { envInt } from './common.js';

const require = createRequire(import.meta.url);
type Encoded = { readonly buffer: Buffer };
const produceRequest = require('kafkajs/src/protocol/requests/produce/v3/request.js') as (args: unknown) => { encode(): Promise<Encoded> };
const decodeBatch = require('kafkajs/src/protocol/recordBatch/v0/decoder.js') as (d: unknown) => Promise<{ records: unknown[] }>;
const Decoder = require('kafkajs/src/protocol/decoder.js') as new (b: Buffer) => { offset: number };

const RECORDS = envInt('BENCH_RECORDS', 500);
const PARTITIONS = envInt('BENCH_PARTITIONS', 8);
const REQUESTS = envInt('BENCH_REQUESTS', 200);
const ROUNDS = Math.max(1, envInt('BENCH_ROUNDS', 4));

/** A saved order as bench:kafka writes it (about 150 bytes of JSON), keyed by user. */
function message(i: number, lineage: boolean): { key: string; value: string; headers?: Record<string, string> } {
  const value = JSON.stringify({ id: i, userid: `u${i % 100_003}`, orderid: `o${i}`, amount: 1 + (i % 50_000) / 100, qty: 1 + (i % 7), status: 'paid', channel: 'alipay', region: 'north', ts: 1_764_460_800_000 + i, key: `u${i % 100_003}` });
  return lineage ? { key: `u${i % 100_003}`, value, headers: { 'kis-lineage': `${i % 8}:${i}:orders-in:orders\u001fbench_kafka/SaveOrder` } } : { key: `u${i % 100_003}`, value };
}

function request(lineage: boolean): unknown {
  let n = 0;
  const partitions = Array.from({ length: PARTITIONS }, (_, partition) => ({ partition, messages: Array.from({ length: RECORDS }, () => message(n++, lineage)) }));
  return { acks: -1, timeout: 30_000, compression: 0, topicData: [{ topic: 'orders-out', partitions }] };
}

/** CPU µs per record to write REQUESTS requests. */
async function produce(args: unknown): Promise<number> {
  const c0 = process.cpuUsage();
  for (let i = 0; i < REQUESTS; i++) await produceRequest(args).encode();
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / (REQUESTS * RECORDS * PARTITIONS);
}

/** CPU µs per record to read the batches of a request REQUESTS times (the record set of each partition). */
async function fetch(batches: readonly Buffer[]): Promise<number> {
  const c0 = process.cpuUsage();
  for (let i = 0; i < REQUESTS; i++) for (const b of batches) await decodeBatch(new Decoder(b));
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / (REQUESTS * RECORDS * PARTITIONS);
}

/** The record batches of an encoded Produce request v3 (no transactional id): what a fetch would return. */
function batchesOf(bytes: Buffer): Buffer[] {
  let at = 2 + 2 + 4 + 4;
  at += 2 + bytes.readInt16BE(at) + 4;
  const out: Buffer[] = [];
  for (let p = 0; p < PARTITIONS; p++) {
    at += 4;
    const size = bytes.readInt32BE(at);
    out.push(bytes.subarray(at + 4, at + 4 + size));
    at += 4 + size;
  }
  return out;
}

async function main(): Promise<void> {
  console.log(`kafka codec benchmark: node ${process.version}; ${PARTITIONS} partitions x ${RECORDS} records per request, ${REQUESTS} requests per measurement, ${ROUNDS} rounds`);
  for (const lineage of [false, true]) {
    const args = request(lineage);
    useKafkaCodec('kafkajs');
    const batches = batchesOf((await produceRequest(args).encode()).buffer);
    const figures: Record<string, { produce: number[]; fetch: number[] }> = { kafkajs: { produce: [], fetch: [] }, kisflow: { produce: [], fetch: [] } };
    for (let r = 0; r < ROUNDS; r++) {
      const order: Array<'kafkajs' | 'kisflow'> = r % 2 === 0 ? ['kafkajs', 'kisflow'] : ['kisflow', 'kafkajs'];
      for (const side of order) {
        useKafkaCodec(side);
        await produce(args); // warm
        figures[side]!.produce.push(await produce(args));
        figures[side]!.fetch.push(await fetch(batches));
      }
    }
    const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const k = figures['kafkajs']!;
    const o = figures['kisflow']!;
    console.log(`\n${lineage ? 'with a kis-lineage header' : 'key and value only'} (CPU µs per record, median of ${ROUNDS}):`);
    console.log(`  produce  kafkajs ${median(k.produce).toFixed(2)}  kisflow ${median(o.produce).toFixed(2)}  ratio ${(median(o.produce) / median(k.produce)).toFixed(3)}`);
    console.log(`  fetch    kafkajs ${median(k.fetch).toFixed(2)}  kisflow ${median(o.fetch).toFixed(2)}  ratio ${(median(o.fetch) / median(k.fetch)).toFixed(3)}`);
  }
  useKafkaCodec('kisflow');
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.stack ?? err.message : err);
  process.exitCode = 1;
});
