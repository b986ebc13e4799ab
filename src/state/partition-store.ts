// One store of one partition, in memory: a Map in least-recently-written order, so that the oldest entry
// is always first (eviction is O(1)) and, while every entry has the store's own TTL, the soonest to expire
// is first too (a sweep stops at the first live one). Every change is also remembered as dirty until the
// runtime writes it to the changelog: only a key's last change of the interval is written, and a key that
// was absent from the changelog, put and deleted again within one interval, writes nothing. A store
// restored from its input topic (`logged` false) keeps no dirt at all: that topic is its changelog.
import type { KeyedState, SetOptions, StoreSpec } from '../core/state.js';

interface Entry {
  v: unknown;
  /** Expiry, ms since the epoch; undefined: never. */
  exp: number | undefined;
}

/** A changelog record: the entry as written, or null for a deletion (a tombstone). */
export interface ChangelogRecord {
  readonly key: string;
  readonly value: { readonly v: unknown; readonly exp?: number } | null;
}

export interface StoreEvents {
  /** Entries let go because the store was full (max_keys). */
  evicted(spec: StoreSpec, n: number): void;
}

export class PartitionStore implements KeyedState {
  private readonly map = new Map<string, Entry>();
  private dirty = new Map<string, Entry | null>();
  /** Dirty keys the changelog does not hold (absent when first changed this interval): deleting them writes nothing. */
  private fresh = new Set<string>();
  /** Written to since the last takeDirty (logged or not): its key count is reported then. */
  touched = false;
  /** Changes made so far (puts and removals), to tell whether a piece of work changed the store. */
  changes = 0;
  /** The restore dropped live changelog records (max_keys): absence here no longer means absence there. */
  private trimmedOnRestore = false;
  private evictedEntries: Array<[string, unknown]> = [];
  /** Entries with an expiry: none, and a sweep has nothing to do. */
  private expiring = 0;
  /** An entry got a TTL other than the store's: expiries are no longer in the Map's order. */
  private mixedTtl = false;

  constructor(
    readonly spec: StoreSpec,
    readonly partition: number,
    private readonly clock: () => number,
    private readonly events: StoreEvents,
    /** False: the store is restored from its input topic and writes no changelog. */
    readonly logged = true,
  ) {}

  get size(): number {
    return this.map.size;
  }

  get(key: string): unknown {
    const e = this.map.get(key);
    if (!e) return undefined;
    if (e.exp !== undefined && e.exp <= this.clock()) {
      this.remove(key);
      return undefined;
    }
    return e.v;
  }

  has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  set(key: string, value: unknown, opts?: SetOptions): void {
    if (value === undefined) {
      this.delete(key);
      return;
    }
    const ttl = opts?.ttlMs === null ? undefined : opts?.ttlMs ?? this.spec.ttlMs;
    if (ttl !== this.spec.ttlMs) this.mixedTtl = true;
    const e: Entry = { v: value, exp: ttl !== undefined ? this.clock() + ttl : undefined };
    this.touched = true;
    this.changes++;
    if (this.logged) this.markFresh(key);
    this.forget(key); // re-inserted last: the Map's order is the order of last writes
    this.keep(key, e);
    if (this.logged) {
      this.dirty.delete(key); // the changelog gets keys in the order of their last change, as the Map holds them
      this.dirty.set(key, e);
    }
    if (this.map.size > this.spec.maxKeys) {
      let n = 0;
      for (const [oldest, entry] of this.map) {
        if (this.map.size <= this.spec.maxKeys) break;
        if (this.spec.keepEvicted) this.evictedEntries.push([oldest, entry.v]);
        this.remove(oldest);
        n++;
      }
      this.events.evicted(this.spec, n);
    }
  }

  delete(key: string): boolean {
    if (!this.map.has(key)) return false;
    this.remove(key);
    return true;
  }

  *entries(): IterableIterator<[string, unknown]> {
    const now = this.clock();
    for (const [k, e] of this.map) {
      if (e.exp === undefined || e.exp > now) yield [k, e.v];
    }
  }

  /** What max_keys evicted since the last call (stores with keepEvicted). */
  takeEvicted(): Array<[string, unknown]> {
    const out = this.evictedEntries;
    this.evictedEntries = [];
    return out;
  }

  /** Removes expired entries (with tombstones); returns how many. */
  sweep(): number {
    if (this.expiring === 0) return 0;
    const now = this.clock();
    const expired: string[] = [];
    for (const [k, e] of this.map) {
      if (e.exp !== undefined && e.exp <= now) expired.push(k);
      else if (!this.mixedTtl) break; // one TTL for all: the rest expire later
    }
    for (const k of expired) this.remove(k);
    return expired.length;
  }

  get dirtyCount(): number {
    return this.dirty.size;
  }

  /** The changes since the last call, in the order they were last made, for the changelog. */
  takeDirty(): ChangelogRecord[] {
    this.touched = false;
    if (this.dirty.size === 0) return [];
    const out: ChangelogRecord[] = [];
    for (const [key, e] of this.dirty) {
      out.push({ key, value: e === null ? null : e.exp === undefined ? { v: e.v } : { v: e.v, exp: e.exp } });
    }
    this.dirty = new Map();
    this.fresh.clear();
    return out;
  }

  /** Applies a changelog record while restoring: no dirt, no eviction count (the writer already counted). */
  restore(rec: ChangelogRecord): void {
    this.forget(rec.key);
    if (rec.value === null) return;
    if (rec.value.exp !== undefined && rec.value.exp <= this.clock()) return;
    // written with another TTL than the store has now (or none): expiries may be out of order
    if ((rec.value.exp === undefined) !== (this.spec.ttlMs === undefined)) this.mixedTtl = true;
    this.keep(rec.key, { v: rec.value.v, exp: rec.value.exp });
    while (this.map.size > this.spec.maxKeys) {
      this.forget(this.map.keys().next().value as string);
      this.trimmedOnRestore = true;
    }
  }

  /** A key first changed in this interval while absent is not in the changelog (unless a restore trimmed it). */
  private markFresh(key: string): void {
    if (!this.dirty.has(key) && !this.map.has(key) && !this.trimmedOnRestore) this.fresh.add(key);
  }

  private remove(key: string): void {
    this.forget(key);
    this.touched = true;
    this.changes++;
    if (!this.logged) return;
    this.dirty.delete(key);
    if (this.fresh.delete(key)) return; // put and deleted within the interval: the changelog never saw it
    this.dirty.set(key, null);
  }

  private keep(key: string, e: Entry): void {
    this.map.set(key, e);
    if (e.exp !== undefined) this.expiring++;
  }

  private forget(key: string): void {
    const e = this.map.get(key);
    if (!e) return;
    this.map.delete(key);
    if (e.exp !== undefined) this.expiring--;
  }
}
