// Per-call state: the Run (one batch through one flow: cache, metadata, lineage, dead letters) and the
// StepContext a function sees for one call. Built per run, never kept on the long-lived Flow.
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
  // A Map, not a WeakMap: a Run lives for one batch, and a Map is cheaper per row to fill and to collect.
  readonly lineage = new Map<Row, Position>();
  readonly deadLetters: DeadLetter[] = [];
  jumps = 0;
}

export class StepContext implements FlowContext {
  readonly committed: Row[] = [];
  readonly from: (Row | undefined)[] = [];
  readonly rejected: { row: Row; reason: string }[] = [];
  actions: Action[] = [];
  constructor(
    private readonly run: Run,
    private readonly flow: FlowConfig,
    private readonly step: CompiledStep,
    readonly input: readonly Row[],
    readonly partition: number,
    readonly log: Logger,
    private readonly deps: FlowDeps,
  ) {}

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
    this.committed.push(row);
    this.from.push(from);
  }
  commitRows(rows: Iterable<Row>): void {
    for (const r of rows) this.commitRow(r);
  }
  reject(row: Row, reason: string): void {
    this.rejected.push({ row, reason });
  }
  next(...actions: Action[]): void {
    this.actions.push(...actions);
  }
  recordOf(row: Row): Position | undefined { return this.run.lineage.get(row); }
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

  /** Takes what a call on some of this call's rows produced (bisection puts the passing parts together). */
  absorb(other: StepContext): void {
    this.committed.push(...other.committed);
    this.from.push(...other.from);
    this.rejected.push(...other.rejected);
    this.actions.push(...other.actions);
  }

  reset(): void {
    this.committed.length = 0;
    this.from.length = 0;
    this.rejected.length = 0;
    this.actions = [];
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
