// The Kafka topics of jobs, derived from app_id, created where the cluster allows (checked either way),
// and a one-shot reader of a whole topic for the CLI.
import { createHash, randomUUID } from 'node:crypto';
import type { Admin, Kafka } from 'kafkajs';
import type { Logger } from 'pino';
import { errorMessage, KisError } from '../kernel/errors.js';

export interface JobTopics {
  /** Manual and parent triggers, keyed by job; the consumer group over it decides who owns which job. */
  readonly jobs: string;
  /** Fired ticks, keyed by job, on the job's partition; compacted (the newest entry per job is its high-water mark). */
  readonly triggers: string;
  /** Run records, keyed by run id; compacted, with a retention. */
  readonly runs: string;
  /** Kill and dispatch commands every replica reads (one partition). */
  readonly commands: string;
  /** The consumer group over the jobs topic: its members are the executors. */
  readonly group: string;
}

/** Topic-safe: keeps the legal characters and adds a hash when anything was dropped (as the binlog topics do). */
function safe(name: string): string {
  const kept = name.replace(/[^A-Za-z0-9._-]/g, '');
  if (kept === name && name.length <= 200) return name;
  return `${kept.slice(0, 180)}-${createHash('sha256').update(name).digest('hex').slice(0, 10)}`;
}

export function jobTopics(appId: string): JobTopics {
  return {
    jobs: safe(`${appId}.jobs`),
    triggers: safe(`${appId}.job-triggers`),
    runs: safe(`${appId}.job-runs`),
    commands: safe(`${appId}.job-commands`),
    group: safe(`${appId}.jobs`),
  };
}

export interface JobTopicOptions {
  readonly partitions: number;
  readonly replicationFactor?: number;
  /** retention.ms of the run log (default 7 days). */
  readonly runLogRetentionMs: number;
}

/** Creates missing topics where allowed; returns the partition count of the jobs topic, checked against the trigger log. */
export async function ensureJobTopics(admin: Admin, t: JobTopics, o: JobTopicOptions, logger: Logger): Promise<number> {
  const existing = new Set(await admin.listTopics());
  const rf = o.replicationFactor !== undefined ? { replicationFactor: o.replicationFactor } : {};
  const specs = [
    { topic: t.jobs, numPartitions: o.partitions, ...rf },
    { topic: t.triggers, numPartitions: o.partitions, ...rf, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] },
    { topic: t.runs, numPartitions: o.partitions, ...rf, configEntries: [{ name: 'cleanup.policy', value: 'compact,delete' }, { name: 'retention.ms', value: String(o.runLogRetentionMs) }] },
    { topic: t.commands, numPartitions: 1, ...rf, configEntries: [{ name: 'retention.ms', value: String(86_400_000) }] },
  ].filter((s) => !existing.has(s.topic));
  if (specs.length > 0) {
    await admin.createTopics({ waitForLeaders: true, topics: specs }).catch((err: unknown) => {
      // Some clusters (and the librdkafka mock) refuse CreateTopics; auto-creation then makes them.
      logger.info({ topics: specs.map((s) => s.topic), err: errorMessage(err) }, 'jobs: cannot create topics; relying on auto-creation');
    });
  }
  const meta = await admin.fetchTopicMetadata({ topics: [t.jobs, t.triggers, t.runs, t.commands] });
  const count = (name: string): number => meta.topics.find((x) => x.name === name)?.partitions.length ?? 0;
  const n = count(t.jobs);
  if (n === 0) throw new KisError('KIS_ERR_SOURCE', `jobs: topic ${t.jobs} does not exist and could not be created: create it with ${o.partitions} partitions`);
  if (count(t.triggers) !== n) {
    throw new KisError('KIS_ERR_SOURCE', `jobs: topic ${t.triggers} has ${count(t.triggers)} partitions but ${t.jobs} has ${n}: they must match (a job's triggers live on the partition number of the job)`);
  }
  return n;
}

/** Every record of a topic, from the beginning to its current end (a throwaway consumer group, no commits). */
export async function readTopic(kafka: Kafka, admin: Admin, topic: string, timeoutMs = 30_000): Promise<Array<{ key: string | null; value: string | null; partition: number }>> {
  const ends = await admin.fetchTopicOffsets(topic);
  const todo = new Map(ends.filter((e) => Number(e.high) > Number(e.low)).map((e) => [e.partition, Number(e.high)]));
  const out: Array<{ key: string | null; value: string | null; partition: number }> = [];
  if (todo.size === 0) return out;
  const consumer = kafka.consumer({ groupId: `kisflow-jobs-read-${randomUUID()}`, maxWaitTimeInMs: 200 });
  try {
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new KisError('KIS_ERR_SOURCE', `jobs: reading ${topic} took longer than ${timeoutMs} ms`)), timeoutMs);
      consumer.run({
        autoCommit: false,
        eachBatch: async ({ batch }) => {
          for (const m of batch.messages) out.push({ key: m.key?.toString() ?? null, value: m.value?.toString() ?? null, partition: batch.partition });
          const end = todo.get(batch.partition);
          if (end !== undefined && Number(batch.lastOffset()) + 1 >= end) todo.delete(batch.partition);
          if (todo.size === 0) { clearTimeout(timer); resolve(); }
        },
      }).catch(reject);
    });
  } finally {
    await consumer.disconnect().catch(() => undefined);
  }
  return out;
}
