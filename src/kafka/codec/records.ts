// One Kafka record (the v2 record format, inside a record batch), written and read the way kafkajs's
// record encoder and decoder (protocol/recordBatch/record/v0) do, byte for byte and field for field, with
// plain numbers instead of 64-bit Long objects and without a fresh 512-byte buffer per record and header.
// What falls outside the plain cases (a number as a header value, a delta beyond 2^30, an offset beyond 2^53)
// is left to kafkajs: the functions here return undefined for it.

/** Key, value or header value as kafkajs's producer takes them (the plain cases). */
export type Bytes = string | Buffer | null | undefined;
export type Headers = Record<string, Bytes | Bytes[]>;

/** What kafkajs's produce request passes its record encoder for each message. */
export interface RecordInput {
  readonly offsetDelta?: number;
  readonly timestampDelta?: number;
  readonly key?: Bytes;
  readonly value?: Bytes;
  readonly headers?: Headers;
}

/** A written record in the shape kafkajs's record batch takes one: its bytes in `buf` and `buffer`. */
export interface EncodedRecord {
  readonly buf: Buffer;
  readonly buffer: Buffer;
}

/** The largest magnitude written with 32-bit arithmetic (zig-zag doubles it). */
export const SMALL = 0x3fff_ffff;

/** Bytes of a zig-zag varint of a small integer (|n| <= SMALL). */
export function varintSize(n: number): number {
  let z = ((n << 1) ^ (n >> 31)) >>> 0;
  let size = 1;
  while (z >= 0x80) {
    z >>>= 7;
    size++;
  }
  return size;
}

export function writeVarint(buf: Buffer, at: number, n: number): number {
  let z = ((n << 1) ^ (n >> 31)) >>> 0;
  while (z >= 0x80) {
    buf[at++] = (z & 0x7f) | 0x80;
    z >>>= 7;
  }
  buf[at++] = z;
  return at;
}

const plainBytes = (v: unknown): v is Bytes => v == null || typeof v === 'string' || Buffer.isBuffer(v);

/**
 * Byte lengths of the fields measured last (key, value, then the name and value of each header), kept
 * between measuring and writing; a request measures all its records first, so this grows to fit them.
 */
export class FieldLengths {
  values = new Int32Array(1024);
  used = 0;
  /** The next length writeRecord takes. */
  cursor = 0;

  next(): number {
    return this.values[this.cursor++]!;
  }

  push(n: number): void {
    if (this.used === this.values.length) {
      const grown = new Int32Array(this.values.length * 2);
      grown.set(this.values);
      this.values = grown;
    }
    this.values[this.used++] = n;
  }
}

/** Bytes of a length-prefixed field (-1 for null), its byte length pushed to `lengths`. */
function fieldSize(v: Bytes, lengths: FieldLengths): number {
  if (v == null) {
    lengths.push(-1);
    return 1;
  }
  const n = typeof v === 'string' ? Buffer.byteLength(v, 'utf8') : v.length;
  lengths.push(n);
  return varintSize(n) + n;
}

function writeField(buf: Buffer, at: number, v: Bytes, n: number): number {
  at = writeVarint(buf, at, n);
  if (v == null) return at;
  if (typeof v === 'string') buf.write(v, at, n, 'utf8');
  else v.copy(buf, at);
  return at + n;
}

/**
 * The size of a record's body (what follows its length varint), its field lengths pushed to `lengths` (key,
 * value, the header count, then the name and value of each header); -1 for a record outside the plain
 * cases (what was pushed then does not matter: the caller starts over or gives up).
 */
