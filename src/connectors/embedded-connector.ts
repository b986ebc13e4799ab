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

/**
 * The two headers every saved record carries (two, not six: kafkajs encodes each header separately,
 * and per-record headers were the largest cost of a Save):
 *   kis-flow  `<flow>/<fn>`                                 who saved it
 *   kis-pos   `<partition>:<offset>:<topic>:<source id>`   where its source row was (topic empty when not Kafka)
 * A topic name cannot hold ':' and partition and offset are numbers, so the source id (any UTF-8) is the rest.
 */
export function saveHeaders(meta: SaveMeta, p: Position | undefined): Record<string, string> {
  const headers: Record<string, string> = { 'kis-flow': `${meta.flow}/${meta.fn}` };
  if (p) headers['kis-pos'] = `${p.partition}:${p.offset}:${p.topic ?? ''}:${p.source}`;
  return headers;
}

/** Reads a kis-pos header back. */
export function parsePosHeader(value: string): { partition: number; offset: string; topic: string | undefined; source: string } | undefined {
  const m = /^(\d+):([^:]*):([^:]*):(.*)$/s.exec(value);
  if (!m) return undefined;
  return { partition: Number(m[1]), offset: m[2]!, topic: m[3] || undefined, source: m[4]! };
}

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
    this.topic.append(rows.map((value, i) => ({
      key: this.config.key.length > 0 ? this.keyOf(value) ?? null : null,
      value,
      headers: saveHeaders(meta, positions[i]),
    })));
  }
}
