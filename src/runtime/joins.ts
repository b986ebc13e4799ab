// Join coordination: which flows join which connectors, rows held for a match released when it is saved
// (in the connector's table, or in a co-partitioned table store), held rows let go at the join window or
// the end of the input, and the co-partitioning check before topics are created.
import type { Connector } from '../core/connector.js';
import type { DeadLetter, DeadLetterSink } from '../core/dead-letter.js';
import type { CompiledStep, Flow, RunResult } from '../core/flow.js';
import { expire, joinRow, release, type HeldRow, type TableRow } from '../core/join.js';
import type { Row } from '../kernel/types.js';
import type { Batch } from '../core/source.js';
import type { KeyedState, StoreSpec } from '../core/state.js';
import { KisError } from '../kernel/errors.js';
import { connectorTopic } from '../kernel/names.js';
import type { StateManager, TopicTable } from '../state/state-manager.js';

/** The partition count of a flow's input: a number, or the topics whose largest count it is (Kafka inputs). */
/** Unmatched keys named in a run's summary at most (the count is exact either way). */
const MAX_UNMATCHED_KEYS = 1000;

export type InputPartitions = number | { readonly like: readonly string[] };

/** How the coordinator runs work on a partition of a flow and hands on what a run produced (the dispatcher). */
export interface PartitionRunner {
  inPartition<T>(f: Flow, partition: number, work: () => Promise<T>, flush?: FlushMode): Promise<T>;
  collect(f: Flow, result: RunResult): void;
}

/**
 * When a partition's state changes are flushed after work on it: `now` (a source batch whose position is committed
 * once the work resolves), `commit` (a source batch of a source that calls beforeCommit: flushed there), `lazy`
 * (work no source commits: now, unless the flow is flushed at commits and the work changed nothing).
 */
export type FlushMode = 'now' | 'commit' | 'lazy';

export interface JoinPlanDeps {
  readonly flows: ReadonlyMap<string, Flow>;
  readonly state: StateManager;
  readonly deadLetters: DeadLetterSink;
  readonly inputPartitions: (flowId: string) => InputPartitions;
  /** Partition counts of topics, where topics have counts that can differ (Kafka). */
  readonly partitionCounts?: (topics: readonly string[]) => Promise<Map<string, number | undefined>>;
}

/**
 * The table stores of co-partitioned joins that are restored from the connector's topic instead of a changelog:
 * the store holds the topic's records as they are (the row, under its record key, in the record's partition),
 * so the topic is already its changelog, when its connector says so (params.table_restore: topic). Not when the table has a TTL (join_window_ms or option.state.ttl_ms):
 * its entries then expire by when they arrived here, which the topic does not record; those keep a changelog.
 * `groupOf` names the consumer group that feeds the flow, once the sources exist (the restore stops at its
 * committed offset, as the group hands on the rest again).
 */
export function topicTables(flows: ReadonlyMap<string, Flow>, stores: readonly StoreSpec[], groupOf: (flowId: string) => string | undefined, clock: () => number): TopicTable[] {
  const out: TopicTable[] = [];
  for (const f of flows.values()) {
    if (!f.enabled) continue;
    for (const step of f.steps) {
      const c = step.connector;
      const spec = stores.find((s) => s.flow === f.id && s.store === step.tableStore);
      // Opt-in: a restore finds only what the topic still holds, so the topic must keep every key (compacted or kept forever).
      if (step.tableStore === undefined || !c?.feed || !spec || spec.ttlMs !== undefined || c.config.params['table_restore'] !== 'topic') continue;
      out.push({
        flow: f.id,
        store: step.tableStore,
        topic: c.feed.topicName,
        group: () => groupOf(f.id),
        // As feedTable keeps a record: a JSON object under its record key (or the connector's key of it).
        entry: (key, value) => {
          if (value === null) return undefined;
          let row: Row;
          try {
            row = JSON.parse(value) as Row;
          } catch {
            return undefined; // dead-lettered when it was read live, never in the table
          }
          if (typeof row !== 'object' || row === null || Array.isArray(row)) return undefined;
          const k = key ?? c.keyOf(row);
          return k === undefined ? undefined : { key: k, value: { r: row, t: clock() } satisfies TableRow };
        },
      });
    }
  }
  return out;
}

