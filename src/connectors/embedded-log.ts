// The embedded in-process log: named topics of partitions of records, used when no Kafka brokers are
// configured. Same key -> partition mapping as Kafka. Keeps nothing across restarts.
import { KisError } from '../kernel/errors.js';
import type { Row } from '../kernel/types.js';
import { partitionForKey } from '../kernel/partitioner.js';

export interface LogRecord {
  readonly key: string | null;
  readonly value: Row;
  readonly headers: Readonly<Record<string, string>>;
  readonly partition: number;
  readonly offset: number;
  readonly timestamp: number;
}

export type AppendListener = (topic: EmbeddedTopic, records: readonly LogRecord[]) => void;

export class EmbeddedTopic {
  private readonly parts: LogRecord[][];
  private readonly listeners = new Set<AppendListener>();
  private roundRobin = 0;

  constructor(readonly name: string, readonly partitions: number) {
    this.parts = Array.from({ length: partitions }, () => []);
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
      const rec: LogRecord = { key: e.key, value: e.value, headers: e.headers ?? {}, partition, offset: part.length, timestamp: now };
      part.push(rec);
      out.push(rec);
    }
    for (const l of this.listeners) l(this, out);
    return out;
  }

  read(partition: number, from: number, max: number): LogRecord[] {
    return (this.parts[partition] ?? []).slice(from, from + max);
  }

  endOffset(partition: number): number {
    return this.parts[partition]?.length ?? 0;
  }

  all(): LogRecord[] {
    return this.parts.flat();
  }

  onAppend(listener: AppendListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

export class EmbeddedLog {
  private readonly topics = new Map<string, EmbeddedTopic>();

  /** The topic, created on first use; asking again with another partition count is an error, as on Kafka. */
  topic(name: string, partitions: number): EmbeddedTopic {
    const existing = this.topics.get(name);
    if (existing) {
      if (existing.partitions !== partitions) {
        throw new KisError('KIS_ERR_CONNECTOR', `topic ${name} has ${existing.partitions} partitions, but ${partitions} were configured`);
      }
      return existing;
    }
    const t = new EmbeddedTopic(name, partitions);
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
