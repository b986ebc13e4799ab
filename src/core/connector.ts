// The port a Save or Load step talks to. Implementations live in src/connectors (embedded log, Kafka).
import type { ConnConfig } from '../config/model.js';
import type { Position, Row } from '../kernel/types.js';
import type { KisError } from '../kernel/errors.js';
import type { PositionStore } from './storage.js';

export interface SaveMeta {
  readonly flow: string;
  readonly fn: string;
}

/** A row saved under a key, and when (ms since the epoch) this process learnt of it. */
export interface SavedRow {
  readonly row: Row;
  readonly at: number;
}

/** Save capability: resolves once every row is durable where the connector writes (acknowledged by a topic, committed by a database). */
export interface ConnectorWriter {
  save(rows: readonly Row[], positions: readonly (Position | undefined)[], meta: SaveMeta): Promise<void>;
}

/**
 * Change-feed capability: what is saved through the connector can be read back as a topic, so a Load step
 * joins with it (held rows are released when their match is saved) and a flow with no source is driven by it.
 */
export interface ChangeFeed {
  /** The topic saves go to (Kafka, or the embedded log). */
  readonly topicName: string;
  /**
   * The latest row saved under the key, from the table every replica keeps of the whole topic (joins whose
   * input is not co-partitioned with the topic: embedded mode, non-Kafka sources).
   */
  lookup(key: string): SavedRow | undefined;
  /** Called with the keys of rows as they enter that table, so that rows held for them can be released. */
  onSaved(listener: (keys: readonly string[]) => void): () => void;
}

/** Rows stored under keys, asked for one partition's batch at a time (so a cache can be kept per partition). */
export interface PartitionedLookup {
  lookupIn(partition: number, keys: readonly string[]): Promise<ReadonlyMap<string, Row>>;
}

/**
 * The port a Save or Load step talks to. A connector says what it can do; the runtime asks for the
 * capability a step needs and never for a type name. Implementations live in src/connectors/.
 */
export interface Connector {
  readonly config: ConnConfig;
  /** The record key of a row: the values of the connector's key fields joined by '_'; undefined when one is missing. */
  keyOf(row: Row): string | undefined;
  readonly writer?: ConnectorWriter;
  readonly feed?: ChangeFeed;
  /** Lookup capability (storage): a Load step is a lookup join, batched by key, cached per partition. */
  readonly byKey?: PartitionedLookup;
  /**
   * Positions written together with the data (storage in one transaction): a source resumes after them
   * when they are ahead of its own commit, so nothing the store already has is applied twice.
   */
  readonly positions?: PositionStore;
  /** Connects and checks what it writes to, before any source starts. */
  start?(): Promise<void>;
  /** The problems start() would find (a missing table, a column), without running anything (kisflow validate). */
  check?(): Promise<KisError[]>;
  /** Why it is not ready (not connected, a server down); empty when it is. */
  waiting?(): string[];
  close?(): Promise<void>;
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
