// The executing side of a replica: runs what it is dispatched under the job's block strategy, records
// every run (running, then final), retries failures with backoff and triggers children after a success.
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { errorMessage } from '../kernel/errors.js';
import type { Clock } from './clock.js';
import type { JobConfig } from '../config/jobs/codec.js';
import type { JobCoordination } from './coordination.js';
import type { JobHandlers } from '../core/job-handlers.js';
import type { JobMetrics } from './metrics.js';
import type { Dispatch, RunRecord, RunStatus } from './records.js';
import { startAttempt, type AttemptOutcome, type JobFlowRunner, type RunningAttempt } from './runner.js';

/** A serial job queues at most this many ticks behind a running one; later ones are discarded. */
const SERIAL_QUEUE_LIMIT = 1000;

export function newRunId(job: string, scheduledAt: number): string {
  return `${job}@${scheduledAt.toString(36)}-${randomUUID().slice(0, 8)}`;
}

interface Running {
  readonly d: Dispatch;
  readonly key: string;
  /** Set once the trigger is logged and the attempt started. */
  attempt: RunningAttempt | undefined;
  /** A kill that came before the attempt started. */
  killed: string | undefined;
  readonly startedAt: number;
  done?: Promise<void>;
}

export interface ExecutorDeps {
  readonly jobs: ReadonlyMap<string, JobConfig>;
  readonly coordination: JobCoordination;
  readonly handlers: JobHandlers;
  readonly flows: JobFlowRunner | undefined;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: JobMetrics | undefined;
}

export class JobExecutor {
  private readonly running = new Map<string, Running>();
  private readonly byKey = new Map<string, Set<string>>();
  private readonly queues = new Map<string, Array<{ d: Dispatch; gate: Promise<boolean> }>>();
  private readonly retryTimers = new Set<() => void>();
  private stopped = false;

  constructor(private readonly deps: ExecutorDeps) {}

  get inProgress(): number {
    return this.running.size;
  }

  runningIds(): string[] {
    return [...this.running.keys()];
  }

  /**
   * Runs `d` under its job's block strategy. `gate` resolves true once the trigger is logged and the fence
   * still holds; the running record is written meanwhile (in the same produce request as the trigger, where
   * the coordination batches), and the handler starts only after both.
   */
  execute(d: Dispatch, gate: Promise<boolean> = Promise.resolve(true)): void {
    if (this.stopped) return;
    const job = this.deps.jobs.get(d.job);
    if (!job) {
      this.deps.logger.warn({ job: d.job, run: d.run_id }, 'job: a run was dispatched for a job this replica does not know (config differs between replicas?)');
      void this.publish(this.record(d, 'failed', { error: `job '${d.job}' is not in this replica's config` }));
      return;
    }
    const key = `${d.job}#${d.shard}`;
    const busy = this.byKey.get(key);
    if (busy && busy.size > 0) {
      if (job.block === 'discard_later') {
        void this.publishUnrun(job, this.record(d, 'discarded', { error: `discarded: run ${[...busy][0]} of the same job is in progress (block: discard_later)` }));
        return;
      }
      if (job.block === 'serial') {
        const q = this.queues.get(key) ?? [];
        if (q.length >= SERIAL_QUEUE_LIMIT) {
          void this.publishUnrun(job, this.record(d, 'discarded', { error: `discarded: ${SERIAL_QUEUE_LIMIT} runs already wait behind the running one (block: serial)` }));
          return;
        }
        q.push({ d, gate });
        this.queues.set(key, q);
        return;
      }
      for (const id of busy) this.abortRun(id, `covered by the later run ${d.run_id} (block: cover_earlier)`);
    }
    this.start(job, d, key, gate);
  }

  kill(runId: string): boolean {
    if (this.abortRun(runId, 'killed by request')) return true;
    for (const [key, q] of this.queues) {
      const i = q.findIndex((x) => x.d.run_id === runId);
      if (i >= 0) {
        const [x] = q.splice(i, 1);
        if (q.length === 0) this.queues.delete(key);
        void this.publishUnrun(this.deps.jobs.get(x!.d.job), this.record(x!.d, 'killed', { error: 'killed by request before it started' }));
        return true;
      }
    }
    return false;
  }

  /** Stops taking runs, cancels retries, kills what still runs after `graceMs`. */
  async stop(graceMs: number): Promise<void> {
    this.stopped = true;
    for (const cancel of this.retryTimers) cancel();
    this.retryTimers.clear();
    for (const [key, q] of this.queues) {
      for (const x of q) await this.publishUnrun(this.deps.jobs.get(x.d.job), this.record(x.d, 'discarded', { error: 'discarded: the replica stopped before it started' }));
      this.queues.delete(key);
    }
    const all = [...this.running.values()].flatMap((r) => (r.done ? [r.done] : []));
    if (all.length === 0) return;
    if (graceMs > 0) {
      let timer: (() => void) | undefined;
      await Promise.race([Promise.all(all), new Promise<void>((r) => { timer = this.deps.clock.setTimer(graceMs, r); })]);
      timer?.();
    }
    const left = [...this.running.values()].flatMap((r) => (r.done ? [r.done] : []));
    for (const id of [...this.running.keys()]) this.abortRun(id, 'killed: the replica stopped');
    await Promise.all(left);
  }

