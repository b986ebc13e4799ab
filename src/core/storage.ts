// Capabilities a connector can offer besides a topic (storage connectors: redis, mysql, postgres, sqlite).
// The runtime asks for the capability it needs; it never switches on a connector's type name.
import type { Logger } from 'pino';
import type { KisError } from '../kernel/errors.js';
import type { Position, Row } from '../kernel/types.js';
import type { SaveMeta } from './connector.js';

/** One row of a write that the store refused (constraint, type, size): it goes to the dead-letter topic, the rest is written. */
export interface RejectedRow {
  /** Index of the row in the rows given to write(). */
  readonly index: number;
  /** The store's own error code (e.g. 'ER_DATA_TOO_LONG', '23502', 'SQLITE_CONSTRAINT_NOTNULL'). */
  readonly code: string;
  readonly message: string;
}

export interface WriteResult {
  readonly rejected: readonly RejectedRow[];
}

/**
 * Save capability. Resolves once the rows that were not rejected are durable, together with the source
 * positions that produced them (exactly once: the positions go in the same transaction). Throws a retriable
 * KisError when the store cannot be reached; nothing is then written.
 */
export interface RowWriter {
  write(rows: readonly Row[], positions: readonly (Position | undefined)[], meta: SaveMeta): Promise<WriteResult>;
}

/** Lookup capability (a Load step on storage is a lookup join): the stored row under each key, batched. */
export interface KeyLookup {
  lookupMany(keys: readonly string[]): Promise<ReadonlyMap<string, Row>>;
}

/** Where the positions written with the data are read back, so that a source resumes from them when they are ahead. */
export interface PositionStore {
  /** The last position written per partition of `source` by `flow`. */
  storedPositions(flow: string, source: string): Promise<ReadonlyMap<number, string>>;
}

/** What a storage driver receives (the runtime's ConnectorEnv, narrowed to what a driver needs). */
export interface StorageEnv {
  readonly appId: string;
  readonly configDir: string;
  readonly logger: Logger;
  readonly clock: () => number;
}

/** A running storage connector: connect and check in start(), release in close(). */
export interface StorageConnector extends Partial<RowWriter>, Partial<KeyLookup>, Partial<PositionStore> {
  /** Connects and checks the target (table exists, keys, columns and types); errors name the connector, table and column. */
  start(): Promise<void>;
  /** Problems found without running anything (kisflow validate), when the store is reachable. */
  check?(): Promise<KisError[]>;
  /** Why it is not ready (server down, reconnecting); empty when it is. */
  waiting?(): string[];
  close(): Promise<void>;
}
