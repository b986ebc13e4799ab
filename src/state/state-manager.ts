// Keyed state for the flows of one service: stores per (flow, store, partition), restored from their
// changelog topic before the first row of a partition runs, flushed to it before the partition's position
// is committed, dropped when the partition is taken away.
//
// Commit order, per batch of a partition (the runtime keeps it):
//   1. the flow runs; Saves, sinks and dead letters are acknowledged before run() resolves;
//   2. flush(): every state change of the batch is produced to the changelog and acknowledged;
//   3. the source commits the batch's offsets (or binlog checkpoint).
// A crash between 2 and 3 replays the batch over state that already holds its changes: at least once.
//
// A store that holds a topic's records as they are, keyed by the record key, in the topic's own partition
// (a co-partitioned join's table) needs no changelog: its input topic is one (Kafka Streams' source-topic
// changelog). It is restored from that topic, to its end, and writes nothing.
import type { Logger } from 'pino';
import { changelogTopic } from '../kernel/names.js';
import type { KeyedState, StateAccess, StoreSpec } from '../core/state.js';
import { KisError } from '../kernel/errors.js';
import { PartitionStore, type ChangelogRecord } from './partition-store.js';

/** Where changelogs live: a Kafka topic, or the embedded log. */
export interface ChangelogBackend {
  /** Produces one partition's records; resolves once they are acknowledged. */
  write(topic: string, partition: number, records: readonly ChangelogRecord[]): Promise<void>;
  /** Reads one partition from its start to its end as of the call, in order; resolves with the record count. */
  read(topic: string, partition: number, apply: (rec: ChangelogRecord) => void): Promise<number>;
  /**
   * Reads one partition of any topic from its start, raw, to its end as of the call or, given a consumer group,
   * to the group's committed offset if that is earlier; resolves with the record count.
   */
  readTopic?(topic: string, partition: number, apply: (key: string | null, value: string | null) => void, group?: string): Promise<number>;
}

/** A store restored from its input topic instead of a changelog (see above). */
export interface TopicTable {
  readonly flow: string;
  readonly store: string;
  readonly topic: string;
  /** The consumer group that feeds the store from the topic, once known: what it will hand on again is not restored twice. */
  readonly group?: () => string | undefined;
  /** The store's entry for a record of the topic, as the live path makes it; undefined where the live path keeps none. */
  readonly entry: (key: string | null, value: string | null) => { readonly key: string; readonly value: unknown } | undefined;
}

/** What state reports for metrics (injected). */
export interface StateObserver {
  restored(flow: string, store: string, partition: number, records: number, ms: number): void;
  evicted(flow: string, store: string, n: number): void;
  keys(flow: string, store: string, partition: number, n: number): void;
}

export const NO_STATE_OBSERVER: StateObserver = { restored() {}, evicted() {}, keys() {} };

interface PartitionState {
  readonly stores: Map<string, PartitionStore>;
  /** Resolves when every store of the partition is restored. */
  readonly restored: Promise<void>;
  done: boolean;
  /** A sweep removed expired entries since the last flush. */
  swept: boolean;
}

export interface StateManagerOptions {
  readonly appId: string;
  readonly specs: readonly StoreSpec[];
  readonly backend: ChangelogBackend;
  readonly logger: Logger;
  readonly observer?: StateObserver;
  readonly clock?: () => number;
  /** Stores restored from their input topic (used when the backend can read topics; otherwise changelogged). */
  readonly topicTables?: readonly TopicTable[];
}

export class StateManager implements StateAccess {
  private readonly specsByFlow = new Map<string, StoreSpec[]>();
  /** Flow -> partition -> its stores. */
  private readonly parts = new Map<string, Map<number, PartitionState>>();
  private readonly observer: StateObserver;
  /** `flow\0store` -> its input topic, for stores restored from it. */
  private readonly fromTopic = new Map<string, TopicTable>();
  readonly clock: () => number;

  constructor(private readonly opts: StateManagerOptions) {
    for (const s of opts.specs) {
      const list = this.specsByFlow.get(s.flow) ?? [];
      list.push(s);
      this.specsByFlow.set(s.flow, list);
    }
    this.observer = opts.observer ?? NO_STATE_OBSERVER;
    this.clock = opts.clock ?? Date.now;
    if (opts.backend.readTopic) for (const t of opts.topicTables ?? []) this.fromTopic.set(`${t.flow}\u0000${t.store}`, t);
  }

  /** The input topic a store is restored from instead of a changelog, when it is. */
  topicTableOf(spec: StoreSpec): TopicTable | undefined {
    return this.fromTopic.get(`${spec.flow}\u0000${spec.store}`);
  }

  get specs(): readonly StoreSpec[] {
    return this.opts.specs;
  }

  topicOf(spec: StoreSpec): string {
    return changelogTopic(this.opts.appId, spec.flow, spec.store);
  }

  hasState(flow: string): boolean {
    return this.specsByFlow.has(flow);
  }

  /** The store, for a partition that ready() restored; the runtime awaits ready() before running a batch. */
  store(flow: string, store: string, partition: number): KeyedState {
    const ps = this.parts.get(flow)?.get(partition);
    const s = ps?.stores.get(store);
    if (!ps || !s) {
      throw new KisError('KIS_ERR_STATE', `flow '${flow}' has no state store '${store}'${ps ? '' : ` restored for partition ${partition}`} (declare it with option.state on the function)`);
    }
    if (!ps.done) throw new KisError('KIS_ERR_STATE', `state of flow '${flow}' partition ${partition} is still being restored`);
    return s;
  }