export class JoinCoordinator {
  /** Per flow, fixed once built: its join steps (rows held in state), and the topics it joins co-partitioned. */
  private readonly joinSteps = new Map<string, readonly CompiledStep[]>();
  private readonly joinedTopics = new Map<string, readonly string[]>();
  /** Every topic some flow joins co-partitioned: its records feed tables, not flows. */
  private readonly joinTopics = new Set<string>();
  private readonly partitionCountsByFlow = new Map<string, number>();
  private runner: PartitionRunner | undefined;
  /** Inner-join rows whose match never arrived before the input ended, and (the first ones) their keys. */
  unmatched = 0;
  readonly unmatchedKeys: string[] = [];

  constructor(private readonly deps: JoinPlanDeps) {
    for (const f of deps.flows.values()) {
      const steps = f.steps.filter((st) => st.heldStore !== undefined);
      if (steps.length > 0) this.joinSteps.set(f.id, steps);
      const topics = f.enabled ? [...new Set(steps.filter((st) => st.tableStore !== undefined && st.connector?.feed).map((st) => st.connector!.feed!.topicName))] : [];
      if (topics.length > 0) this.joinedTopics.set(f.id, topics);
      for (const t of topics) this.joinTopics.add(t);
    }
  }

  bind(runner: PartitionRunner): void {
    this.runner = runner;
  }

  private get run(): PartitionRunner {
    return this.runner!;
  }

  /** The partition count every topic of a flow's co-partitioned joins has (known after checkCoPartitioning). */
  partitionsOf(flowId: string): number | undefined {
    return this.partitionCountsByFlow.get(flowId);
  }

  stepsOf(flowId: string): readonly CompiledStep[] {
    return this.joinSteps.get(flowId) ?? [];
  }

  /** The topics these flows join co-partitioned, read by the same consumers as the flows' inputs. */
  topicsOf(flows: readonly Flow[]): string[] {
    return [...new Set(flows.flatMap((f) => this.joinedTopics.get(f.id) ?? []))];
  }

  /** The joined topic a batch comes from, when it is one (its records feed tables, not flows). */
  joinedTopicOf(batch: Batch): string | undefined {
    const topic = batch.positions[0]?.topic;
    return topic !== undefined && this.joinTopics.has(topic) ? topic : undefined;
  }

  joins(f: Flow, topic: string): boolean {
    return this.joinedTopics.get(f.id)?.includes(topic) ?? false;
  }

  /** Connectors whose whole topic every replica keeps as a table: those joined by flows that are not co-partitioned. */
  globalTables(): string[] {
    const cids = new Set<string>();
    for (const f of this.deps.flows.values()) {
      for (const s of f.steps) if (f.enabled && s.heldStore !== undefined && s.tableStore === undefined && s.func.cid) cids.add(s.func.cid);
    }
    return [...cids];
  }

  /** Before a partition's first work here: rows held (restored) for keys whose match arrived meanwhile are released. */
  async onFreshPartition(f: Flow, partition: number): Promise<void> {
    for (const step of this.stepsOf(f.id)) {
      const held = f.stateOf(step.heldStore!, partition) as KeyedState<HeldRow[]>;
      if (held.size > 0) await this.releaseAndRun(f, step, partition, [...held.entries()].map(([k]) => k));
    }
  }

  /** After work on a partition: held rows evicted by max_keys are let go (never dropped silently). */
  async afterWork(f: Flow, partition: number): Promise<void> {
    for (const step of this.stepsOf(f.id)) {
      const evicted = this.deps.state.takeEvicted(f.id, step.heldStore!, partition) as Array<[string, HeldRow[]]>;
      if (evicted.length > 0) await this.letGo(f, step, partition, evicted.flatMap(([, list]) => list), `evicted: the store of held rows reached max_keys (${f.id} step ${step.index + 1}); raise option.state.max_keys of '${step.func.fid}' or set a join_window_ms`);
    }
  }

  /** Rows held for these keys are joined and go on after their Load step. */
  private async releaseAndRun(f: Flow, step: CompiledStep, partition: number, keys: Iterable<string>): Promise<void> {
    const held = f.stateOf(step.heldStore!, partition) as KeyedState<HeldRow[]>;
    const r = release(keys, f.lookup(step, partition), held, step.joinAs);
    if (r.rows.length === 0) return;
    const result = await f.run(r.rows, { positions: r.positions, partition, startAt: step.index + 1 });
    this.run.collect(f, result);
  }

  /** A connector's table (not co-partitioned) got rows: rows held for their keys, in any partition, are released. */
  savedToTable(c: Connector, keys: readonly string[]): void {
    for (const f of this.deps.flows.values()) {
      if (!f.enabled) continue;
      const steps = this.stepsOf(f.id).filter((s) => s.tableStore === undefined && s.connector === c);
      if (steps.length === 0) continue;
      for (const p of this.deps.state.partitions(f.id)) {
        this.run.inPartition(f, p, async () => {
          for (const step of steps) await this.releaseAndRun(f, step, p, keys);
        }).catch(() => undefined);
      }
    }
  }

