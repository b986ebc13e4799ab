// What the runtime needs from where topics live: the embedded in-process log, or a Kafka cluster.
import type { Kafka } from 'kafkajs';
import type { ConnConfig, FlowConfig } from '../config/model.js';
import type { EmbeddedLog } from './embedded/log.js';
import type { Connector } from '../core/connector.js';
import type { DeadLetterSink } from '../core/dead-letter.js';
import type { TopicWriter } from '../core/pool.js';
import type { Source } from '../core/source.js';
import type { ChangelogBackend } from '../state/state-manager.js';

export interface StartOptions {
  /** Connectors whose whole topic every replica reads into a join table (joins that are not co-partitioned). */
  readonly tables?: readonly string[];
  /** Checks to run once connected, before any topic is created or checked (the co-partitioning check). */
  readonly preflight?: () => Promise<void>;
}

/** A changelog topic the transport must have before sources start. */
export interface ChangelogTopic {
  readonly topic: string;
  /** Who it belongs to, for messages. */
  readonly owner: string;
  /** Its partition count: a number, or the largest count among these input topics (Kafka sources). */
  readonly partitions: number | { readonly like: readonly string[] };
}

export interface Transport {
  readonly mode: 'embedded' | 'kafka';
  readonly deadLetters: DeadLetterSink;
  /** Kafka mode: the cluster's client, or one for other brokers (a source's addrs). */
  readonly kafka?: (addrs?: readonly string[]) => Kafka;
  /** Embedded mode: the in-process log (the test driver reads topics from it). */
  readonly log?: EmbeddedLog;
  /** The connector of a conn of type kafka. */
  connector(conn: ConnConfig): Connector;
  /** Writes rows to a topic (kis.sink with to: topic). */
  writer(topic: string): TopicWriter;
  /** The source of a flow that starts with a Load step and has no source: the connector's topic. */
  drivenSource(
    flow: FlowConfig, conn: ConnConfig, onAssigned?: (assignment: Readonly<Record<string, readonly number[]>>) => void, joinTopics?: readonly string[],
    /** Called before offsets of a partition are committed (Kafka); false: not committed. */
    beforeCommit?: (partition: number) => Promise<boolean>,
  ): Source;
  /** Where keyed state writes and restores its changelogs; the topics are created or checked in start(). */
  changelog(topics: readonly ChangelogTopic[]): ChangelogBackend;
  /** Connects and checks (or creates) every topic before any source starts. */
  start(opts?: StartOptions): Promise<void>;
  /** Partition counts of topics (Kafka; undefined where a topic does not exist). */
  partitionCounts?(topics: readonly string[]): Promise<Map<string, number | undefined>>;
  close(): Promise<void>;
}