  /** Restores the flow's stores of the partition once (concurrent callers share the restore). */
  ready(flow: string, partition: number): Promise<void> {
    const specs = this.specsByFlow.get(flow);
    if (!specs) return Promise.resolve();
    let byPartition = this.parts.get(flow);
    if (!byPartition) this.parts.set(flow, (byPartition = new Map()));
    const existing = byPartition.get(partition);
    if (existing) return existing.restored;
    const stores = new Map<string, PartitionStore>();
    const events = { evicted: (spec: StoreSpec, n: number) => this.observer.evicted(spec.flow, spec.store, n) };
    for (const spec of specs) stores.set(spec.store, new PartitionStore(spec, partition, this.clock, events, this.topicTableOf(spec) === undefined));
    const ps: PartitionState = { stores, restored: this.restore(flow, partition, stores), done: false, swept: false };
    byPartition.set(partition, ps);
    const parts = byPartition;
    ps.restored.then(() => { ps.done = true; }, () => { if (parts.get(partition) === ps) parts.delete(partition); });
    return ps.restored;
  }

  private async restore(flow: string, partition: number, stores: Map<string, PartitionStore>): Promise<void> {
    for (const store of stores.values()) {
      const table = this.topicTableOf(store.spec);
      const topic = table?.topic ?? this.topicOf(store.spec);
      const t0 = performance.now();
      let n = 0;
      const log = this.opts.logger;
      const progress = (): void => {
        if (++n % 100_000 === 0) log.info({ flow, store: store.spec.store, partition, topic, records: n }, 'restoring state');
      };
      try {
        if (table) {
          n = await this.opts.backend.readTopic!(topic, partition, (key, value) => {
            const e = table.entry(key, value);
            if (e) store.restore({ key: e.key, value: { v: e.value } });
            progress();
          }, table.group?.());
        } else {
          n = await this.opts.backend.read(topic, partition, (rec) => {
            store.restore(rec);
            progress();
          });
        }
      } catch (err) {
        throw new KisError('KIS_ERR_STATE', `restoring state '${store.spec.store}' of flow '${flow}' partition ${partition} from ${topic} failed: ${(err as Error).message}`, { cause: err, retriable: true });
      }
      const ms = performance.now() - t0;
      this.observer.restored(flow, store.spec.store, partition, n, ms);
      this.observer.keys(flow, store.spec.store, partition, store.size);
      if (n > 0) log.info({ flow, store: store.spec.store, partition, topic, records: n, keys: store.size, ms: Math.round(ms) }, 'state restored');
    }
  }

  /** Writes every change of the partition's stores to their changelogs; resolves when acknowledged. */
  async flush(flow: string, partition: number): Promise<void> {
    const ps = this.parts.get(flow)?.get(partition);
    if (!ps) return;
    ps.swept = false;
    const writes: Promise<void>[] = [];
    for (const store of ps.stores.values()) {
      if (store.touched) this.observer.keys(flow, store.spec.store, partition, store.size);
      const records = store.takeDirty();
      if (records.length === 0) continue;
      writes.push(this.opts.backend.write(this.topicOf(store.spec), partition, records));
    }
    await Promise.all(writes);
  }

  /** Changes made to the partition's stores so far (compare two readings: did work change the state?). */
  changes(flow: string, partition: number): number {
    let n = 0;
    for (const s of this.parts.get(flow)?.get(partition)?.stores.values() ?? []) n += s.changes;
    return n;
  }

  /** A sweep removed entries of the partition since its last flush. */
  swept(flow: string, partition: number): boolean {
    return this.parts.get(flow)?.get(partition)?.swept ?? false;
  }

  /** Entries max_keys evicted from a store (keepEvicted) of a partition since the last call. */
  takeEvicted(flow: string, store: string, partition: number): Array<[string, unknown]> {
    return this.parts.get(flow)?.get(partition)?.stores.get(store)?.takeEvicted() ?? [];
  }

  /** Expired entries of every restored partition of the flow are removed (their tombstones go with the next flush). */
  sweep(flow: string): void {
    for (const ps of this.parts.get(flow)?.values() ?? []) {
      if (ps.done) for (const s of ps.stores.values()) if (s.sweep() > 0) ps.swept = true;
    }
  }

  /** Whether the partition's state of the flow is here (restored or being restored). */
  has(flow: string, partition: number): boolean {
    return this.parts.get(flow)?.has(partition) ?? false;
  }

  /** Partitions of the flow whose state is here (restored or restoring). */
  partitions(flow: string): number[] {
    return [...(this.parts.get(flow)?.keys() ?? [])];
  }

  /** The partition moved to another member: its state is let go (and restored again if it comes back). */
  drop(flow: string, partition: number): void {
    const ps = this.parts.get(flow)?.get(partition);
    if (!ps) return;
    this.parts.get(flow)!.delete(partition);
    for (const s of ps.stores.values()) this.observer.keys(flow, s.spec.store, partition, 0);
  }
}
