// The port a Save or Load step talks to. Implementations live in src/connectors (embedded log, Kafka).
import type { ConnConfig } from '../config/model.js';
import type { Position, Row } from '../kernel/types.js';

export interface SaveMeta {
  readonly flow: string;
  readonly fn: string;
}

export interface JoinRequest {
  readonly flow: string;
  /** Index of the Load step in its flow: where held rows resume. */
  readonly step: number;
  readonly partition: number;
  readonly rows: readonly Row[];
  readonly positions: readonly (Position | undefined)[];
  readonly join: 'inner' | 'left';
  readonly as: string | undefined;
}

export interface JoinedRows {
  readonly rows: Row[];
  readonly positions: (Position | undefined)[];
}

export interface JoinResult extends JoinedRows {
  /** Rows that lack a key field of the connector, so can never match. */
  readonly unjoinable: Row[];
}

/** Rows that were held for want of a match and are now joined (or expired, for a left join). */
export interface JoinRelease extends JoinedRows {
  readonly flow: string;
  readonly step: number;
  readonly partition: number;
}

export interface Connector {
  readonly config: ConnConfig;
  /** The record key of a row: the values of the connector's key fields joined by '_'; undefined when one is missing. */
  keyOf(row: Row): string | undefined;
  /** Resolves once every row is durable in the connector's log (acknowledged). */
  save(rows: readonly Row[], positions: readonly (Position | undefined)[], meta: SaveMeta): Promise<void>;
  /** Joins rows with what other flows saved, by key. Rows with no match yet are held and come back through onRelease. */
  join(req: JoinRequest): JoinResult;
  onRelease(listener: (release: JoinRelease) => void): () => void;
  /** End of input (finite runs): left-join rows still held are released unmatched; returns how many inner-join rows stay unmatched. */
  expireHeld(): number;
}

export function missingKeyFields(row: Row, fields: readonly string[]): string[] {
  return fields.filter((f) => row[f] === undefined || row[f] === null);
}

export function recordKey(row: Row, fields: readonly string[]): string | undefined {
  if (fields.length === 0) return undefined;
  const parts: string[] = [];
  for (const f of fields) {
    const v = row[f];
    if (v === undefined || v === null) return undefined;
    parts.push(typeof v === 'string' ? v : JSON.stringify(v));
  }
  return parts.join('_');
}