export function measureRecord(key: Bytes, value: Bytes, headers: Headers | undefined, offsetDelta: number, timestampDelta: number, lengths: FieldLengths): number {
  if (!plainBytes(key) || !plainBytes(value)) return -1;
  let body = 1 + varintSize(timestampDelta) + varintSize(offsetDelta) + fieldSize(key, lengths) + fieldSize(value, lengths);
  // The header count goes before the headers, so its slot is kept and filled after them.
  const countAt = lengths.used;
  lengths.push(0);
  let count = 0;
  if (headers !== undefined) {
    if (headers === null || typeof headers !== 'object') return -1;
    for (const k in headers) {
      if (!Object.prototype.hasOwnProperty.call(headers, k)) continue;
      const v = headers[k];
      if (Array.isArray(v)) {
        for (const one of v) {
          if (one == null || !plainBytes(one)) return -1;
          body += fieldSize(k, lengths) + fieldSize(one, lengths);
          count++;
        }
      } else {
        // kafkajs measures a header value with Buffer.byteLength, which throws for null: left to it.
        if (v == null || !plainBytes(v)) return -1;
        body += fieldSize(k, lengths) + fieldSize(v, lengths);
        count++;
      }
    }
  }
  lengths.values[countAt] = count;
  body += varintSize(count);
  return body > SMALL ? -1 : body;
}

/**
 * Writes a measured record at `at` (its length varint first) and returns where it ends:
 *   length varint, attributes int8 (0), timestampDelta varlong, offsetDelta varint, key, value,
 *   header count varint, then per header: name (varint length + utf8), value (varint length + bytes).
 * It takes its field lengths from `lengths`, where measureRecord left them, in the same order.
 */
export function writeRecord(buf: Buffer, at: number, body: number, key: Bytes, value: Bytes, headers: Headers | undefined, offsetDelta: number, timestampDelta: number, lengths: FieldLengths): number {
  at = writeVarint(buf, at, body);
  buf[at++] = 0;
  at = writeVarint(buf, at, timestampDelta);
  at = writeVarint(buf, at, offsetDelta);
  at = writeField(buf, at, key, lengths.next());
  at = writeField(buf, at, value, lengths.next());
  const count = lengths.next();
  at = writeVarint(buf, at, count);
  if (count === 0) return at;
  for (const k in headers) {
    if (!Object.prototype.hasOwnProperty.call(headers, k)) continue;
    const v = headers[k];
    if (Array.isArray(v)) {
      for (const one of v) {
        at = writeField(buf, at, k, lengths.next());
        at = writeField(buf, at, one, lengths.next());
      }
    } else {
      at = writeField(buf, at, k, lengths.next());
      at = writeField(buf, at, v, lengths.next());
    }
  }
  return at;
}

/** Field lengths for encodeRecord (one record at a time, so one scratch list serves every call). */
const single = new FieldLengths();

/** A record as kafkajs's record encoder writes it, or undefined for a record outside the plain cases. */
export function encodeRecord(r: RecordInput): EncodedRecord | undefined {
  const offsetDelta = r.offsetDelta ?? 0;
  const timestampDelta = r.timestampDelta ?? 0;
  if (!Number.isInteger(offsetDelta) || Math.abs(offsetDelta) > SMALL || !Number.isInteger(timestampDelta) || Math.abs(timestampDelta) > SMALL) return undefined;
  single.used = 0;
  single.cursor = 0;
  const body = measureRecord(r.key, r.value, r.headers, offsetDelta, timestampDelta, single);
  if (body < 0) return undefined;
  const buf = Buffer.allocUnsafe(varintSize(body) + body);
  writeRecord(buf, 0, body, r.key, r.value, r.headers, offsetDelta, timestampDelta, single);
  return { buf, buffer: buf };
}

// ---- reading --------------------------------------------------------------------------------------------

/** kafkajs's Decoder, as far as the record decoder uses it. */
export interface Decoder {
  readonly buffer: Buffer;
  offset: number;
}

/** What kafkajs's record-batch decoder passes the record decoder (the batch's fields, 64-bit values as strings). */
export interface BatchContext {
  readonly firstOffset?: string;
  readonly firstTimestamp?: string;
  readonly magicByte?: number;
  readonly isControlBatch?: boolean;
  readonly timestampType?: number;
  readonly maxTimestamp?: string;
}

