// The numbers behind the console's status records: per flow and per function, tallied as rows go by.
// Cheap on the hot path: counters live in objects made once per flow or function (the first time it is
// seen); a call adds to numbers and writes one slot of a fixed ring of run times, and allocates nothing.
// The costly parts (p99 over the last minute, sums per flow) are done when a status record is made.
import type { FullMode } from '../config/codecs.js';
import type { FlowObserver, FuncStats } from '../core/observer.js';
import type { SourceObserver } from '../core/source.js';

/** Run times kept per function for its p99: the last this many calls (within the last minute). */
const SAMPLES = 1024;
const P99_WINDOW_MS = 60_000;

export interface FunctionTally {
  readonly flow: string;
  readonly fid: string;
  mode: string;
  rowsIn: number;
  rowsOut: number;
  rejected: number;
  deadLettered: number;
  calls: number;
  /** Ring of the last SAMPLES run times (ms) and when each ended. */
  readonly ms: Float64Array;
  readonly at: Float64Array;
}

export interface FlowTally {
  readonly flow: string;
  rowsIn: number;
  runs: number;
  deadLetters: number;
  readonly functions: Map<string, FunctionTally>;
}

export interface SourceTally {
  /** Records behind the end, per `topic/partition` this replica holds. */
  readonly lag: Map<string, { readonly partition: number; records: number }>;
  lagSeconds: number;
  leader: boolean | undefined;
}

/** A flow observer and source observer that keeps what the status records need. Lives as long as the process (a hot reload keeps it). */
export class StatusObserver implements FlowObserver, SourceObserver {
  readonly flows = new Map<string, FlowTally>();
  readonly sources = new Map<string, SourceTally>();

  constructor(private readonly clock: () => number = Date.now) {}

  private flow(flowId: string): FlowTally {
    let f = this.flows.get(flowId);
    if (!f) {
      f = { flow: flowId, rowsIn: 0, runs: 0, deadLetters: 0, functions: new Map() };
      this.flows.set(flowId, f);
    }
    return f;
  }

  private source(id: string): SourceTally {
    let s = this.sources.get(id);
    if (!s) {
      s = { lag: new Map(), lagSeconds: 0, leader: undefined };
      this.sources.set(id, s);
    }
    return s;
  }

  flowStarted(flowId: string, _flowName: string, rows: number): void {
    const f = this.flow(flowId);
    f.rowsIn += rows;
    f.runs++;
  }

  funcFinished(flowId: string, _flowName: string, fid: string, mode: FullMode, s: FuncStats): void {
    const f = this.flow(flowId);
    let t = f.functions.get(fid);
    if (!t) {
      t = { flow: flowId, fid, mode, rowsIn: 0, rowsOut: 0, rejected: 0, deadLettered: 0, calls: 0, ms: new Float64Array(SAMPLES), at: new Float64Array(SAMPLES) };
      f.functions.set(fid, t);
    }
    t.mode = mode;
    t.rowsIn += s.rowsIn;
    t.rowsOut += s.rowsOut;
    t.rejected += s.rejected;
    t.deadLettered += s.deadLettered;
    const slot = t.calls % SAMPLES;
    t.ms[slot] = s.ms;
    t.at[slot] = this.clock();
    t.calls++;
  }

  flowFinished(): void {
    // Run times are kept per function; a flow's own duration is not shown by the console.
  }

  deadLettered(flowId: string, _code: string, rows: number): void {
    this.flow(flowId).deadLetters += rows;
  }

  lag(source: string, topic: string, partition: number, lag: number): void {
    const s = this.source(source);
    const key = `${topic}/${partition}`;
    const slot = s.lag.get(key);
    if (slot) slot.records = lag;
    else s.lag.set(key, { partition, records: lag });
  }

  committed(): void {
    // Commit latency is a Prometheus metric only.
  }

  /** The group moved partitions: lag is reported again for the partitions held now. */
  rebalanced(source: string): void {
    this.source(source).lag.clear();
  }

  binlogLag(source: string, seconds: number): void {
    this.source(source).lagSeconds = seconds;
  }

  binlogLeader(source: string, leader: boolean): void {
    this.source(source).leader = leader;
  }

  /** p99 of a function's run times over the last minute (null: no call in it). */
  p99(t: FunctionTally, now = this.clock()): number | null {
    const n = Math.min(t.calls, SAMPLES);
    const recent: number[] = [];
    for (let i = 0; i < n; i++) if (now - t.at[i]! <= P99_WINDOW_MS) recent.push(t.ms[i]!);
    if (recent.length === 0) return null;
    recent.sort((a, b) => a - b);
    return recent[Math.min(recent.length - 1, Math.ceil(recent.length * 0.99) - 1)]!;
  }
}

/** Several flow observers as one (e.g. the Prometheus one and the status one): each call goes to each, in order. */
export function teeFlowObservers(...list: readonly FlowObserver[]): FlowObserver {
  return {
    flowStarted: (a, b, c) => { for (const o of list) o.flowStarted(a, b, c); },
    funcFinished: (a, b, c, d, e) => { for (const o of list) o.funcFinished(a, b, c, d, e); },
    flowFinished: (a, b, c) => { for (const o of list) o.flowFinished(a, b, c); },
    deadLettered: (a, b, c) => { for (const o of list) o.deadLettered?.(a, b, c); },
  };
}

/** Several source observers as one. */
export function teeSourceObservers(...list: readonly SourceObserver[]): SourceObserver {
  return {
    lag: (a, b, c, d) => { for (const o of list) o.lag(a, b, c, d); },
    committed: (a, b) => { for (const o of list) o.committed(a, b); },
    rebalanced: (a) => { for (const o of list) o.rebalanced(a); },
    binlogLag: (a, b, c) => { for (const o of list) o.binlogLag?.(a, b, c); },
    binlogLeader: (a, b) => { for (const o of list) o.binlogLeader?.(a, b); },
    binlogRepair: (a, b, c) => { for (const o of list) o.binlogRepair?.(a, b, c); },
  };
}
