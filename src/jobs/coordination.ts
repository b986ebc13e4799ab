// What the scheduler needs from its surroundings, so that embedded mode and Kafka mode share every rule
// (ticks, misfires, blocks, routes, retries, children) and differ only in who owns a job and where the
// trigger log, the run log and the commands live.
import os from 'node:os';
import { randomUUID } from 'node:crypto';
import type { Dispatch, ExecutorInfo, RunRecord, TriggerEntry, TriggerRequest } from './records.js';

export interface CoordinationEvents {
  /** This replica now owns these jobs; lastFired is the newest tick in the trigger log (undefined: none). */
  gained(jobs: ReadonlyMap<string, number | undefined>): void;
  /** This replica no longer owns these jobs (a rebalance began or the partition moved): stop firing them. */
  lost(jobs: readonly string[]): void;
  /** A manual or parent trigger for a job this replica owns. */
  triggerRequested(req: TriggerRequest): Promise<void>;
  /** A run this replica should execute (routed here by the owner). */
  dispatched(d: Dispatch): void;
  kill(runId: string): void;
  /** Any run record of the deployment (for reports and metrics). */
  runRecorded(rec: RunRecord): void;
}

export interface JobCoordination {
  readonly mode: 'embedded' | 'kafka';
  readonly executor: ExecutorInfo;
  start(events: CoordinationEvents): Promise<void>;
  stop(): Promise<void>;
  /**
   * The fence checked before a fire: a claim (the ownership generation) when this replica owns the job now
   * and its lease is fresh, else undefined.
   */
  claim(job: string): number | undefined;
  /** Checked after the trigger is logged: the claim still holds (same generation, lease fresh). */
  confirm(job: string, claim: number): boolean;
  /**
   * A tick was logged but not run because the claim no longer held. When this replica takes the job back
   * in the very next generation, nobody else can have seen the tick, so it fires again instead of being lost.
   */
  notRun(job: string, tick: number): void;
  /** The partition of the jobs topic a job belongs to (Kafka mode). */
  partitionOf?(job: string): number;
  /** Live executors, in a stable order every replica agrees on. */
  executors(): readonly ExecutorInfo[];
  appendTrigger(entry: TriggerEntry): Promise<void>;
  publishRun(rec: RunRecord): Promise<void>;
  dispatch(to: string, d: Dispatch): Promise<void>;
  requestTrigger(req: TriggerRequest): Promise<void>;
  requestKill(runId: string): Promise<void>;
}

export function localExecutor(): ExecutorInfo {
  return { id: `${os.hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`, host: os.hostname(), pid: process.pid, started: Date.now() };
}

/** In-process: this replica owns every job, logs live in memory (nothing survives a restart). */
export class EmbeddedCoordination implements JobCoordination {
  readonly mode = 'embedded' as const;
  readonly executor = localExecutor();
  readonly triggers: TriggerEntry[] = [];
  private events: CoordinationEvents | undefined;

  /** `history`: the last fired tick per job, as a trigger log would give it (tests of misfire policies). */
  constructor(private readonly jobIds: readonly string[], private readonly history: ReadonlyMap<string, number> = new Map(), private readonly maxTriggers = 10_000) {}

  async start(events: CoordinationEvents): Promise<void> {
    this.events = events;
    events.gained(new Map(this.jobIds.map((id) => [id, this.history.get(id)])));
  }

  async stop(): Promise<void> {
    this.events?.lost([...this.jobIds]);
    this.events = undefined;
  }

  claim(): number | undefined {
    return this.events !== undefined ? 0 : undefined;
  }

  confirm(): boolean {
    return this.events !== undefined;
  }

  notRun(): void {
    // In-process, a claim only fails when the scheduler stops.
  }

  executors(): readonly ExecutorInfo[] {
    return [this.executor];
  }

  async appendTrigger(entry: TriggerEntry): Promise<void> {
    this.triggers.push(entry);
    // Trimmed in halves, not per push (a splice per trigger would be quadratic in a burst).
    if (this.triggers.length > 2 * this.maxTriggers) this.triggers.splice(0, this.triggers.length - this.maxTriggers);
  }

  async publishRun(rec: RunRecord): Promise<void> {
    this.events?.runRecorded(rec);
  }

  async dispatch(_to: string, d: Dispatch): Promise<void> {
    this.events?.dispatched(d);
  }

  async requestTrigger(req: TriggerRequest): Promise<void> {
    await this.events?.triggerRequested(req);
  }

  async requestKill(runId: string): Promise<void> {
    this.events?.kill(runId);
  }
}
