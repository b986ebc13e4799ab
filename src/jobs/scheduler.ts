// The owner side of a replica: for every job it owns, it keeps the next tick in a heap, and when a tick is
// due it checks the fence, appends the trigger to the trigger log, and only then routes the run to an
// executor. Missed ticks (take-over, downtime, a tick later than misfire.threshold_ms) go through the
// misfire policy. Embedded and Kafka mode differ only in the JobCoordination handed in.
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { errorMessage, KisError } from '../kernel/errors.js';
import { realClock, type Clock } from './clock.js';
import { nextTick, type JobConfig } from '../config/jobs/codec.js';
import type { CoordinationEvents, JobCoordination } from './coordination.js';
import { JobExecutor, newRunId } from './executor.js';
import type { JobHandlers, TriggerKind } from '../core/job-handlers.js';
import { JobMetrics } from './metrics.js';
import type { Dispatch, ExecutorInfo, RunRecord, TriggerRequest } from './records.js';
import { dayOf, RunBook } from './reports.js';
import type { JobFlowRunner } from './runner.js';

/** Ticks computed at once for one job (a catch-up after a long outage is cut here). */
const MAX_DUE_TICKS = 10_000;
/** Jobs fired per turn of the event loop. */
const DUE_SLICE = 500;

export interface JobSchedulerOptions {
  readonly jobs: readonly JobConfig[];
  readonly handlers: JobHandlers;
  readonly coordination: JobCoordination;
  readonly logger: Logger;
  /** Runs a job's flow; required when a job has `runs: { flow }`. */
  readonly flows?: JobFlowRunner;
  readonly registry?: Registry;
  readonly clock?: Clock;
  /** How long stop() lets runs finish before killing them (default 10 s). */
  readonly stopGraceMs?: number;
  /**
   * Runs per job kept in memory for listJobs / runsOf (default 10, at most the job's keep_runs): every replica
   * reads the whole run log, so 10,000 jobs x 100 runs would be a million records. `kisflow jobs` reads the
   * topic itself and keeps keep_runs.
   */
  readonly keepRunsInMemory?: number;
}

interface Owned {
  next: number | undefined;
  lastFired: number | undefined;
  chain: Promise<void>;
  rr: number;
}

export class JobScheduler {
  readonly book: RunBook;
  private readonly jobs: ReadonlyMap<string, JobConfig>;
  private readonly owned = new Map<string, Owned>();
  private readonly heap: Array<{ at: number; job: string }> = [];
  private readonly executor: JobExecutor;
  private readonly metrics: JobMetrics | undefined;
  private readonly clock: Clock;
  private cancelTimer: (() => void) | undefined;
  private timerAt = Infinity;
  private started = false;
  private ratioTimer: (() => void) | undefined;

  constructor(private readonly opts: JobSchedulerOptions) {
    this.jobs = new Map(opts.jobs.map((j) => [j.id, j]));
    this.clock = opts.clock ?? realClock;
    this.metrics = opts.registry ? JobMetrics.for(opts.registry) : undefined;
    const keep = opts.keepRunsInMemory ?? 10;
    this.book = new RunBook((job) => Math.min(keep, this.jobs.get(job)?.keepRuns ?? keep));
    this.executor = new JobExecutor({ jobs: this.jobs, coordination: opts.coordination, handlers: opts.handlers, flows: opts.flows, clock: this.clock, logger: opts.logger, metrics: this.metrics });
  }

  get executorId(): string {
    return this.opts.coordination.executor.id;
  }

  get runsInProgress(): number {
    return this.executor.inProgress;
  }

  /** Run ids executing on this replica now. */
  runningIds(): string[] {
    return this.executor.runningIds();
  }

  /** The live executors (members of the jobs group; this one alone in embedded mode). */
  executors(): readonly ExecutorInfo[] {
    return this.opts.coordination.executors();
  }

  /** The job partitions this replica owns (by the jobs it owns; embedded mode: partition 0). */
  ownedPartitions(): number[] {
    const of = this.opts.coordination.partitionOf;
    const out = new Set<number>();
    for (const job of this.owned.keys()) out.add(of ? of.call(this.opts.coordination, job) : 0);
    return [...out].sort((a, b) => a - b);
  }

