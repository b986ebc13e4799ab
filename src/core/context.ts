// What a function sees while it runs: its params, its input, and the per-batch run (cache, metadata).
import type { Logger } from 'pino';
import type { FullMode } from '../config/codecs.js';
import type { Params, Position, Row } from '../kernel/types.js';
import type { Action } from './actions.js';
import type { KeyedState } from './state.js';

export interface FlowContext {
  readonly flowId: string;
  readonly flowName: string;
  readonly fid: string;
  readonly fname: string;
  readonly mode: FullMode;
  /** The function's default_params with this flow step's params on top. */
  readonly params: Params;
  /** The rows this call received (after source.must and the row codec were checked). */
  readonly input: readonly Row[];
  /** The partition of the batch being processed. */
  readonly partition: number;
  readonly log: Logger;

  param<T = unknown>(key: string): T | undefined;
  /** Hand a row to the next function. `from`: the input row it came from, so a later dead letter can name its source position. */
  commitRow(row: Row, from?: Row): void;
  commitRows(rows: Iterable<Row>): void;
  /** Send a row to the dead-letter sink with a reason, as a rejection (code KIS_ERR_ROW_REJECTED). The flow goes on. */
  reject(row: Row, reason: string): void;
  /** Actions for the flow after this call: Abort, DataReuse, ForceEntryNext, JumpFunc(fid). */
  next(...actions: Action[]): void;

  /**
   * This function's keyed state for the partition being processed (declare it with option.state in the
   * func document; a built-in that keeps state declares it itself). Restored before the first row of a
   * partition runs; every change is in the changelog before the batch's offsets are committed. Values must
   * be JSON; call set() again after changing a value in place.
   */
  state<V = unknown>(): KeyedState<V>;
  /**
   * True in the one call a finite run makes to functions that tick (kis.window) after its input ended:
   * emit what you hold (windows still open close now). Never true in an endless run.
   */
  readonly inputEnded: boolean;
  /** Milliseconds since the epoch, as the runtime sees it (the test driver can move it). */
  now(): number;

  /** Where a row came from: source, partition, offset, and for Kafka rows topic, key, headers, timestamp. */
  recordOf(row: Row): Position | undefined;

  /** Per-batch cache and metadata, shared by the functions of one run of the flow, gone after it. */
  getCacheData<T = unknown>(key: string): T | undefined;
  setCacheData(key: string, value: unknown): void;
  getMetaData<T = unknown>(key: string): T | undefined;
  setMetaData(key: string, value: unknown): void;
}

/** A FaaS: one function's logic. Rows it commits go on; it may be async. */
export type FaasHandler = (flow: FlowContext, rows: readonly Row[]) => void | Promise<void>;
