// The embedded transport: topics on an in-process log, for runs without brokers. Keeps nothing across restarts.
import type { Logger } from 'pino';
import type { ConnConfig, FlowConfig } from '../../config/model.js';
import { recordKey } from '../../core/connector.js';
import type { DeadLetter } from '../../core/dead-letter.js';
import type { TopicWriter } from '../../core/pool.js';
import { EmbeddedConnector } from './connector.js';
import { DEFAULT_PARTITIONS } from '../../kernel/names.js';
import { EmbeddedDeadLetters } from './dead-letters.js';
import { EmbeddedLog } from './log.js';
import { EmbeddedTopicSource } from './topic-source.js';
import type { ChangelogBackend } from '../../state/state-manager.js';
import { EmbeddedChangelog } from './changelog.js';
import type { ChangelogTopic, Transport } from '../transport.js';

export class EmbeddedTransport implements Transport {
  readonly mode = 'embedded' as const;
  readonly log = new EmbeddedLog();
  readonly deadLetters: EmbeddedDeadLetters;
  private readonly connectors = new Map<string, EmbeddedConnector>();

  constructor(
    logger: Logger,
    onDeadLetters?: (letters: readonly DeadLetter[]) => void,
    private readonly clock: () => number = Date.now,
    private readonly onTableEvicted: (cid: string, n: number) => void = () => {},
  ) {
    this.deadLetters = new EmbeddedDeadLetters(this.log, logger, onDeadLetters);
  }

  connector(conn: ConnConfig): EmbeddedConnector {
    let c = this.connectors.get(conn.cid);
    if (!c) {
      c = new EmbeddedConnector(conn, this.log, this.clock, (n) => this.onTableEvicted(conn.cid, n));
      this.connectors.set(conn.cid, c);
    }
    return c;
  }

  writer(topic: string): TopicWriter {
    const t = this.log.get(topic) ?? this.log.topic(topic, DEFAULT_PARTITIONS);
    return {
      topic,
      async write(rows, keyFields) {
        t.append(rows.map((value) => ({ key: recordKey(value, keyFields) ?? null, value })));
      },
    };
  }

  drivenSource(_flow: FlowConfig, conn: ConnConfig): EmbeddedTopicSource {
    return new EmbeddedTopicSource(`conn:${conn.cid}`, this.connector(conn).topic);
  }

  changelog(topics: readonly ChangelogTopic[]): ChangelogBackend {
    const counts = new Map(topics.map((t) => [t.topic, typeof t.partitions === 'number' ? t.partitions : DEFAULT_PARTITIONS]));
    return new EmbeddedChangelog(this.log, (topic) => Math.max(counts.get(topic) ?? DEFAULT_PARTITIONS, DEFAULT_PARTITIONS));
  }

  async start(): Promise<void> {}

  async close(): Promise<void> {
    this.deadLetters.flushLog();
  }
}
