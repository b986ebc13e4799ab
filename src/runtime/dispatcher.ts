// The dispatch path: a source batch -> the executor of each (flow, partition) -> the flow runs -> its
// acknowledgements -> the batch's hand-off resolves -> the source commits. The commit order, in one place:
//
//   1. the partition's keyed state is restored (before any row of it runs);
//   2. the flow runs; its Saves, sinks and dead letters are acknowledged before the run resolves;
//   3. held join rows evicted by max_keys are let go (emitted or dead-lettered, acknowledged);
//   4. the state changes of the batch are produced to the changelogs and acknowledged;
//   5. dispatch() resolves, and only then does the source commit the batch's position
//      (Kafka offsets, a binlog checkpoint).
//
// A source that calls beforeCommit (Kafka sources) moves step 4 to just before each commit of a partition's
// offsets: the changes of every batch since the last commit are flushed together there, so that with
// commit_interval_ms a key changed many times, or held and released, between two commits is written once or
// not at all. Work that no source commits (the service's tick: TTL sweeps, join windows; a release by another
// connector's table) flushes as above, for these flows only when it changed the state (a tick that changes
// nothing does not flush what the batches since the last commit changed).
//
// A flow that writes to storage commits its rows and their positions in one database transaction, before
// step 5. After a crash between that and step 5 the source hands the batch on again; the first batches of
// each partition are then checked against the positions stored with the data, and rows at or before them
// are skipped for that flow (exactly once into the database; other flows see them as usual).
//
// A failure anywhere fails the service before step 5, so a position is never committed for work that is
// not durable (at-least-once).
import type { DeadLetter, DeadLetterSink } from '../core/dead-letter.js';
import type { Flow, RunResult } from '../core/flow.js';
import type { Batch } from '../core/source.js';
import { comparePositions } from '../kernel/positions.js';
import type { StateManager } from '../state/state-manager.js';
import { DEFAULT_ROW_LIMITS } from '../kernel/limits.js';
import { truncateUtf8 } from '../kernel/safe-json.js';
import { Executors } from './executor.js';
import type { FlushMode, JoinCoordinator, PartitionRunner } from './joins.js';

export interface DispatcherDeps {
  readonly state: StateManager;
  /**
   * For a flow whose Saves all store positions with their data (storage connectors): the positions stored
   * for a source, per partition. Rows at or before them were applied already and are skipped.
   */
  readonly storedPositions?: (flow: Flow) => ((source: string) => Promise<ReadonlyMap<number, string>>) | undefined;
  readonly deadLetters: DeadLetterSink;
  readonly joins: JoinCoordinator;
  /** The row limit in bytes: an undecodable record is kept in its dead letter up to it. */
  readonly maxRowBytes?: number;
  /** Rows handed on again that a flow's stores had applied already (after a restart), skipped. */
  readonly onSkipped?: (flow: string, source: string, partition: number, rows: number, storedUpTo: string) => void;
  /** Called with every finished run of every flow. */
  readonly onRun?: (flow: string, result: RunResult) => void;
  /** An error the service cannot recover from: it stops (offsets after the last commit are processed again). */
  readonly fail: (err: unknown) => void;
}

export class Dispatcher implements PartitionRunner {
  private readonly executors = new Executors();
  readonly rowsIn: Record<string, number> = {};
  readonly rowsOut: Record<string, number> = {};
  private inflight = 0;
  private settled: (() => void) | undefined;
  /** Sources whose batches' state is flushed in beforeCommit, not after each batch, and the flows they feed. */
  private readonly flushedAtCommit = new Set<string>();
  private readonly flowsFlushedAtCommit = new Set<string>();
  /** `flow\0partition` whose state was let go: offsets of their work here are not committed (state unflushed). */
  private readonly dropped = new Set<string>();

  constructor(private readonly deps: DispatcherDeps) {
    deps.joins.bind(this);
  }

