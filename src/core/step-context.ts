// Per-call state: the Run (one batch through one flow: cache, metadata, dead letters) and the StepContext a
// function sees for one call. Built per run, never kept on the long-lived Flow.
//
// Lineage (each row's source position) travels as arrays aligned with the rows, step to step: a committed
// row takes the position of its `from` row, found in the call's input by a cursor that follows the function
// through its input (functions commit in input order), so the usual row costs two array pushes and one
// comparison. A map keyed by row (what this replaced) cost a hash insert per row per step and its garbage.
import type { Logger } from 'pino';
import type { FlowConfig } from '../config/model.js';
import { KisError } from '../kernel/errors.js';
import type { Params, Position, Row } from '../kernel/types.js';
import type { Action } from './actions.js';
import type { FlowContext } from './context.js';
import type { DeadLetter } from './dead-letter.js';
import type { CompiledStep, FlowDeps } from './flow-types.js';
import type { ConnectorHandle } from './pool.js';
import type { KeyedState } from './state.js';

export class Run {
  constructor(readonly inputEnded: boolean) {}
  readonly cache = new Map<string, unknown>();
  readonly meta = new Map<string, unknown>();
  readonly deadLetters: DeadLetter[] = [];
  jumps = 0;
  private at: string | undefined;
  private atMs = 0;

  /** The time of a dead letter, as ISO text: made once per millisecond, not once per row (a run dead-letters rows in bursts). */
  now(): string {
    const ms = Date.now();
    if (this.at === undefined || ms !== this.atMs) {
      this.atMs = ms;
      this.at = new Date(ms).toISOString();
    }
    return this.at;
  }
}

/** Rows and their source positions, index by index (positions undefined: the run has none to carry). */
export type Positions = readonly (Position | undefined)[];

export class StepContext implements FlowContext {
  /**
   * The rows committed, and the source position of each (when the run carries positions). Sized for the input
   * up front (a call most often commits about as many rows as it gets; growing by push would allocate each
   * array about three times over): `count` rows are in them until settle() cuts them to it.
   */
  readonly committed: Row[];
  readonly positions: (Position | undefined)[];
  private count = 0;
  readonly rejected: { row: Row; reason: string; position: Position | undefined }[] = [];
  actions: Action[] = [];
  /** Committed rows given no `from`: paired when the call ends (settle), by identity or else index by index. */
  private unpaired: number[] | undefined;
  /** Where the last row looked up in the input was: the next is most often just after it. */
  private cursor = -1;
  /** The input's rows to their index, built only when a row is looked up out of order. */
  private indexOfRow: Map<Row, number> | undefined;
  constructor(
    private readonly run: Run,
    private readonly flow: FlowConfig,
    private readonly step: CompiledStep,
    readonly input: readonly Row[],
    /** One per input row; undefined when the run carries no positions (then none are tracked). */
    readonly inputPositions: Positions | undefined,
    readonly partition: number,
    readonly log: Logger,
    private readonly deps: FlowDeps,
  ) {
    this.committed = new Array<Row>(input.length);
    this.positions = inputPositions === undefined ? [] : new Array<Position | undefined>(input.length);
  }

  get flowId(): string { return this.flow.id; }
  get flowName(): string { return this.flow.name; }
  get fid(): string { return this.step.func.fid; }
  get fname(): string { return this.step.func.fname; }
  get mode(): FlowContext['mode'] { return this.step.func.mode; }
  get params(): Params { return this.step.params; }

