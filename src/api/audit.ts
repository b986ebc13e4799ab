// The audit trail of the console: every state-changing action and every login, login failure and logout.
// Kafka mode: one record per action in `<app_id>.audit`, written with acks=-1 before the answer, read back
// newest first by any replica (only the tail it needs). Embedded mode: the last 1000 in memory, and a log line each.
import type { Kafka, Producer } from 'kafkajs';
import type { Logger } from 'pino';
import { errorMessage, KisError } from '../kernel/errors.js';
import { auditTopic } from '../kernel/names.js';
import { ensureTopics } from '../kafka/topics.js';
import type { AuditRecord } from './contract.js';

export interface AuditLog {
  /**
   * Throws when records cannot be written now. Called before an action runs: an action that could not be
   * audited must not run, because an audit trail with holes cannot answer "who did this".
   */
  ready(): Promise<void>;
  /** Resolves once the record is durable (Kafka: acknowledged by every in-sync replica). */
  write(record: AuditRecord): Promise<void>;
  /** Newest first. */
  read(limit: number): Promise<readonly AuditRecord[]>;
  close(): Promise<void>;
}

export const MEMORY_AUDIT_SIZE = 1000;

export class MemoryAudit implements AuditLog {
  private readonly records: AuditRecord[] = [];

  constructor(private readonly logger: Logger) {}

  async ready(): Promise<void> {}

  async write(record: AuditRecord): Promise<void> {
    this.records.push(record);
    if (this.records.length > MEMORY_AUDIT_SIZE) this.records.splice(0, this.records.length - MEMORY_AUDIT_SIZE);
    this.logger.info({ audit: { user: record.user, role: record.role, action: record.action, target: record.target, outcome: record.outcome } }, 'audit');
  }

  async read(limit: number): Promise<readonly AuditRecord[]> {
    return this.records.slice(-limit).reverse();
  }

  async close(): Promise<void> {}
}

export class KafkaAudit implements AuditLog {
  readonly topic: string;
  private producer: Producer | undefined;
  private connecting: Promise<Producer> | undefined;

  constructor(private readonly kafka: Kafka, appId: string, private readonly logger: Logger) {
    this.topic = auditTopic(appId);
  }

  private connect(): Promise<Producer> {
    this.connecting ??= (async () => {
      const admin = this.kafka.admin();
      try {
        await admin.connect();
        // One partition keeps the trail in one order; a cluster that made more is accepted.
        await ensureTopics(admin, [{ topic: this.topic, partitions: 1, atLeast: true, owner: 'the console audit' }], this.logger);
      } finally {
        await admin.disconnect().catch(() => undefined);
      }
      const producer = this.kafka.producer({ allowAutoTopicCreation: true, idempotent: false });
      await producer.connect();
      this.producer = producer;
      return producer;
    })().catch((err: unknown) => {
      this.connecting = undefined; // the next action tries again
      throw new KisError('KIS_ERR_CONNECTOR', `the audit topic ${this.topic} cannot be written: ${errorMessage(err)}`, { cause: err, retriable: true, context: { topic: this.topic } });
    });
    return this.connecting;
  }

  async ready(): Promise<void> {
    await this.connect();
  }

  async write(record: AuditRecord): Promise<void> {
    const producer = await this.connect();
    try {
      await producer.send({
        topic: this.topic,
        acks: -1,
        // Partition 0 always: the trail keeps one order even on a topic the cluster auto-created with several.
        messages: [{ key: record.user, value: JSON.stringify(record), timestamp: String(record.at), partition: 0 }],
      });
    } catch (err) {
      throw new KisError('KIS_ERR_CONNECTOR', `the audit record could not be written to ${this.topic}: ${errorMessage(err)}`, { cause: err, retriable: true, context: { topic: this.topic } });
    }
  }

  /** Reads only the tail of each partition (the last `limit` offsets), so a long trail costs no more than a short one. */
  async read(limit: number): Promise<readonly AuditRecord[]> {
    const tails = new Map<number, { from: bigint; end: bigint }>();
    const admin = this.kafka.admin();
    try {
      await admin.connect();
      if (!(await admin.listTopics()).includes(this.topic)) return [];
      for (const o of await admin.fetchTopicOffsets(this.topic)) {
        const [low, high] = [BigInt(o.low), BigInt(o.high)];
        if (high > low) tails.set(o.partition, { from: high - BigInt(limit) > low ? high - BigInt(limit) : low, end: high - 1n });
      }
    } catch (err) {
      throw new KisError('KIS_ERR_CONNECTOR', `cannot read the audit topic ${this.topic}: ${errorMessage(err)}`, { cause: err, retriable: true, context: { topic: this.topic } });
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
    if (tails.size === 0) return [];
    const out: Array<{ record: AuditRecord; offset: bigint }> = [];
    const pending = new Set(tails.keys());
    // A throw-away group that commits nothing, as repair reads do; seek puts each partition at its tail.
    const consumer = this.kafka.consumer({ groupId: `kisflow.audit-read.${process.pid}.${Date.now()}.${Math.random().toString(36).slice(2, 8)}`, maxWaitTimeInMs: 100 });
    let timer: NodeJS.Timeout | undefined;
    try {
      await consumer.connect();
      await consumer.subscribe({ topics: [this.topic], fromBeginning: true });
      await new Promise<void>((resolve, reject) => {
        timer = setTimeout(() => reject(new Error('the read did not reach the end within 30 s')), 30_000);
        consumer.run({
          autoCommit: false,
          eachMessage: async ({ partition, message }) => {
            const tail = tails.get(partition);
            const offset = BigInt(message.offset);
            if (!tail || offset < tail.from || !pending.has(partition)) return;
            if (message.value) {
              try {
                out.push({ record: JSON.parse(message.value.toString('utf8')) as AuditRecord, offset });
              } catch {
                // A record someone else wrote to the topic is skipped rather than failing the whole page.
              }
            }
            if (offset >= tail.end) pending.delete(partition);
            if (pending.size === 0) resolve();
          },
        }).then(() => {
          for (const [partition, tail] of tails) consumer.seek({ topic: this.topic, partition, offset: String(tail.from) });
        }, reject);
      });
    } catch (err) {
      throw new KisError('KIS_ERR_CONNECTOR', `cannot read the audit topic ${this.topic}: ${errorMessage(err)}`, { cause: err, retriable: true, context: { topic: this.topic } });
    } finally {
      if (timer) clearTimeout(timer);
      await consumer.disconnect().catch(() => undefined);
    }
    // Newest offset first, then by time (stable), so records of the same millisecond keep their written order.
    out.sort((a, b) => (a.offset === b.offset ? 0 : a.offset > b.offset ? -1 : 1));
    return out.map((o) => o.record).sort((a, b) => b.at - a.at).slice(0, limit);
  }

  async close(): Promise<void> {
    // A connect still under way would leave a producer behind: wait for it, then disconnect what it made.
    await this.connecting?.catch(() => undefined);
    const p = this.producer;
    this.producer = undefined;
    this.connecting = undefined;
    await p?.disconnect().catch(() => undefined);
  }
}