  /** Jobs this replica owns right now. */
  ownedJobs(): string[] {
    return [...this.owned.keys()];
  }

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    const events: CoordinationEvents = {
      gained: (m) => this.gained(m),
      lost: (ids) => this.lost(ids),
      triggerRequested: (req) => this.onTriggerRequest(req),
      dispatched: (d) => this.executor.execute(d),
      kill: (id) => { this.executor.kill(id); },
      runRecorded: (rec) => this.book.add(rec),
    };
    await this.opts.coordination.start(events);
    this.armRatios();
  }

  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    this.cancelTimer?.();
    this.ratioTimer?.();
    const chains = [...this.owned.values()].map((o) => o.chain);
    this.owned.clear();
    await Promise.all(chains);
    await this.executor.stop(this.opts.stopGraceMs ?? 10_000);
    await this.opts.coordination.stop();
  }

  /** A manual run with params merged over the job's (goes to the job's owner). */
  async trigger(job: string, params?: Readonly<Record<string, unknown>>): Promise<string> {
    if (!this.jobs.has(job)) throw new KisError('KIS_ERR_USAGE', `no job '${job}' (known: ${[...this.jobs.keys()].slice(0, 10).join(', ')})`);
    const id = randomUUID();
    await this.opts.coordination.requestTrigger({ id, job, kind: 'manual', params: params ?? null, parent_run: null, at: this.clock.now() });
    return id;
  }

  /** Kills a run wherever it runs (or waits in a serial queue). */
  async kill(runId: string): Promise<void> {
    await this.opts.coordination.requestKill(runId);
  }

  runsOf(job: string, limit?: number): RunRecord[] {
    return this.book.runsOf(job, limit);
  }

  listJobs(scene?: string): ReturnType<RunBook['listJobs']> {
    return this.book.listJobs([...this.jobs.values()], this.clock.now(), scene);
  }

  private gained(m: ReadonlyMap<string, number | undefined>): void {
    const now = this.clock.now();
    for (const [id, lastFired] of m) {
      const job = this.jobs.get(id);
      if (!job || !job.enabled || job.trigger.kind === 'none') {
        if (job) this.owned.set(id, { next: undefined, lastFired, chain: Promise.resolve(), rr: 0 });
        continue;
      }
      // A job never fired starts with the next tick; one with history resumes after its last fired tick.
      const next = nextTick(job, lastFired ?? now);
      this.owned.set(id, { next, lastFired, chain: Promise.resolve(), rr: 0 });
      if (next !== undefined) this.heap.push({ at: next, job: id });
    }
    heapify(this.heap);
    this.arm();
    this.reapOrphans([...m.keys()]);
  }

  /**
   * Runs left `running` by an executor that is no longer a member (it died mid-run) are recorded failed by
   * the job's new owner, as XXL-JOB's monitor does for lost runs. Best effort: from the runs this replica has
   * read so far.
   */
  private reapOrphans(jobs: readonly string[]): void {
    const live = new Set(this.opts.coordination.executors().map((e) => e.id));
    const now = this.clock.now();
    for (const id of jobs) {
      for (const r of this.book.runsOf(id)) {
        if (r.status !== 'running' || live.has(r.executor)) continue;
        const rec: RunRecord = { ...r, status: 'failed', ended_at: now, error: `executor ${r.executor} left the group while the run was in progress (it died or lost its session)` };
        this.book.add(rec);
        void this.opts.coordination.publishRun(rec).catch((err: unknown) => this.opts.logger.warn({ job: id, run: r.run_id, err: errorMessage(err) }, 'job: cannot record an orphaned run'));
      }
    }
  }

  private lost(ids: readonly string[]): void {
    for (const id of ids) this.owned.delete(id);
  }

  private arm(): void {
    const top = this.heap[0];
    if (!this.started || !top) return;
    if (top.at >= this.timerAt && this.cancelTimer) return;
    this.cancelTimer?.();
    this.timerAt = top.at;
    this.cancelTimer = this.clock.setTimer(top.at - this.clock.now(), () => {
      this.cancelTimer = undefined;
      this.timerAt = Infinity;
      this.due();
    });
  }

  private due(): void {
    const now = this.clock.now();
    // A burst (10,000 jobs on the same second) is fired in slices, so the first runs start while later ones are still being logged.
    let budget = DUE_SLICE;
    while (this.heap.length > 0 && this.heap[0]!.at <= now) {
      if (budget-- === 0) {
        setImmediate(() => this.due());
        return;
      }
      const { at, job: id } = heapPop(this.heap);
      const st = this.owned.get(id);
      const job = this.jobs.get(id);
      if (!st || !job || st.next !== at) continue; // lost, or a stale entry
      const ticks: number[] = [];
      let t: number | undefined = at;
      while (t !== undefined && t <= now && ticks.length < MAX_DUE_TICKS) {
        ticks.push(t);
        t = nextTick(job, t);
      }
      st.next = t;
      if (t !== undefined) heapPush(this.heap, { at: t, job: id });
      st.chain = st.chain.then(() => this.fireTicks(job, st, ticks, now)).catch((err: unknown) => {
        this.opts.logger.error({ job: id, err: errorMessage(err) }, 'job: firing failed');
      });
    }
    this.arm();
  }

  /** On-time ticks fire as cron; late ones go through the misfire policy. */
  private async fireTicks(job: JobConfig, st: Owned, ticks: readonly number[], now: number): Promise<void> {
    const missed = ticks.filter((t) => now - t > job.misfire.thresholdMs);
    const onTime = ticks.filter((t) => now - t <= job.misfire.thresholdMs);
    let fire: Array<{ at: number; kind: TriggerKind }> = [];
    if (missed.length > 0) {
      const p = job.misfire.policy;
      if (p === 'fire_once') fire.push({ at: missed[missed.length - 1]!, kind: 'misfire' });
      else if (p === 'catch_up') fire = missed.filter((t) => now - t <= job.misfire.windowMs).map((at) => ({ at, kind: 'misfire' as const }));
      const skipped = missed.length - fire.length;
      if (skipped > 0) this.opts.logger.warn({ job: job.id, skipped, policy: p }, 'job: missed ticks skipped by the misfire policy');
      // With nothing fired after them, the skipped ticks are logged so that a later owner does not redo them.
      if (fire.length === 0 && onTime.length === 0) await this.skip(job, missed[missed.length - 1]!);
    }
    for (const at of onTime) fire.push({ at, kind: 'cron' });
    for (const f of fire) {
      const ok = await this.fire(job, st, { job: job.id, trigger: f.kind, scheduled_at: f.at, params: job.params, parent_run: null });
      if (!ok) return;
    }
  }

  /**
   * The fence: claim the job (owned, lease fresh), append the trigger, and let the run start only when the
   * append is acknowledged and the claim still holds. The running record is written meanwhile, so that the
   * trigger and the record travel together. Resolves false when this replica must not fire the job.
   */
  private async fire(job: JobConfig, st: Owned, t: Pick<Dispatch, 'job' | 'trigger' | 'scheduled_at' | 'params' | 'parent_run'>): Promise<boolean> {
    const coord = this.opts.coordination;
    const claim = this.started ? coord.claim(job.id) : undefined;
    if (claim === undefined) return false;
    const runId = newRunId(job.id, t.scheduled_at);
    const appended = coord.appendTrigger({ job: job.id, scheduled_at: t.scheduled_at, kind: t.trigger, run_id: runId, fired_at: this.clock.now(), executor: coord.executor.id });
    const gate = appended.then(() => {
      const ok = coord.confirm(job.id, claim);
      if (!ok) {
        this.opts.logger.warn({ job: job.id, scheduled_at: t.scheduled_at }, 'job: lost the job while logging its trigger; not running it (the new owner decides)');
        if (t.trigger === 'cron' || t.trigger === 'misfire') coord.notRun(job.id, t.scheduled_at);
      }
      return ok;
    }, (err: unknown) => {
      this.opts.logger.error({ job: job.id, scheduled_at: t.scheduled_at, err: errorMessage(err) }, 'job: cannot log the trigger; not running it');
      return false;
    });
    if (t.trigger === 'cron' || t.trigger === 'misfire') st.lastFired = Math.max(st.lastFired ?? t.scheduled_at, t.scheduled_at);
    this.route(job, st, { run_id: runId, shard: 0, shards: 1, attempt: 0, ...t }, gate);
    // The next trigger of this job is appended only after this one: the log keeps the job's order.
    return gate;
  }

  /** Logs missed ticks that were skipped, so that a later owner does not treat them as missed again. */
  private async skip(job: JobConfig, at: number): Promise<void> {
    const coord = this.opts.coordination;
    if (!this.started || coord.claim(job.id) === undefined) return;
    await coord.appendTrigger({ job: job.id, scheduled_at: at, kind: 'skipped', run_id: null, fired_at: this.clock.now(), executor: coord.executor.id });
  }

  private route(job: JobConfig, st: Owned, d: Dispatch, gate: Promise<boolean>): void {
    const coord = this.opts.coordination;
    const self = coord.executor.id;
    const members = coord.executors();
    const send = (to: string, x: Dispatch): void => {
      if (to === self) {
        this.executor.execute(x, gate);
        return;
      }
      void gate.then((open) => (open ? coord.dispatch(to, x) : undefined))
        .catch((err: unknown) => this.opts.logger.error({ job: job.id, run: x.run_id, to, err: errorMessage(err) }, 'job: cannot dispatch a run'));
    };
    if (job.route === 'first' || members.length <= 1) {
      send(self, d);
    } else if (job.route === 'round_robin') {
      send(members[st.rr++ % members.length]!.id, d);
    } else {
      members.forEach((m, i) => send(m.id, { ...d, run_id: `${d.run_id}#${i}`, shard: i, shards: members.length }));
    }
  }

  private async onTriggerRequest(req: TriggerRequest): Promise<void> {
    const job = this.jobs.get(req.job);
    if (!job) {
      this.opts.logger.warn({ job: req.job }, 'job: trigger for an unknown job ignored');
      return;
    }
    const st = this.owned.get(job.id) ?? { next: undefined, lastFired: undefined, chain: Promise.resolve(), rr: 0 };
    const work = st.chain.then(() => this.fire(job, st, { job: job.id, trigger: req.kind, scheduled_at: req.at, params: { ...job.params, ...(req.params ?? {}) }, parent_run: req.parent_run }));
    st.chain = work.then(() => undefined, () => undefined);
    await work;
  }

  /** Daily success ratios into the gauges, once a minute. */
  private armRatios(): void {
    if (!this.metrics || !this.started) return;
    const day = dayOf(this.clock.now());
    const perJob = new Map(this.book.dailyByJob(day).map((r) => [r.key, { scene: this.jobs.get(r.key)?.scene ?? 'default', ratio: r.ratio }]));
    const perScene = new Map(this.book.dailyByScene(day).map((r) => [r.key, r.ratio]));
    this.metrics.ratios(perJob, perScene);
    this.ratioTimer = this.clock.setTimer(60_000, () => this.armRatios());
  }
}

function less(a: { at: number }, b: { at: number }): boolean {
  return a.at < b.at;
}

function heapPush<T extends { at: number }>(h: T[], x: T): void {
  h.push(x);
  let i = h.length - 1;
  while (i > 0) {
    const p = (i - 1) >> 1;
    if (!less(h[i]!, h[p]!)) break;
    [h[i], h[p]] = [h[p]!, h[i]!];
    i = p;
  }
}

function siftDown<T extends { at: number }>(h: T[], i: number): void {
  for (;;) {
    const l = 2 * i + 1;
    const r = l + 1;
    let m = i;
    if (l < h.length && less(h[l]!, h[m]!)) m = l;
    if (r < h.length && less(h[r]!, h[m]!)) m = r;
    if (m === i) return;
    [h[i], h[m]] = [h[m]!, h[i]!];
    i = m;
  }
}

function heapPop<T extends { at: number }>(h: T[]): T {
  const top = h[0]!;
  const last = h.pop()!;
  if (h.length > 0) {
    h[0] = last;
    siftDown(h, 0);
  }
  return top;
}

function heapify<T extends { at: number }>(h: T[]): void {
  for (let i = (h.length >> 1) - 1; i >= 0; i--) siftDown(h, i);
}