  /** Records of a joined connector topic, co-partitioned with the flow's input: into the partition's table store, releasing what waited for them. */
  async feedTable(f: Flow, topic: string, batch: Batch, flush: FlushMode = 'now'): Promise<void> {
    const steps = f.steps.filter((s) => s.tableStore !== undefined && s.connector?.feed?.topicName === topic);
    if (steps.length === 0) return;
    await this.run.inPartition(f, batch.partition, async () => {
      const now = f.now();
      for (const step of steps) {
        const table = f.stateOf(step.tableStore!, batch.partition);
        const keys: string[] = [];
        batch.rows.forEach((row, i) => {
          const key = batch.positions[i]?.key ?? step.connector!.keyOf(row);
          if (key === undefined || key === null) return;
          table.set(key, { r: row, t: now });
          keys.push(key);
        });
        await this.releaseAndRun(f, step, batch.partition, keys);
      }
    }, flush);
  }

  /**
   * Held rows past the join window (or all of them at the end of the input): a left join emits them unmatched;
   * an inner join dead-letters them (window) or counts them unmatched (end of input). True when any left.
   */
  async expireHeld(f: Flow, step: CompiledStep, partition: number, windowMs: number | undefined, why: 'window' | 'end'): Promise<boolean> {
    const held = f.stateOf(step.heldStore!, partition) as KeyedState<HeldRow[]>;
    if (held.size === 0) return false;
    const gone = expire(held, f.now(), windowMs);
    if (gone.length === 0) return false;
    if (why === 'end' && step.join !== 'left') {
      this.unmatched += gone.length;
      for (const h of gone) if (this.unmatchedKeys.length < MAX_UNMATCHED_KEYS) this.unmatchedKeys.push(step.connector?.keyOf(h.r) ?? '');
    }
    else await this.letGo(f, step, partition, gone, `no row was saved under the key through connector '${step.func.cid ?? ''}' within join_window_ms (${windowMs} ms)`);
    return true;
  }

  /** Held rows that will not be matched: a left join emits them unmatched, an inner join dead-letters them with the reason. */
  private async letGo(f: Flow, step: CompiledStep, partition: number, gone: readonly HeldRow[], reason: string): Promise<void> {
    if (step.join === 'left') {
      const result = await f.run(gone.map((h) => joinRow(h.r, undefined, step.joinAs)), { positions: gone.map((h) => h.p ?? undefined), partition, startAt: step.index + 1 });
      this.run.collect(f, result);
    } else {
      const at = new Date().toISOString();
      await this.deps.deadLetters.write(f.id, f.config.deadLetterTopic, gone.map((h): DeadLetter => ({
        row: h.r,
        code: 'KIS_ERR_JOIN_EXPIRED',
        message: `key '${step.connector?.keyOf(h.r) ?? ''}': ${reason}`,
        flow: f.id, fn: step.func.fid, position: h.p ?? undefined, attempts: 0, at,
      })));
    }
  }

  /** A co-partitioned join needs the same partition count on all its topics; a difference stops start-up. */
  async checkCoPartitioning(): Promise<void> {
    const counts = this.deps.partitionCounts;
    if (!counts) return;
    const problems: string[] = [];
    for (const f of this.deps.flows.values()) {
      const joined = this.topicsOf([f]);
      if (joined.length === 0) continue;
      const inputs = this.deps.inputPartitions(f.id);
      const first = f.steps[0];
      const driven = first?.drivesFlow && first.conn ? [connectorTopic(first.conn).topic] : [];
      const topics = [...new Set([...(typeof inputs === 'number' ? [] : inputs.like), ...driven, ...joined])];
      const byTopic = await counts(topics);
      const distinct = new Set([...byTopic.values()]);
      const only = [...distinct][0];
      if (distinct.size === 1 && only !== undefined) this.partitionCountsByFlow.set(f.id, only);
      if (distinct.size > 1) {
        problems.push(`flow '${f.id}' joins topics that are not co-partitioned: ${[...byTopic].map(([t, n]) => `${t} has ${n ?? 'no'} partitions`).join(', ')}. ` +
          'Joined topics need the same partition count and the same key, so that one member owns partition n of each: set the connectors\' params.partitions to the input\'s count, or repartition the input through a Save to a connector with that count');
      }
    }
    if (problems.length > 0) throw new KisError('KIS_ERR_CONNECTOR', problems.join('\n'));
  }
}
