// A `type: kafka` connector on the embedded log. Save appends keyed records; Load joins rows with the
// latest record saved under the same key (see JoinTable).
import type { ConnConfig } from '../config/model.js';
import type { SaveMeta } from '../core/connector.js';
import type { Position, Row } from '../kernel/types.js';
import type { EmbeddedLog, EmbeddedTopic } from './embedded-log.js';
import { TableConnector } from './join-table.js';

export const DEFAULT_PARTITIONS = 4;

export function connectorTopic(conn: ConnConfig): { topic: string; partitions: number | undefined } {
  const topic = typeof conn.params['topic'] === 'string' ? conn.params['topic'] : conn.cid;
  const partitions = typeof conn.params['partitions'] === 'number' ? conn.params['partitions'] : undefined;
  return { topic, partitions };
}

/** Headers every saved record carries: the flow and function that saved it, and the source position. */
export function saveHeaders(meta: SaveMeta, p: Position | undefined): Record<string, string> {
  const headers: Record<string, string> = { 'kis-flow': meta.flow, 'kis-fn': meta.fn };
  if (p) {
    headers['kis-source'] = p.source;
    if (p.topic !== undefined) headers['kis-topic'] = p.topic;
    headers['kis-partition'] = String(p.partition);
    headers['kis-offset'] = p.offset;
  }
  return headers;
}

export class EmbeddedConnector extends TableConnector {
  readonly topic: EmbeddedTopic;

  constructor(config: ConnConfig, log: EmbeddedLog) {
    super(config);
    const { topic, partitions } = connectorTopic(config);
    this.topic = log.topic(topic, partitions ?? DEFAULT_PARTITIONS);
    this.topic.onAppend((_t, records) => this.table.saved(records));
  }

  async save(rows: readonly Row[], positions: readonly (Position | undefined)[], meta: SaveMeta): Promise<void> {
    this.topic.append(rows.map((value, i) => ({
      key: this.config.key.length > 0 ? this.keyOf(value) ?? null : null,
      value,
      headers: saveHeaders(meta, positions[i]),
    })));
  }
}
