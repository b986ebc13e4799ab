// How KisFlow's Kafka clients write and read record batches. kafkajs (2.2.x) writes each record, and each
// header of each record, into an Encoder of its own that starts with a fresh zero-filled 512-byte buffer,
// doubles and copies each level into the next, checksums a byte at a time, and does its 64-bit arithmetic
// with Long objects; reading, it parses the batch's first offset and timestamp from strings again for every
// record. On this project's benchmarks that was a third of the CPU a saved row costs. The modules in this
// folder write a Produce request once into a buffer of its exact size and read records with plain numbers,
// with the same bytes and the same decoded objects as kafkajs (a test compares them on generated records
// and requests); what falls outside the plain cases (compression, message timestamps, a number as a header
// value, 64-bit deltas) still goes through kafkajs's own code.
//
// They are put in place once per process, when this module is first imported (src/kafka/client.ts imports
// it, so before any KisFlow client produces or fetches), by swapping the exports of the kafkajs modules
// that its produce request (v3 to v7) and fetch response (v4 and later) take them from. Those are loaded on
// a client's first produce or fetch; if kafkajs produced (or fetched) in this process before, that
// direction keeps kafkajs's code (`codecInstalled` says which are in place). `useKafkaCodec('kafkajs')`
// switches back for everything in the process; the benchmarks use it to run their hand-written kafkajs
// loops on kafkajs's own code.
import { createRequire } from 'node:module';
import { encodeProduceRequest, type ProduceArgs } from './produce-request.js';
import { decodeRecord, encodeRecord, type BatchContext, type DecodedRecord, type Decoder, type EncodedRecord, type RecordInput } from './records.js';

export { crc32c } from './crc32c.js';
export { encodeProduceRequest, type ProduceArgs } from './produce-request.js';
export { decodeRecord, encodeRecord, type BatchContext, type DecodedRecord, type RecordInput } from './records.js';

const require = createRequire(import.meta.url);

type RecordEncoder = (r: RecordInput) => EncodedRecord;
type RecordDecoder = (decoder: Decoder, ctx?: BatchContext) => DecodedRecord;
interface ProduceRequest {
  readonly apiKey: number;
  readonly apiVersion: number;
  encode(): Promise<{ readonly buf: Buffer; readonly buffer: Buffer }>;
}
type ProduceRequestBuilder = (args: ProduceArgs) => ProduceRequest;

const RECORD_ENCODER = 'kafkajs/src/protocol/recordBatch/record/v0/index.js';
const RECORD_DECODER = 'kafkajs/src/protocol/recordBatch/record/v0/decoder.js';
const PRODUCE_V3 = 'kafkajs/src/protocol/requests/produce/v3/request.js';
/** Load RECORD_DECODER when they load (fetch v4 and later read their batches through it). */
const RECORD_DECODER_USERS = ['kafkajs/src/protocol/recordBatch/v0/decoder.js'];
/** Load PRODUCE_V3 when they load (v4 and v5 build on v3, v6 and v7 on v5). */
const PRODUCE_V3_USERS = ['kafkajs/src/protocol/requests/produce/v4/request.js', 'kafkajs/src/protocol/requests/produce/v5/request.js'];

let mode: 'kisflow' | 'kafkajs' = 'kisflow';

/**
 * Puts `replacement` in the place of what module `path` exports, unless a module that takes it when it
 * loads (`users`) has loaded already, or something else replaced it.
 */
function swap(path: string, original: unknown, replacement: unknown, users: readonly string[]): boolean {
  if (users.some((u) => require.cache[require.resolve(u)] !== undefined)) return false;
  const cached = require.cache[require.resolve(path)];
  if (cached === undefined || cached.exports !== original) return false;
  cached.exports = replacement;
  return true;
}

const kafkajsEncodeRecord = require(RECORD_ENCODER) as RecordEncoder;
const kafkajsDecodeRecord = require(RECORD_DECODER) as RecordDecoder;
const recordEncoder: RecordEncoder = (r) => (mode === 'kisflow' ? encodeRecord(r) : undefined) ?? kafkajsEncodeRecord(r);
const recordDecoder: RecordDecoder = (d, ctx) => (mode === 'kisflow' ? decodeRecord(d, ctx) : undefined) ?? kafkajsDecodeRecord(d, ctx);
// The record encoder first: kafkajs's produce request, loaded next, takes it (for what it still writes itself).
const recordsSwapped = swap(RECORD_ENCODER, kafkajsEncodeRecord, recordEncoder, [PRODUCE_V3]);
const fetchSwapped = swap(RECORD_DECODER, kafkajsDecodeRecord, recordDecoder, RECORD_DECODER_USERS);
const kafkajsProduceRequest = require(PRODUCE_V3) as ProduceRequestBuilder;
const produceRequest: ProduceRequestBuilder = (args) => {
  const request = kafkajsProduceRequest(args);
  return { ...request, encode: async () => (mode === 'kisflow' ? encodeProduceRequest(args) : undefined) ?? request.encode() };
};

/** Which of KisFlow's encoders and decoder are in place in this process (false: kafkajs had used its own first). */
export const codecInstalled = {
  produce: swap(PRODUCE_V3, kafkajsProduceRequest, produceRequest, PRODUCE_V3_USERS),
  records: recordsSwapped,
  fetch: fetchSwapped,
} as const;

/**
 * kafkajs's own code, for what falls outside the plain cases (and for tests). Its produce request writes its
 * records with KisFlow's record encoder while the codec is 'kisflow' (useKafkaCodec).
 */
export const kafkajs = {
  encodeRecord: kafkajsEncodeRecord,
  decodeRecord: kafkajsDecodeRecord,
  produceRequest: kafkajsProduceRequest,
};

/** Whose code writes and reads the records of this process from now on (benchmarks run their kafkajs loops on 'kafkajs'). */
export function useKafkaCodec(which: 'kisflow' | 'kafkajs'): void {
  mode = which;
}
