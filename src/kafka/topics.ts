// Topics on a Kafka cluster: created with the configured partition count where the cluster allows it,
// otherwise created by the cluster's auto-creation; either way the count is checked, and a mismatch
// stops start-up with what to do about it.
import type { Admin } from 'kafkajs';
import type { Logger } from 'pino';
import { errorMessage, KisError } from '../kernel/errors.js';

export interface TopicSpec {
  readonly topic: string;
  /** The configured count; undefined accepts whatever the topic has. */
  readonly partitions: number | undefined;
  readonly replicationFactor?: number;
  /** Who asked for the topic, for the error message. */
  readonly owner: string;
  /** Created with cleanup.policy=compact (changelogs). */
  readonly compact?: boolean;
  /** More partitions than configured are fine (changelogs: partition p holds the state of input partition p). */
  readonly atLeast?: boolean;
  /** What to do when the count differs (default: the connector's params.partitions advice). */
  readonly remedy?: string;
}

export async function partitionCount(admin: Admin, topic: string): Promise<number | undefined> {
  try {
    const meta = await admin.fetchTopicMetadata({ topics: [topic] });
    return meta.topics[0]?.partitions.length;
  } catch {
    return undefined;
  }
}

/** Ensures every topic exists; returns the partition count of each. Throws one error listing every mismatch. */
export async function ensureTopics(admin: Admin, specs: readonly TopicSpec[], logger: Logger): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  const problems: string[] = [];
  const existing = new Set(await admin.listTopics());
  const missing = specs.filter((s) => !existing.has(s.topic));
  if (missing.length > 0) {
    try {
      await admin.createTopics({
        waitForLeaders: true,
        topics: missing.map((s) => ({
          topic: s.topic,
          ...(s.partitions !== undefined ? { numPartitions: s.partitions } : {}),
          ...(s.replicationFactor !== undefined ? { replicationFactor: s.replicationFactor } : {}),
          ...(s.compact ? { configEntries: [{ name: 'cleanup.policy', value: 'compact' }] } : {}),
        })),
      });
      logger.info({ topics: missing.map((s) => s.topic) }, 'created topics');
    } catch (err) {
      // Some clusters (and managed services) refuse CreateTopics; auto-creation then makes them.
      logger.info({ topics: missing.map((s) => s.topic), err: errorMessage(err) }, 'cannot create topics; relying on the cluster creating them on first use');
    }
  }
  for (const s of specs) {
    const n = await partitionCount(admin, s.topic);
    if (n === undefined) {
      problems.push(`topic ${s.topic} (${s.owner}) does not exist and could not be created: create it${s.partitions ? ` with ${s.partitions} partitions` : ''}`);
      continue;
    }
    counts.set(s.topic, n);
    if (s.partitions !== undefined && (s.atLeast ? n < s.partitions : n !== s.partitions)) {
      problems.push(`topic ${s.topic} has ${n} partitions but ${s.owner} needs ${s.atLeast ? 'at least ' : ''}${s.partitions}: ` +
        (s.remedy ?? `set params.partitions to ${n}, or recreate the topic with ${s.partitions} partitions (the cluster did not let us create it)`));
    }
  }
  if (problems.length > 0) throw new KisError('KIS_ERR_CONNECTOR', problems.join('\n'));
  return counts;
}
