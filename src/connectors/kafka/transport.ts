// The Kafka transport: Save produces keyed JSON records to the connector's topic and resolves on the
// broker's acknowledgement; dead letters go to each flow's dead-letter topic with their reason in headers;
// Load-driven flows consume the connector's topic through their own consumer group; joins read the
// connector's topic into a table. Topics are created or checked before any source starts.
import { randomUUID } from 'node:crypto';
import type { Admin, Kafka, Producer } from 'kafkajs';
import type { Logger } from 'pino';
import type { KafkaConnParamsT } from '../../config/codecs.js';
import type { ConnConfig, FlowConfig, KisConfig } from '../../config/model.js';
import { recordKey } from '../../core/connector.js';
import type { DeadLetter } from '../../core/dead-letter.js';
import type { TopicWriter } from '../../core/pool.js';
import { errorMessage, KisError } from '../../kernel/errors.js';
import { rowToJson } from '../../kernel/json.js';
import { createKafka } from '../../kafka/client.js';
import { KafkaSource } from '../../sources/kafka/kafka-source.js';
import type { Source, SourceObserver } from '../../core/source.js';
import { connectorTopic, drivenFlowGroup, tableGroup } from '../../kernel/names.js';
import { BatchProducer } from '../../kafka/batch-producer.js';
import { kisPartitioner } from '../../kafka/partitioner.js';
import { KafkaConnector } from './connector.js';
import { KafkaDeadLetters } from './dead-letters.js';
import { ensureTopics, partitionCount, type TopicSpec } from '../../kafka/topics.js';
import { KafkaChangelog } from './changelog.js';
import type { ChangelogBackend } from '../../state/state-manager.js';
import type { ChangelogTopic, StartOptions, Transport } from '../transport.js';

export class KafkaTransport implements Transport {
  readonly mode = 'kafka' as const;
  readonly client: Kafka;
  readonly kafka = (addrs?: readonly string[]): Kafka => (addrs && addrs.length > 0 ? createKafka(this.config.global.kafka!, this.logger, addrs) : this.client);
  readonly deadLetters: KafkaDeadLetters;
  private readonly producer: Producer;
  private readonly batches: BatchProducer;
  private readonly admin: Admin;
  private readonly connectors = new Map<string, KafkaConnector>();
  private readonly extraTopics = new Map<string, TopicSpec>();
  private readonly tableSources: KafkaSource[] = [];
  private readonly tableAbort = new AbortController();
  private readonly tableRuns: Promise<void>[] = [];
  private changelogTopics: readonly ChangelogTopic[] = [];
  private changelogBackend: KafkaChangelog | undefined;

  constructor(
    private readonly config: KisConfig,
    private readonly logger: Logger,
    onDeadLetters?: (letters: readonly DeadLetter[]) => void,
    private readonly observer?: SourceObserver,
    private readonly clock: () => number = Date.now,
    private readonly onTableEvicted: (cid: string, n: number) => void = () => {},
  ) {
    this.client = createKafka(config.global.kafka!, logger);
    this.producer = this.client.producer({ createPartitioner: kisPartitioner, allowAutoTopicCreation: true, idempotent: false, retry: { retries: 10, initialRetryTime: 200, maxRetryTime: 3000 } });
    this.admin = this.client.admin();
    this.batches = new BatchProducer(this.producer);
    this.deadLetters = new KafkaDeadLetters(this.batches, logger, onDeadLetters, config.global.limits?.maxBytes);
  }

  connector(conn: ConnConfig): KafkaConnector {
    let c = this.connectors.get(conn.cid);
    if (!c) {
      c = new KafkaConnector(conn, this.batches, this.clock, (n) => this.onTableEvicted(conn.cid, n));
      this.connectors.set(conn.cid, c);
    }
    return c;
  }

  writer(topic: string): TopicWriter {
    this.extraTopics.set(topic, { topic, partitions: undefined, owner: `a kis.sink writing to ${topic}` });
    const producer = this.batches;
    return {
      topic,
      async write(rows, keyFields) {
        try {
          await producer.send(topic, rows.map((r) => ({ key: recordKey(r, keyFields) ?? null, value: rowToJson(r) })), -1);
        } catch (err) {
          throw new KisError('KIS_ERR_SINK', `writing ${rows.length} rows to topic ${topic} failed: ${errorMessage(err)}`, { cause: err, retriable: true });
        }
      },
    };
  }

  changelog(topics: readonly ChangelogTopic[]): ChangelogBackend {
    this.changelogTopics = topics;
    this.changelogBackend ??= new KafkaChangelog(this.client, this.batches, this.admin, this.config.global.appId, this.logger);
    return this.changelogBackend;
  }

