// The port a Save or Load step talks to. Implementations live in src/connectors (embedded log, Kafka).
import type { ConnConfig } from '../config/model.js';
import type { Position, Row } from '../kernel/types.js';

export interface SaveMeta {
  readonly flow: string;
  readonly fn: string;
}

/** A row saved under a key, and when (ms since the epoch) this process learnt of it. */
export interface SavedRow {
  readonly row: Row;
  readonly at: number;
}

export interface Connector {
  readonly config: ConnConfig;
  /** The connector's topic (Kafka, or the embedded log). */
  readonly topicName: string;
  /** The record key of a row: the values of the connector's key fields joined by '_'; undefined when one is missing. */
  keyOf(row: Row): string | undefined;
  /** Resolves once every row is durable in the connector's log (acknowledged). */
  save(rows: readonly Row[], positions: readonly (Position | undefined)[], meta: SaveMeta): Promise<void>;
  /**
   * The latest row saved under the key, from the table every replica keeps of the whole topic (joins whose
   * input is not co-partitioned with the topic: embedded mode, non-Kafka sources).
   */
  lookup(key: string): SavedRow | undefined;
  /** Called with the keys of rows as they enter that table, so that rows held for them can be released. */
  onSaved(listener: (keys: readonly string[]) => void): () => void;
}

export function missingKeyFields(row: Row, fields: readonly string[]): string[] {
  return fields.filter((f) => row[f] === undefined || row[f] === null);
}

export function recordKey(row: Row, fields: readonly string[]): string | undefined {
  if (fields.length === 0) return undefined;
  if (fields.length === 1) {
    // The common single-field key, without an array to join (this runs for every record written).
    const v = row[fields[0]!];
    if (v === undefined || v === null) return undefined;
    return typeof v === 'string' ? v : JSON.stringify(v);
  }
  const parts: string[] = [];
  for (const f of fields) {
    const v = row[f];
    if (v === undefined || v === null) return undefined;
    parts.push(typeof v === 'string' ? v : JSON.stringify(v));
  }
  return parts.join('_');
}
