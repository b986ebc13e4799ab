// The source contract every upstream implements (a port of the core; the source types live in src/sources/).
// A source hands batches to the runtime one partition
// at a time and in order, awaits each hand-off (that is the back-pressure), and commits a position
// only after the batch that holds it is fully processed.
import type { Position, Row, SourceBatch } from '../kernel/types.js';

export interface Undecodable {
  readonly raw: string;
  /** The record's bytes as they were (Kafka): its dead letter forwards them, not a re-encoding of `raw`. */
  readonly bytes?: Buffer;
  readonly reason: string;
  readonly position: Position;
}

export interface Batch extends SourceBatch {
  /** Records of this stretch of input that could not be decoded into rows: they go to the dead-letter sinks. */
  readonly undecodable: readonly Undecodable[];
}

/** Resolves once every flow fed by the source has processed the batch and everything it produced is durable. */
export type BatchHandler = (batch: Batch) => Promise<void>;

export interface Source {
  readonly id: string;
  /** True when the source ends by itself (a file, a generator with a count, stdin at EOF). */
  readonly finite: boolean;
  /** Reads until the input ends or `signal` aborts; resolves after the last hand-off has resolved. */
  run(handle: BatchHandler, signal: AbortSignal): Promise<void>;
  /** Why the source is not ready yet (not connected, no partitions assigned); empty when it is. Absent: ready once running. */
  waiting?(): string[];
  /** Sources that follow a log in this process (the embedded log): every record appended so far has been handed on and processed. */
  caughtUp?(): boolean;
  /** Kafka sources: the consumer group whose committed offsets are the source's positions. */
  readonly groupId?: string;
  /** The source calls its beforeCommit hook before every commit of positions (state may be flushed there, not per batch). */
  readonly callsBeforeCommit?: boolean;
}

export function batchOf(source: string, partition: number, rows: Row[], positions: Position[], undecodable: Undecodable[] = []): Batch {
  return { source, partition, rows, positions, undecodable };
}

/** What sources report for metrics (injected; the runtime hands in a Prometheus-backed one). */
export interface SourceObserver {
  /** Records not yet read behind the partition's end, after a batch. */
  lag(source: string, topic: string, partition: number, lag: number): void;
  /** One offset commit (or checkpoint), how long it took. */
  committed(source: string, ms: number): void;
  /** The consumer group gave this member a new assignment. */
  rebalanced(source: string): void;
  /** Binlog sources, after each batch: seconds between the commit of its last transaction and now, and transactions still queued. */
  binlogLag?(source: string, seconds: number, queued: number): void;
  /** Binlog sources in Kafka mode: this replica became (true) or stopped being (false) the elected reader. */
  binlogLeader?(source: string, leader: boolean): void;
  /**
   * Binlog sources healed or re-read something: 'gtid_resume' (the checkpointed file was gone, resumed by its GTID),
   * 'resnapshot' (the position was lost; the tables were read again), 'incremental_snapshot' (a requested
   * re-snapshot finished); `rows`: the rows it read again.
   */
  binlogRepair?(source: string, action: 'gtid_resume' | 'resnapshot' | 'incremental_snapshot', rows: number): void;
}

export const NO_SOURCE_OBSERVER: SourceObserver = {
  lag() {},
  committed() {},
  rebalanced() {},
};