  drivenSource(
    flow: FlowConfig, conn: ConnConfig, onAssigned?: (assignment: Readonly<Record<string, readonly number[]>>) => void, joinTopics: readonly string[] = [],
    beforeCommit?: (partition: number) => Promise<boolean>,
  ): Source {
    const { topic } = connectorTopic(conn);
    return new KafkaSource({
      id: `conn:${conn.cid}`,
      kafka: this.client,
      groupId: drivenFlowGroup(this.config.global.appId, flow.id),
      params: { topics: [topic, ...joinTopics.filter((t) => t !== topic)], from_beginning: true },
      logger: this.logger,
      ...(this.observer ? { observer: this.observer } : {}),
      ...(onAssigned ? { onAssigned } : {}),
      ...(beforeCommit ? { beforeCommit } : {}),
    });
  }

  async partitionCounts(topics: readonly string[]): Promise<Map<string, number | undefined>> {
    const out = new Map<string, number | undefined>();
    for (const t of topics) out.set(t, await partitionCount(this.admin, t));
    return out;
  }

  async start(opts: StartOptions = {}): Promise<void> {
    const brokers = this.config.global.kafka!.brokers.join(',');
    try {
      await this.admin.connect();
      await this.producer.connect();
    } catch (err) {
      throw new KisError('KIS_ERR_CONNECTOR', `cannot reach Kafka at ${brokers}: ${errorMessage(err)}. Check kafka.brokers in the global document (or KAFKA_BROKERS) and that the brokers are up and reachable from here`, { cause: err });
    }
    await opts.preflight?.();
    const specs: TopicSpec[] = [];
    for (const c of this.config.conns.values()) {
      if (c.type !== 'kafka') continue;
      const { topic, partitions } = connectorTopic(c);
      const p = c.params as KafkaConnParamsT;
      specs.push({ topic, partitions, owner: `connector '${c.cid}'`, ...(p.replication_factor !== undefined ? { replicationFactor: p.replication_factor } : {}) });
    }
    for (const f of this.config.flows.values()) {
      if (f.enabled) specs.push({ topic: f.deadLetterTopic, partitions: undefined, owner: `the dead-letter topic of flow '${f.id}'` });
    }
    specs.push(...this.extraTopics.values());
    for (const c of this.changelogTopics) {
      let partitions: number | undefined;
      if (typeof c.partitions === 'number') partitions = c.partitions;
      else {
        const counts = await Promise.all(c.partitions.like.map((t) => partitionCount(this.admin, t)));
        partitions = Math.max(1, ...counts.map((n) => n ?? 1));
      }
      specs.push({
        topic: c.topic, partitions, owner: c.owner, compact: true, atLeast: true,
        remedy: `a changelog needs at least one partition per input partition: delete ${c.topic} (its state is rebuilt from new input only) or recreate it with ${partitions} partitions`,
      });
    }
    const unique = [...new Map(specs.map((s) => [s.topic, s])).values()];
    await ensureTopics(this.admin, unique, this.logger);
    await this.loadTables(opts.tables ?? []);
  }

  /** Connectors that serve a join read their whole topic into a table before any source starts. */
  private async loadTables(tables: readonly string[]): Promise<void> {
    for (const cid of new Set(tables)) {
      const c = this.connectors.get(cid);
      if (!c) continue;
      const ends = await this.admin.fetchTopicOffsets(c.topic);
      const pending = new Map(ends.filter((e) => e.high !== e.low).map((e) => [e.partition, BigInt(e.high)]));
      let loaded: () => void = () => {};
      const ready = new Promise<void>((resolve) => { loaded = resolve; });
      if (pending.size === 0) loaded();
      // A group of its own per process: every replica reads every partition of the table.
      const src = new KafkaSource({
        id: `table:${cid}`,
        kafka: this.client,
        groupId: tableGroup(this.config.global.appId, cid, randomUUID()),
        params: { topics: [c.topic], from_beginning: true, max_batch_rows: 5000 },
        logger: this.logger,
      });
      this.tableSources.push(src);
      this.tableRuns.push(src.run(async (batch) => {
        c.table.saved(batch.rows.map((value, i) => ({ key: batch.positions[i]?.key ?? null, value })));
        const last = batch.positions[batch.positions.length - 1];
        const end = pending.get(batch.partition);
        if (last && end !== undefined && BigInt(last.offset) + 1n >= end) {
          pending.delete(batch.partition);
          if (pending.size === 0) loaded();
        }
      }, this.tableAbort.signal).catch((err: unknown) => this.logger.error({ connector: cid, err: errorMessage(err) }, 'the join table reader stopped')));
      await ready;
      this.logger.info({ connector: cid, topic: c.topic }, 'join table loaded');
    }
  }

  async close(): Promise<void> {
    this.deadLetters.flushLog();
    this.changelogBackend?.close();
    this.tableAbort.abort();
    await Promise.allSettled(this.tableRuns);
    await this.producer.disconnect().catch(() => undefined);
    await this.admin.disconnect().catch(() => undefined);
  }
}
