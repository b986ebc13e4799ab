// A `type: kafka` connector on the embedded log. Save appends keyed records; Load joins rows with the
// latest record saved under the same key (see JoinTable).
import type { ConnConfig } from '../../config/model.js';
import type { SaveMeta } from '../../core/connector.js';
import type { Position, Row } from '../../kernel/types.js';
import type { EmbeddedLog, EmbeddedTopic } from './log.js';
import { TableConnector } from '../join-table.js';
import { saveHeaders } from '../../kafka/headers.js';
import { connectorTopic, DEFAULT_PARTITIONS } from '../../kernel/names.js';

export class EmbeddedConnector extends TableConnector {
  readonly topic: EmbeddedTopic;
  readonly topicName: string;

  constructor(config: ConnConfig, log: EmbeddedLog, clock: () => number = Date.now, onEvicted?: (n: number) => void) {
    super(config, clock, onEvicted);
    const { topic, partitions } = connectorTopic(config);
    this.topicName = topic;
    this.topic = log.topic(topic, partitions ?? DEFAULT_PARTITIONS);
    this.topic.onAppend((_t, records) => this.table.saved(records));
  }

  async save(rows: readonly Row[], positions: readonly (Position | undefined)[], meta: SaveMeta): Promise<void> {
    const lineage = this.config.params['lineage'] !== false;
    this.topic.append(rows.map((value, i) => ({
      key: this.config.key.length > 0 ? this.keyOf(value) ?? null : null,
      value,
      headers: lineage ? saveHeaders(meta, positions[i]) : {},
    })));
  }
}
