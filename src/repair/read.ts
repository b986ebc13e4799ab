// Reading a topic from its start up to the ends it had when the read began, with a throw-away consumer
// group that commits nothing: what repair commands look at (dead letters, saved records, inputs).
import type { Kafka } from 'kafkajs';
import { errorMessage, KisError } from '../kernel/errors.js';

export interface TopicRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly timestamp: number;
  readonly key: string | null;
  readonly value: string | null;
  readonly headers: Readonly<Record<string, string>>;
}

function headerText(h: unknown): string {
  if (Buffer.isBuffer(h)) return h.toString('utf8');
  if (Array.isArray(h)) return headerText(h[h.length - 1]);
  return h === undefined || h === null ? '' : String(h);
}

/** The records of `topics` now in the cluster (up to the current ends); a missing topic reads as empty. */
export async function readTopics(kafka: Kafka, topics: readonly string[], opts: { readonly timeoutMs?: number } = {}): Promise<TopicRecord[]> {
  const admin = kafka.admin();
  const pending = new Map<string, bigint>();
  try {
    await admin.connect();
    const existing = new Set(await admin.listTopics());
    for (const topic of topics) {
      if (!existing.has(topic)) continue;
      for (const e of await admin.fetchTopicOffsets(topic)) {
        if (BigInt(e.high) > BigInt(e.low)) pending.set(`${topic}\u0000${e.partition}`, BigInt(e.high) - 1n);
      }
    }
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
  if (pending.size === 0) return [];
  const wanted = [...new Set([...pending.keys()].map((k) => k.split('\u0000')[0]!))];
  const out: TopicRecord[] = [];
  const consumer = kafka.consumer({ groupId: `kisflow.repair.${process.pid}.${Date.now()}.${Math.random().toString(36).slice(2, 8)}`, maxWaitTimeInMs: 100 });
  let timer: NodeJS.Timeout | undefined;
  try {
    await consumer.connect();
    await consumer.subscribe({ topics: wanted, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      timer = setTimeout(() => reject(new KisError('KIS_ERR_REPAIR', `reading ${wanted.join(', ')} did not reach the end within ${opts.timeoutMs ?? 60_000} ms`)), opts.timeoutMs ?? 60_000);
      consumer.run({
        autoCommit: false,
        eachMessage: async ({ topic, partition, message }) => {
          const k = `${topic}\u0000${partition}`;
          const end = pending.get(k);
          if (end === undefined) return;
          const headers: Record<string, string> = {};
          for (const [name, v] of Object.entries(message.headers ?? {})) headers[name] = headerText(v);
          out.push({
            topic, partition, offset: message.offset, timestamp: Number(message.timestamp),
            key: message.key ? message.key.toString('utf8') : null,
            value: message.value ? message.value.toString('utf8') : null,
            headers,
          });
          if (BigInt(message.offset) >= end) pending.delete(k);
          if (pending.size === 0) resolve();
        },
      }).catch(reject);
    });
  } catch (err) {
    throw err instanceof KisError ? err : new KisError('KIS_ERR_REPAIR', `cannot read ${wanted.join(', ')}: ${errorMessage(err)}`, { cause: err });
  } finally {
    if (timer) clearTimeout(timer);
    await consumer.disconnect().catch(() => undefined);
  }
  return out.sort((a, b) => (a.topic === b.topic ? (a.partition === b.partition ? Number(BigInt(a.offset) - BigInt(b.offset)) : a.partition - b.partition) : a.topic < b.topic ? -1 : 1));
}
