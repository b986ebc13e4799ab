// A bounded per-partition LRU cache with a TTL in front of a KeyLookup (the dimension table of a lookup join).
// Misses are cached too (a negative entry) for the TTL, so a stream of unknown keys does not hit the store
// every batch. Per partition, so that a revoked partition drops its entries and one hot partition cannot
// evict another's.
import type { KeyLookup } from '../core/storage.js';
import type { Row } from '../kernel/types.js';

export interface LookupCacheOptions {
  /** Entries kept per partition (hits and misses); the least recently used goes first. */
  readonly maxEntries: number;
  /** How long an entry (found or not) is trusted, in ms. */
  readonly ttlMs: number;
  readonly clock: () => number;
}

export interface LookupCacheStats {
  hits: number;
  misses: number;
  evictions: number;
  /** Keys asked of the store, and the calls that asked them. */
  fetched: number;
  fetches: number;
}

interface Entry { readonly row: Row | null; readonly until: number }

export class LookupCache implements KeyLookup {
  private readonly parts = new Map<number, Map<string, Entry>>();
  readonly stats: LookupCacheStats = { hits: 0, misses: 0, evictions: 0, fetched: 0, fetches: 0 };

  constructor(private readonly store: KeyLookup, private readonly opts: LookupCacheOptions) {}

  /** KeyLookup on partition 0: for callers without partitions. */
  lookupMany(keys: readonly string[]): Promise<ReadonlyMap<string, Row>> {
    return this.lookupIn(0, keys);
  }

  /** Rows by key for one partition: cached entries first, then one store call for the rest. */
  async lookupIn(partition: number, keys: readonly string[]): Promise<ReadonlyMap<string, Row>> {
    const now = this.opts.clock();
    let part = this.parts.get(partition);
    if (part === undefined) { part = new Map(); this.parts.set(partition, part); }
    const out = new Map<string, Row>();
    const wanted: string[] = [];
    const asked = new Set<string>();
    for (const k of keys) {
      if (asked.has(k)) continue;
      asked.add(k);
      const e = part.get(k);
      if (e !== undefined && e.until > now) {
        // Map keeps insertion order: re-inserting marks the entry most recently used.
        part.delete(k);
        part.set(k, e);
        this.stats.hits++;
        if (e.row !== null) out.set(k, e.row);
      } else {
        this.stats.misses++;
        wanted.push(k);
      }
    }
    if (wanted.length === 0) return out;
    this.stats.fetches++;
    this.stats.fetched += wanted.length;
    const got = await this.store.lookupMany(wanted);
    const until = this.opts.clock() + this.opts.ttlMs;
    for (const k of wanted) {
      const row = got.get(k) ?? null;
      part.delete(k);
      part.set(k, { row, until });
      if (row !== null) out.set(k, row);
    }
    while (part.size > this.opts.maxEntries) {
      const oldest = part.keys().next().value as string;
      part.delete(oldest);
      this.stats.evictions++;
    }
    return out;
  }

  /** Entries held for a partition. */
  size(partition: number): number {
    return this.parts.get(partition)?.size ?? 0;
  }

  /** Forget a partition (revoked, or its source rewound). */
  dropPartition(partition: number): void {
    this.parts.delete(partition);
  }

  /** Forget keys everywhere (this process wrote them, so the cached rows are stale). */
  invalidate(keys: readonly string[]): void {
    for (const part of this.parts.values()) for (const k of keys) part.delete(k);
  }
}
