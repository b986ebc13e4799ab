// The port through which functions keep keyed state. A store belongs to one function of one flow and is
// scoped to the partition being processed: rows of one key always reach the same partition, so a store
// never needs locks. Implementations (in memory, backed by a changelog topic) live in src/state.

export interface SetOptions {
  /** The entry expires this many milliseconds after this write (absent: the store's ttl_ms, or never; null: never, whatever the store's ttl_ms). */
  readonly ttlMs?: number | null;
}

/** One store, one partition. Values must be JSON values: they are written to the store's changelog. */
export interface KeyedState<V = unknown> {
  get(key: string): V | undefined;
  has(key: string): boolean;
  set(key: string, value: V, opts?: SetOptions): void;
  /** True when the key was there. */
  delete(key: string): boolean;
  /** Live entries, least recently written first. */
  entries(): IterableIterator<[string, V]>;
  readonly size: number;
}

/** What flows get from the runtime: the store of (flow, store name, partition), restored before first use. */
export interface StateAccess {
  store(flow: string, store: string, partition: number): KeyedState;
}

/** A store declared by a function (option.state) or by a built-in that keeps state. */
export interface StoreSpec {
  readonly flow: string;
  /** The store's name: the function's fid, or an internal name for joins (`join.<cid>.<step>`). */
  readonly store: string;
  readonly maxKeys: number;
  readonly ttlMs: number | undefined;
  /** Keep what max_keys evicts for the owner to take (held join rows must not vanish silently). */
  readonly keepEvicted?: boolean;
}

export const DEFAULT_MAX_KEYS = 100_000;
