// Changelogs on Kafka. Writes are keyed records to an explicit partition (the input partition the state
// belongs to), acknowledged by all replicas. A restore reads one or more partitions from their start to
// the end they had when it began, through a one-member group whose assigner hands it exactly those
// partitions (kafkajs has no manual assign); restores asked for together share one such reader. The same
// reader restores a store from its input topic (raw records), up to the feeding group's committed offset.
import { randomUUID } from 'node:crypto';
import type { Admin, Kafka } from 'kafkajs';
import type { BatchProducer } from '../../kafka/batch-producer.js';
import type { Logger } from 'pino';
import { errorMessage, KisError } from '../../kernel/errors.js';
import { fixedAssigner } from '../../kafka/assigners.js';
import type { ChangelogRecord } from '../../state/partition-store.js';
import type { ChangelogBackend } from '../../state/state-manager.js';

/** A record as read: its key and value as UTF-8 text (null when absent). */
type RawApply = (key: string | null, value: string | null) => void;

interface Pending {
  readonly apply: RawApply;
  /** Read no further than this group's committed offset of the partition. */
  readonly group?: string | undefined;
  readonly resolve: (n: number) => void;
  readonly reject: (err: unknown) => void;
}

/** Restores asked for within this window share one reader. */
const GATHER_MS = 50;

export class KafkaChangelog implements ChangelogBackend {
  private readonly pending = new Map<string, Map<number, Pending[]>>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly kafka: Kafka, private readonly producer: BatchProducer, private readonly admin: Admin, private readonly appId: string, private readonly logger: Logger) {}

  async write(topic: string, partition: number, records: readonly ChangelogRecord[]): Promise<void> {
    try {
      await this.producer.send(topic, records.map((r) => ({ key: r.key, value: r.value === null ? null : JSON.stringify(r.value), partition })), -1);
    } catch (err) {
      throw new KisError('KIS_ERR_STATE', `writing ${records.length} state changes to changelog ${topic}[${partition}] failed: ${errorMessage(err)}`, { cause: err, retriable: true });
    }
  }

  read(topic: string, partition: number, apply: (rec: ChangelogRecord) => void): Promise<number> {
    return this.ask(topic, partition, (key, value) => apply({ key: key ?? '', value: value === null ? null : JSON.parse(value) as ChangelogRecord['value'] }), undefined);
  }

  readTopic(topic: string, partition: number, apply: RawApply, group?: string): Promise<number> {
    return this.ask(topic, partition, apply, group);
  }

  private ask(topic: string, partition: number, apply: RawApply, group: string | undefined): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      let m = this.pending.get(topic);
      if (!m) this.pending.set(topic, (m = new Map()));
      // Two asks for one partition in the same window (dropped and assigned again) both get the records.
      m.set(partition, [...(m.get(partition) ?? []), { apply, group, resolve, reject }]);
      this.timer ??= setTimeout(() => {
        this.timer = undefined;
        const batches = [...this.pending];
        this.pending.clear();
        for (const [t, parts] of batches) void this.restore(t, parts);
      }, GATHER_MS);
    });
  }

  private async restore(topic: string, asks: Map<number, Pending[]>): Promise<void> {
    const parts = new Map<number, Pending>();
    for (const [partition, list] of asks) {
      parts.set(partition, {
        apply: (k, v) => { for (const p of list) p.apply(k, v); },
        group: list.find((p) => p.group !== undefined)?.group,
        resolve: (n) => { for (const p of list) p.resolve(n); },
        reject: (err) => { for (const p of list) p.reject(err); },
      });
    }
    let offsets: Array<{ partition: number; low: string; high: string }>;
    try {
      offsets = await this.admin.fetchTopicOffsets(topic);
    } catch (err) {
      for (const p of parts.values()) p.reject(err);
      return;
    }
    // A store fed by a consumer group stops at the group's committed offset: the group hands on the rest again.
    const committed = new Map<number, bigint>();
    for (const group of new Set([...parts.values()].map((p) => p.group).filter((g): g is string => g !== undefined))) {
      try {
        const [t] = await this.admin.fetchOffsets({ groupId: group, topics: [topic] });
        for (const o of t?.partitions ?? []) if (parts.get(o.partition)?.group === group) committed.set(o.partition, BigInt(o.offset));
      } catch (err) {
        for (const p of parts.values()) p.reject(err);
        return;
      }
    }
    const ends = new Map<number, bigint>();
    const counts = new Map<number, number>();
    for (const [partition, p] of parts) {
      const o = offsets.find((x) => x.partition === partition);
      if (!o) {
        p.reject(new KisError('KIS_ERR_STATE', `changelog ${topic} has no partition ${partition} (it has ${offsets.length}); its partition count must equal the input's`));
        parts.delete(partition);
        continue;
      }
      // -1: the group committed nothing, and hands on the whole partition
      const c = committed.get(partition);
      const end = c !== undefined && c < BigInt(o.high) ? (c < 0n ? 0n : c) : BigInt(o.high);
      if (end <= BigInt(o.low)) {
        p.resolve(0);
        parts.delete(partition);
      } else {
        ends.set(partition, end);
        counts.set(partition, 0);
      }
    }
    if (parts.size === 0) return;
    const groupId = `${this.appId}.restore.${randomUUID()}`;
    const consumer = this.kafka.consumer({ groupId, partitionAssigners: [fixedAssigner(topic, [...parts.keys()])], maxWaitTimeInMs: 100, maxBytesPerPartition: 4 << 20 });
    let finished: () => void = () => {};
    const done = new Promise<void>((resolve) => { finished = resolve; });
    let failed: ((err: unknown) => void) | undefined;
    const crash = new Promise<never>((_, reject) => { failed = reject; });
    consumer.on(consumer.events.CRASH, (e) => {
      const { error, restart } = e.payload as { error: Error; restart: boolean };
      if (!restart) failed?.(error);
    });
    try {
      await consumer.connect();
      await consumer.subscribe({ topics: [topic], fromBeginning: true });
      await consumer.run({
        autoCommit: false,
        eachBatch: async ({ batch }) => {
          const p = parts.get(batch.partition);
          const end = ends.get(batch.partition);
          if (!p || end === undefined) return;
          let n = counts.get(batch.partition)!;
          for (const m of batch.messages) {
            if (BigInt(m.offset) >= end) break;
            p.apply(m.key?.toString('utf8') ?? null, m.value === null ? null : m.value.toString('utf8'));
            n++;
          }
          counts.set(batch.partition, n);
          const last = batch.messages[batch.messages.length - 1];
          if (last && BigInt(last.offset) + 1n >= end) {
            parts.delete(batch.partition);
            p.resolve(n);
            if (parts.size === 0) finished();
          }
        },
      });
      await Promise.race([done, crash]);
    } catch (err) {
      this.logger.error({ topic, err: errorMessage(err) }, 'state restore failed');
      for (const p of parts.values()) p.reject(err);
    } finally {
      await consumer.stop().catch(() => undefined);
      await consumer.disconnect().catch(() => undefined);
      await this.admin.deleteGroups([groupId]).catch(() => undefined);
    }
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
  }
}