  param<T = unknown>(key: string): T | undefined {
    return this.step.params[key] as T | undefined;
  }
  commitRow(row: Row, from?: Row): void {
    if (typeof row !== 'object' || row === null || Array.isArray(row)) {
      throw new KisError('KIS_ERR_FUNCTION_FAILED', `function '${this.fid}' committed a ${row === null ? 'null' : typeof row}; a row must be an object`, { retriable: false });
    }
    const k = this.count++;
    this.committed[k] = row;
    const positions = this.inputPositions;
    if (positions === undefined) return;
    if (from === undefined) {
      (this.unpaired ??= []).push(k);
      this.positions[k] = undefined;
      return;
    }
    // The usual case inline: `from` is the input row after the last one looked up.
    const next = this.cursor + 1;
    if (this.input[next] === from) {
      this.cursor = next;
      this.positions[k] = positions[next];
      return;
    }
    const i = this.inputIndex(from);
    this.positions[k] = i < 0 ? undefined : positions[i];
  }
  commitRows(rows: Iterable<Row>): void {
    for (const r of rows) this.commitRow(r);
  }
  reject(row: Row, reason: string): void {
    this.rejected.push({ row, reason, position: this.recordOf(row) });
  }
  /** A rejection of a row whose position the caller knows (a committed row, by its index). */
  rejectAt(row: Row, reason: string, position: Position | undefined): void {
    this.rejected.push({ row, reason, position });
  }
  next(...actions: Action[]): void {
    this.actions.push(...actions);
  }
  recordOf(row: Row): Position | undefined {
    const positions = this.inputPositions;
    if (positions === undefined) return undefined;
    const i = this.inputIndex(row);
    if (i >= 0) return positions[i];
    // A row this call committed already (its position is settled when it named its `from`).
    const k = this.count === 0 ? -1 : this.committed.lastIndexOf(row, this.count - 1);
    return k < 0 ? undefined : this.positions[k];
  }
  state<V = unknown>(): KeyedState<V> {
    if (this.step.store === undefined || !this.deps.state) {
      throw new KisError('KIS_ERR_STATE', `function '${this.fid}' of flow '${this.flow.id}' uses state but does not declare it (add option.state: {} to its func document)`, { retriable: false });
    }
    return this.deps.state.store(this.flow.id, this.step.store, this.partition) as KeyedState<V>;
  }
  now(): number { return (this.deps.clock ?? Date.now)(); }
  get inputEnded(): boolean { return this.run.inputEnded; }
  getCacheData<T = unknown>(key: string): T | undefined { return this.run.cache.get(key) as T | undefined; }
  setCacheData(key: string, value: unknown): void { this.run.cache.set(key, value); }
  getMetaData<T = unknown>(key: string): T | undefined { return this.run.meta.get(key) as T | undefined; }
  setMetaData(key: string, value: unknown): void { this.run.meta.set(key, value); }

  /**
   * The call is over: rows committed without `from` get their position. A row of the input keeps its own;
   * a new row pairs with the input row of its index when the call committed as many rows as it received.
   */
  settle(): void {
    this.committed.length = this.count;
    if (this.inputPositions !== undefined) this.positions.length = this.count;
    const unpaired = this.unpaired;
    const positions = this.inputPositions;
    if (unpaired === undefined || positions === undefined) return;
    const sameCount = this.count === this.input.length;
    for (const k of unpaired) {
      const i = this.inputIndex(this.committed[k]!);
      this.positions[k] = i >= 0 ? positions[i] : sameCount ? positions[k] : undefined;
    }
    this.unpaired = undefined;
  }

  /** Keeps the first n committed rows (a Save compacts the rows it keeps to the front). */
  keepFirst(n: number): void {
    this.count = n;
    this.committed.length = n;
    if (this.inputPositions !== undefined) this.positions.length = n;
  }

  /** Takes what a call on some of this call's rows produced (bisection puts the passing parts together). */
  absorb(other: StepContext): void {
    for (let k = 0; k < other.committed.length; k++) {
      this.committed[this.count] = other.committed[k]!;
      if (this.inputPositions !== undefined) this.positions[this.count] = other.positions[k];
      this.count++;
    }
    this.committed.length = this.count;
    if (this.inputPositions !== undefined) this.positions.length = this.count;
    for (const r of other.rejected) this.rejected.push(r);
    for (const a of other.actions) this.actions.push(a);
  }

  reset(): void {
    this.committed.length = 0;
    this.positions.length = 0;
    this.count = 0;
    this.rejected.length = 0;
    this.actions = [];
    this.unpaired = undefined;
    this.cursor = -1;
  }

  /** The index of a row in this call's input, or -1. Functions walk their input in order: look just ahead first. */
  private inputIndex(row: Row): number {
    const input = this.input;
    const c = this.cursor;
    if (c >= 0 && input[c] === row) return c;
    const end = Math.min(input.length, c + 9);
    for (let i = c + 1; i < end; i++) {
      if (input[i] === row) {
        this.cursor = i;
        return i;
      }
    }
    let byRow = this.indexOfRow;
    if (byRow === undefined) {
      byRow = new Map();
      for (let i = input.length - 1; i >= 0; i--) byRow.set(input[i]!, i); // the first index of a row given twice
      this.indexOfRow = byRow;
    }
    const i = byRow.get(row);
    if (i === undefined) return -1;
    this.cursor = i;
    return i;
  }
}

/** What a CaaS call is told about the connector of its step. */
export function handleOf(step: CompiledStep): ConnectorHandle {
  const c = step.conn;
  return {
    cid: step.func.cid ?? '',
    type: c?.type ?? '',
    addrs: c?.addrs ?? [],
    keyFields: c?.key ?? [],
    params: c?.params ?? {},
  };
}
