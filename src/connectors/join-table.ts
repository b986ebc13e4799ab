// The table side of a connector for joins that are not co-partitioned: the latest row saved under each key,
// kept by every replica (as a Kafka Streams GlobalKTable is). Rows waiting for a key are held in the joining
// flow's keyed state (src/core/join.ts), not here; the table tells listeners which keys arrived.
import type { ConnConfig } from '../config/model.js';
import { recordKey, type ChangeFeed, type Connector, type ConnectorWriter, type SaveMeta, type SavedRow } from '../core/connector.js';
import type { Position, Row } from '../kernel/types.js';

export const DEFAULT_TABLE_MAX_KEYS = 1_000_000;

export class JoinTable {
  private readonly latest = new Map<string, SavedRow>();
  private readonly listeners = new Set<(keys: readonly string[]) => void>();

  /** Rows let go because the table reached maxKeys. */
  evictions = 0;

  constructor(private readonly clock: () => number = Date.now, private readonly maxKeys = DEFAULT_TABLE_MAX_KEYS, private readonly onEvicted: (n: number) => void = () => {}) {}

  get(key: string): SavedRow | undefined {
    return this.latest.get(key);
  }

  get size(): number {
    return this.latest.size;
  }

  /** Rows saved under these keys: the table takes them, and listeners learn the keys. */
  saved(records: ReadonlyArray<{ key: string | null; value: Row }>): void {
    const at = this.clock();
    const keys: string[] = [];
    for (const rec of records) {
      if (rec.key === null) continue;
      this.latest.delete(rec.key); // re-inserted last: the Map's order is the order of saves, oldest first
      this.latest.set(rec.key, { row: rec.value, at });
      keys.push(rec.key);
    }
    let evicted = 0;
    for (const oldest of this.latest.keys()) {
      if (this.latest.size <= this.maxKeys) break;
      this.latest.delete(oldest);
      evicted++;
    }
    if (evicted > 0) {
      this.evictions += evicted;
      this.onEvicted(evicted);
    }
    if (keys.length > 0) for (const l of this.listeners) l(keys);
  }

  onSaved(listener: (keys: readonly string[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

/** A connector over a topic: it saves to the topic and feeds a JoinTable of it; subclasses say how Save writes. */
export abstract class TableConnector implements Connector, ConnectorWriter, ChangeFeed {
  readonly table: JoinTable;
  abstract readonly topicName: string;
  get writer(): ConnectorWriter { return this; }
  get feed(): ChangeFeed { return this; }

  constructor(readonly config: ConnConfig, clock: () => number = Date.now, onEvicted?: (n: number) => void) {
    const max = config.params['table_max_keys'];
    this.table = new JoinTable(clock, typeof max === 'number' ? max : DEFAULT_TABLE_MAX_KEYS, onEvicted);
  }

  keyOf(row: Row): string | undefined {
    return recordKey(row, this.config.key);
  }

  abstract save(rows: readonly Row[], positions: readonly (Position | undefined)[], meta: SaveMeta): Promise<void>;

  lookup(key: string): SavedRow | undefined {
    return this.table.get(key);
  }

  onSaved(listener: (keys: readonly string[]) => void): () => void {
    return this.table.onSaved(listener);
  }
}
