// A `type: kafka` connector on a Kafka cluster: Save produces keyed JSON records to the connector's topic
// (coalesced with the other partitions' sends) and resolves on the broker's acknowledgement.
import { CompressionTypes } from 'kafkajs';
import type { KafkaConnParamsT } from '../../config/codecs.js';
import type { ConnConfig } from '../../config/model.js';
import type { SaveMeta } from '../../core/connector.js';
import type { BatchProducer } from '../../kafka/batch-producer.js';
import { saveHeaders } from '../../kafka/headers.js';
import { errorMessage, isRetriable, KisError } from '../../kernel/errors.js';
import { rowToJson } from '../../kernel/json.js';
import { connectorTopic } from '../../kernel/names.js';
import type { Position, Row } from '../../kernel/types.js';
import { TableConnector } from '../join-table.js';

export class KafkaConnector extends TableConnector {
  readonly topic: string;
  get topicName(): string { return this.topic; }
  private readonly acks: -1 | 0 | 1;
  private readonly compression: CompressionTypes;
  private readonly lineage: boolean;

  constructor(config: ConnConfig, private readonly producer: BatchProducer, clock: () => number, onEvicted: (n: number) => void) {
    super(config, clock, onEvicted);
    this.topic = connectorTopic(config).topic;
    const p = config.params as KafkaConnParamsT;
    this.acks = p.acks === 'all' || p.acks === undefined ? -1 : p.acks;
    this.compression = p.compression === 'gzip' ? CompressionTypes.GZIP : CompressionTypes.None;
    this.lineage = p.lineage ?? true;
  }

  async save(rows: readonly Row[], positions: readonly (Position | undefined)[], meta: SaveMeta): Promise<void> {
    if (rows.length === 0) return;
    const keyed = this.config.key.length > 0;
    const messages = new Array<{ key: string | null; value: string; headers?: Record<string, string> }>(rows.length);
    for (let i = 0; i < rows.length; i++) {
      const value = rows[i]!;
      messages[i] = this.lineage
        ? { key: keyed ? this.keyOf(value) ?? null : null, value: rowToJson(value), headers: saveHeaders(meta, positions[i]) }
        : { key: keyed ? this.keyOf(value) ?? null : null, value: rowToJson(value) };
    }
    try {
      await this.producer.send(this.topic, messages, this.acks, this.compression);
    } catch (err) {
      throw new KisError('KIS_ERR_CONNECTOR', `save to topic ${this.topic} (connector '${this.config.cid}') failed: ${errorMessage(err)}`, { cause: err, retriable: isRetriable(err) });
    }
  }
}