  /** A source's batch, to the flows it feeds; resolves when all of it is durable (then the source may commit). */
  async dispatch(batch: Batch, flows: readonly Flow[]): Promise<void> {
    this.inflight++;
    try {
      this.rowsIn[batch.source] = (this.rowsIn[batch.source] ?? 0) + batch.rows.length + batch.undecodable.length;
      if (batch.undecodable.length > 0) {
        await Promise.all(flows.map((f) => this.deps.deadLetters.write(f.id, f.config.deadLetterTopic, batch.undecodable.map((u): DeadLetter => ({
          row: { raw: truncateUtf8(u.raw, this.deps.maxRowBytes ?? DEFAULT_ROW_LIMITS.maxBytes).text }, code: 'KIS_ERR_ROW_DECODE', message: `source '${batch.source}': ${u.reason}`, flow: f.id, fn: '', position: u.position, attempts: 0, at: new Date().toISOString(),
          ...(u.bytes ? { bytes: u.bytes } : {}),
        })))));
      }
      if (batch.rows.length === 0) return;
      // Records of a joined connector topic feed the table of the flows that join it, and no other flow.
      const joined = this.deps.joins.joinedTopicOf(batch);
      const flush: FlushMode = this.flushedAtCommit.has(batch.source) ? 'commit' : 'now';
      await Promise.all(flows.map((f) => {
        if (joined !== undefined) return this.deps.joins.joins(f, joined) ? this.deps.joins.feedTable(f, joined, batch, flush) : Promise.resolve();
        return this.inPartition(f, batch.partition, async () => {
          const { rows, positions } = await this.notApplied(f, batch);
          if (rows.length === 0) return;
          const result = await f.run(rows, { positions, partition: batch.partition });
          this.collect(f, result);
        }, flush);
      }));
    } catch (err) {
      this.deps.fail(err);
      throw err;
    } finally {
      this.inflight--;
      this.settled?.();
    }
  }

  /**
   * Work on one partition of a flow, in its executor, in the commit order above (steps 1, 3 and 4 around the
   * work; step 4 as `flush` says: see FlushMode).
   */
  inPartition<T>(f: Flow, partition: number, work: () => Promise<T>, flush: FlushMode = 'lazy'): Promise<T> {
    this.inflight++;
    const { state, joins } = this.deps;
    return this.executors.for(f.id, partition).submit(async () => {
      const fresh = joins.stepsOf(f.id).length > 0 && !state.has(f.id, partition);
      await state.ready(f.id, partition);
      this.dropped.delete(`${f.id}\u0000${partition}`);
      const before = state.changes(f.id, partition);
      if (fresh) await joins.onFreshPartition(f, partition);
      const out = await work();
      await joins.afterWork(f, partition);
      const changed = (): boolean => state.changes(f.id, partition) !== before || state.swept(f.id, partition);
      if (flush === 'now' || (flush === 'lazy' && (!this.flowsFlushedAtCommit.has(f.id) || changed()))) await state.flush(f.id, partition);
      return out;
    }).catch((err: unknown) => {
      this.deps.fail(err);
      throw err;
    }).finally(() => {
      this.inflight--;
      this.settled?.();
    });
  }

  /** Per flow, source and partition: the stored position still to pass (checked until a batch is past it). */
  private readonly skipping = new Map<string, Promise<string>>();

  /** The rows of a batch a flow's stores have not applied yet (all of them, unless stored positions say otherwise). */
  private async notApplied(f: Flow, batch: Batch): Promise<{ rows: readonly Batch['rows'][number][]; positions: Batch['positions'] }> {
    const stored = this.deps.storedPositions?.(f);
    if (!stored) return batch;
    const key = `${f.id}\u0000${batch.source}\u0000${batch.partition}`;
    let upTo = this.skipping.get(key);
    if (upTo === undefined) {
      upTo = stored(batch.source).then((m) => m.get(batch.partition) ?? '');
      this.skipping.set(key, upTo);
    }
    const limit = await upTo;
    const first = batch.positions[0]?.offset;
    if (limit === '' || first === undefined || comparePositions(first, limit) > 0) {
      this.skipping.set(key, Promise.resolve(''));
      return batch;
    }
    const rows: Batch['rows'][number][] = [];
    const positions: Batch['positions'][number][] = [];
    batch.rows.forEach((r, i) => {
      const p = batch.positions[i];
      if (p && comparePositions(p.offset, limit) <= 0) return;
      rows.push(r);
      positions.push(p!);
    });
    this.deps.onSkipped?.(f.id, batch.source, batch.partition, batch.rows.length - rows.length, limit);
    return { rows, positions };
  }

