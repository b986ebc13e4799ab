// The embedded in-process log: named topics of partitions of records, used when no Kafka brokers are
// configured. Same key -> partition mapping as Kafka. Keeps nothing across restarts.
import { KisError } from '../../kernel/errors.js';
import type { Row } from '../../kernel/types.js';
import { partitionForKey } from '../../kernel/partitioner.js';

export interface LogRecord {
  readonly key: string | null;
  readonly value: Row;
  readonly headers: Readonly<Record<string, string>>;
  readonly partition: number;
  readonly offset: number;
  readonly timestamp: number;
}

export type AppendListener = (topic: EmbeddedTopic, records: readonly LogRecord[]) => void;

/** Records a topic with no reader keeps per partition (newest first out last), as a retention limit would. */
export const UNREAD_RETENTION = 100_000;

const TRIM_CHUNK = 4096;

/** A reader's committed position per partition: records every reader has passed can be let go. */
export interface TopicReader {
  readonly offsets: number[];
}

interface Partition {
  /** Offset of records[0]: records below it were let go. */
  start: number;
  records: LogRecord[];
}

export class EmbeddedTopic {
  private readonly parts: Partition[];
  private readonly listeners = new Set<AppendListener>();
  private readonly readers = new Set<TopicReader>();
  private roundRobin = 0;

  constructor(readonly name: string, readonly partitions: number, private readonly retention = UNREAD_RETENTION) {
    this.parts = Array.from({ length: partitions }, () => ({ start: 0, records: [] }));
  }

  /** A reader from the beginning; records stay until every reader has passed them. */
  addReader(): TopicReader {
    const r: TopicReader = { offsets: Array.from({ length: this.partitions }, () => 0) };
    this.readers.add(r);
    return r;
  }

  /** Lets go of records every reader has passed (or, with no reader, all but the newest `retention`). */
  trim(partition: number): void {
    const part = this.parts[partition];
    if (!part) return;
    const end = part.start + part.records.length;
    let keepFrom = end - this.retention;
    if (this.readers.size > 0) keepFrom = Math.min(...[...this.readers].map((r) => r.offsets[partition] ?? 0));
    const drop = keepFrom - part.start;
    // let go in chunks of at least TRIM_CHUNK records: trimming stays amortized, small topics stay whole
    if (drop >= TRIM_CHUNK) {
      part.records.splice(0, drop);
      part.start += drop;
    }
  }

  partitionOf(key: string | null): number {
    if (key === null) return this.roundRobin++ % this.partitions;
    return partitionForKey(key, this.partitions);
  }

  append(entries: ReadonlyArray<{ key: string | null; value: Row; headers?: Record<string, string>; partition?: number }>): LogRecord[] {
    const now = Date.now();
    const out: LogRecord[] = [];
    for (const e of entries) {
      const partition = e.partition ?? this.partitionOf(e.key);
      const part = this.parts[partition];
      if (!part) throw new KisError('KIS_ERR_CONNECTOR', `topic ${this.name} has no partition ${partition} (it has ${this.partitions})`);
      const rec: LogRecord = { key: e.key, value: e.value, headers: e.headers ?? {}, partition, offset: part.start + part.records.length, timestamp: now };
      part.records.push(rec);
      out.push(rec);
    }
    if (this.readers.size === 0) for (let p = 0; p < this.partitions; p++) this.trim(p);
    for (const l of this.listeners) l(this, out);
    return out;
  }

  /** Records from offset `from` (or from the oldest kept, if `from` was let go), at most `max`. */
  read(partition: number, from: number, max: number): LogRecord[] {
    const part = this.parts[partition];
    if (!part) return [];
    const i = Math.max(0, from - part.start);
    return part.records.slice(i, i + max);
  }

  endOffset(partition: number): number {
    const part = this.parts[partition];
    return part ? part.start + part.records.length : 0;
  }

  startOffset(partition: number): number {
    return this.parts[partition]?.start ?? 0;
  }

  /** Every record still kept, partition by partition. */
  all(): LogRecord[] {
    return this.parts.flatMap((p) => p.records);
  }

  onAppend(listener: AppendListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

export class EmbeddedLog {
  private readonly topics = new Map<string, EmbeddedTopic>();

  /** The topic, created on first use; asking again with another partition count is an error, as on Kafka. */
  topic(name: string, partitions: number, retention = UNREAD_RETENTION): EmbeddedTopic {
    const existing = this.topics.get(name);
    if (existing) {
      if (existing.partitions !== partitions) {
        throw new KisError('KIS_ERR_CONNECTOR', `topic ${name} has ${existing.partitions} partitions, but ${partitions} were configured`);
      }
      return existing;
    }
    const t = new EmbeddedTopic(name, partitions, retention);
    this.topics.set(name, t);
    return t;
  }

  get(name: string): EmbeddedTopic | undefined {
    return this.topics.get(name);
  }

  names(): string[] {
    return [...this.topics.keys()];
  }
}