  private abortRun(runId: string, why: string): boolean {
    const r = this.running.get(runId);
    if (!r) return false;
    if (r.attempt) r.attempt.abort('killed', why);
    else r.killed ??= why;
    return true;
  }

  private start(job: JobConfig, d: Dispatch, key: string, gate: Promise<boolean>): void {
    const { clock, metrics } = this.deps;
    const run: Running & { done?: Promise<void> } = { d, key, attempt: undefined, killed: undefined, startedAt: clock.now() };
    this.running.set(d.run_id, run as Running);
    let set = this.byKey.get(key);
    if (!set) this.byKey.set(key, (set = new Set()));
    set.add(d.run_id);
    const published = this.publish(this.record(d, 'running', { startedAt: run.startedAt }));
    run.done = (async () => {
      const open = await gate.catch(() => false);
      await published;
      let rec: RunRecord;
      let outcome: AttemptOutcome | undefined;
      if (!open) {
        rec = this.record(d, 'discarded', { startedAt: run.startedAt, error: 'discarded: the trigger could not be logged, or this replica lost the job meanwhile (the new owner decides)' });
      } else if (run.killed !== undefined) {
        rec = this.record(d, 'killed', { startedAt: run.startedAt, error: run.killed });
      } else {
        const startedAt = clock.now();
        metrics?.started(job, d, startedAt);
        run.attempt = startAttempt(job, d, this.deps);
        outcome = await run.attempt.done;
        rec = this.record(d, outcome.status, { startedAt, outcome });
        metrics?.ended(job, rec);
      }
      if (!outcome) metrics?.unrun(job, rec.status);
      this.running.delete(d.run_id);
      set!.delete(d.run_id);
      // Hand the slot to the next queued run before anything awaits, so a new tick cannot jump the queue.
      const next = this.stopped ? undefined : this.queues.get(key)?.shift();
      if (this.queues.get(key)?.length === 0) this.queues.delete(key);
      if (next) this.start(job, next.d, key, next.gate);
      else if (set!.size === 0) this.byKey.delete(key);
      await this.publish(rec);
      if (outcome) this.afterRun(job, d, outcome);
    })();
  }

  private afterRun(job: JobConfig, d: Dispatch, outcome: AttemptOutcome): void {
    if (this.stopped) return;
    if (outcome.status === 'succeeded') {
      // A broadcast triggers its children once, from shard 0.
      if (d.shard !== 0) return;
      for (const child of job.children) {
        const at = this.deps.clock.now();
        void this.deps.coordination.requestTrigger({ id: randomUUID(), job: child, kind: 'parent', params: null, parent_run: d.run_id, at })
          .catch((err: unknown) => this.deps.logger.error({ job: job.id, child, err: errorMessage(err) }, 'job: cannot trigger a child'));
      }
      return;
    }
    if ((outcome.status === 'failed' || outcome.status === 'timed_out') && d.attempt < job.retries) {
      const wait = Math.min(job.maxBackoffMs, job.backoffMs * 2 ** d.attempt);
      const cancel = this.deps.clock.setTimer(wait, () => {
        this.retryTimers.delete(cancel);
        this.execute({ ...d, run_id: newRunId(d.job, d.scheduled_at), trigger: 'retry', attempt: d.attempt + 1, parent_run: d.run_id });
      });
      this.retryTimers.add(cancel);
    }
  }

  private record(d: Dispatch, status: RunStatus, o: { startedAt?: number; outcome?: AttemptOutcome; error?: string }): RunRecord {
    const final = status !== 'running';
    const job = this.deps.jobs.get(d.job);
    return {
      run_id: d.run_id,
      job: d.job,
      scene: job?.scene ?? 'default',
      trigger: d.trigger,
      scheduled_at: d.scheduled_at,
      started_at: o.startedAt ?? null,
      ended_at: final ? this.deps.clock.now() : null,
      executor: this.deps.coordination.executor.id,
      shard: d.shard,
      shards: d.shards,
      attempt: d.attempt,
      status,
      rows_in: o.outcome?.rowsIn ?? 0,
      rows_out: o.outcome?.rowsOut ?? 0,
      error: o.outcome?.error ?? o.error ?? null,
      log: o.outcome?.log ?? [],
      log_dropped: o.outcome?.logDropped ?? 0,
      parent_run: d.parent_run,
    };
  }

  /** A final record of a run that never started (discarded, killed in a queue): counted, then written. */
  private publishUnrun(job: JobConfig | undefined, rec: RunRecord): Promise<void> {
    if (job) this.deps.metrics?.unrun(job, rec.status);
    return this.publish(rec);
  }

  private async publish(rec: RunRecord): Promise<void> {
    try {
      await this.deps.coordination.publishRun(rec);
    } catch (err) {
      this.deps.logger.error({ job: rec.job, run: rec.run_id, status: rec.status, err: errorMessage(err) }, 'job: cannot write the run record');
    }
  }
}