  /** The source calls beforeCommit before each commit: its batches' state is flushed there (for these flows it feeds). */
  flushAtCommit(sourceId: string, flows: readonly Flow[]): void {
    this.flushedAtCommit.add(sourceId);
    for (const f of flows) this.flowsFlushedAtCommit.add(f.id);
  }

  /**
   * Before a source commits offsets of a partition: the state changes of the flows it feeds there are flushed
   * (in the partition's executor, after the work queued there). False when a flow's state of the partition was
   * let go meanwhile: its changes since the last flush are gone, so those offsets must not be committed.
   */
  async beforeCommit(flows: readonly Flow[], partition: number): Promise<boolean> {
    const { state } = this.deps;
    const ok = await Promise.all(flows.map((f) => {
      if (!state.hasState(f.id)) return Promise.resolve(true);
      return this.executors.for(f.id, partition).submit(async () => {
        if (this.dropped.has(`${f.id}\u0000${partition}`)) return false;
        await state.flush(f.id, partition);
        return true;
      });
    })).catch((err: unknown) => {
      this.deps.fail(err);
      throw err;
    });
    return ok.every(Boolean);
  }

  /** At a graceful stop: the state of every partition of the flows flushed at commits is flushed (what no commit wrote). */
  async flushAll(): Promise<void> {
    const { state } = this.deps;
    await Promise.all([...this.flowsFlushedAtCommit].flatMap((flow) => state.partitions(flow).map((p) => this.executors.for(flow, p).submit(() => state.flush(flow, p)))));
  }

  collect(f: Flow, result: RunResult): void {
    this.rowsOut[f.id] = (this.rowsOut[f.id] ?? 0) + result.output.length;
    this.deps.onRun?.(f.id, result);
  }

  /** A consumer group gave this member new partitions: the state of the partitions it lost is let go, the new ones restored. */
  assigned(flows: readonly Flow[], assignment: Readonly<Record<string, readonly number[]>>): void {
    const owned = new Set(Object.values(assignment).flat());
    const { state } = this.deps;
    // Partitions may come back after another member wrote to the store: their stored positions are read again.
    for (const f of flows) for (const k of [...this.skipping.keys()]) if (k.startsWith(`${f.id}\u0000`)) this.skipping.delete(k);
    for (const f of flows) {
      if (!state.hasState(f.id)) continue;
      const here = state.partitions(f.id);
      for (const p of here) {
        if (!owned.has(p)) void this.dropState(f, p);
      }
      // Restored now rather than at the partition's first batch, so that join windows and TTLs run on quiet partitions too.
      for (const p of owned) if (!here.includes(p)) this.inPartition(f, p, async () => undefined).catch(() => undefined);
    }
  }

  /** Lets go of a partition's keyed state in memory, in its executor (after what is queued there). */
  dropState(f: Flow, partition: number): Promise<void> {
    return this.executors.for(f.id, partition).submit(async () => {
      if (this.deps.state.has(f.id, partition)) this.dropped.add(`${f.id}\u0000${partition}`);
      this.deps.state.drop(f.id, partition);
    });
  }

  /** Resolves when nothing is in flight, every executor is idle and `caughtUp` holds; throws the service's failure. */
  async quiet(caughtUp: () => boolean, failure: () => unknown): Promise<void> {
    while (this.inflight > 0 || !this.executors.allIdle() || !caughtUp()) {
      const failed = failure();
      if (failed) throw failed;
      await new Promise<void>((resolve) => {
        this.settled = resolve;
        setTimeout(resolve, 20);
      });
    }
  }
}