/** A record as kafkajs's record decoder returns it. */
export interface DecodedRecord {
  magicByte: number | undefined;
  attributes: number;
  timestamp: string;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, Buffer | null | Array<Buffer | null>>;
  isControlRecord: boolean;
  batchContext: BatchContext;
}

const LOG_APPEND_TIME = 1;

/** The batch whose first offset and timestamp were parsed last (the records of a batch come one after another). */
let lastContext: BatchContext | undefined;
let lastFirstOffset = 0;
let lastFirstTimestamp = 0;

/** The read position while a record is read; -1 once something is outside the plain cases. */
let at = 0;

/** A zig-zag varint of at most 4 bytes (|n| < 2^27), or NaN (and at = -1) for a longer or cut one. */
function readVarint(buf: Buffer): number {
  let z = 0;
  for (let shift = 0; shift < 28; shift += 7) {
    if (at >= buf.length) break;
    const b = buf[at++]!;
    z |= (b & 0x7f) << shift;
    if (b < 0x80) return (z >>> 1) ^ -(z & 1);
  }
  at = -1;
  return NaN;
}

function readBytes(buf: Buffer): Buffer | null {
  const n = readVarint(buf);
  if (at < 0 || n === -1) return null;
  if (n < -1 || at + n > buf.length) {
    at = -1;
    return null;
  }
  const bytes = buf.subarray(at, at + n);
  at += n;
  return bytes;
}

/**
 * The record kafkajs's record decoder would read from `decoder`, as it would return it; undefined (the
 * decoder untouched) for a record outside the plain cases.
 */
export function decodeRecord(decoder: Decoder, ctx: BatchContext = {}): DecodedRecord | undefined {
  if (ctx !== lastContext) {
    if (typeof ctx.firstOffset !== 'string' || typeof ctx.firstTimestamp !== 'string') return undefined;
    const fo = Number(ctx.firstOffset);
    const ft = Number(ctx.firstTimestamp);
    if (!Number.isSafeInteger(fo) || !Number.isSafeInteger(ft) || String(fo) !== ctx.firstOffset || String(ft) !== ctx.firstTimestamp) return undefined;
    lastContext = ctx;
    lastFirstOffset = fo;
    lastFirstTimestamp = ft;
  }
  const buf = decoder.buffer;
  at = decoder.offset;
  if (at >= buf.length) return undefined;
  const attributes = buf.readInt8(at++);
  const timestampDelta = readVarint(buf);
  const offsetDelta = readVarint(buf);
  const key = readBytes(buf);
  const value = readBytes(buf);
  const count = readVarint(buf);
  if (at < 0 || count < -1) return undefined;
  const headers: DecodedRecord['headers'] = {};
  for (let i = 0; i < count; i++) {
    const name = readBytes(buf);
    const headerValue = readBytes(buf);
    // A null name, or one an object inherits ('constructor', '__proto__'), kafkajs's reduce treats its own way.
    if (at < 0 || name === null) return undefined;
    const text = name.toString('utf8');
    if (text in Object.prototype) return undefined;
    const was = headers[text];
    headers[text] = was === undefined ? headerValue : Array.isArray(was) ? was.concat([headerValue]) : [was, headerValue];
  }
  const timestamp = ctx.timestampType === LOG_APPEND_TIME && ctx.maxTimestamp ? ctx.maxTimestamp : String(lastFirstTimestamp + timestampDelta);
  const offset = lastFirstOffset + offsetDelta;
  if (!Number.isSafeInteger(offset)) return undefined;
  decoder.offset = at;
  return {
    magicByte: ctx.magicByte,
    attributes,
    timestamp,
    offset: String(offset),
    key,
    value,
    headers,
    isControlRecord: ctx.isControlBatch ?? false,
    batchContext: ctx,
  };
}
