// Reports over run records (the run-log topic in Kafka mode, memory in embedded mode): the latest state of
// each run, the last runs of each job, and daily success ratios per job and per scene. Used by the service
// (metrics) and by `kisflow jobs` (which reads the topic once).
import { nextTick, type JobConfig } from '../config/jobs/codec.js';
import type { RunRecord, RunStatus } from './records.js';

const DAY_MS = 86_400_000;

export interface JobListing {
  readonly job: string;
  readonly name: string;
  readonly scene: string;
  readonly trigger: string;
  readonly enabled: boolean;
  readonly next_fire: number | null;
  readonly last_status: RunStatus | null;
  readonly last_run_at: number | null;
  /** succeeded / finished over the runs kept for the job (null: nothing finished yet). */
  readonly success_ratio: number | null;
  readonly runs: number;
}

export interface DailyRatio {
  readonly day: string;
  readonly key: string;
  readonly succeeded: number;
  readonly finished: number;
  readonly ratio: number;
}

/** Whether a status counts in success ratios: discarded runs never ran, running ones have not finished. */
function finished(s: RunStatus): boolean {
  return s === 'succeeded' || s === 'failed' || s === 'timed_out' || s === 'killed';
}

export class RunBook {
  private readonly runs = new Map<string, RunRecord>();
  private readonly perJob = new Map<string, string[]>();
  private readonly daily = new Map<string, { scene: string; job: string; day: string; succeeded: number; finished: number }>();

  /** keepRuns per job (runs past it are forgotten, oldest first); days of daily ratios kept. */
  constructor(private readonly keepRuns: (job: string) => number = () => 100, private readonly keepDays = 8) {}

  add(rec: RunRecord): void {
    const prev = this.runs.get(rec.run_id);
    // A record never goes back from final to running (a late duplicate of the first write).
    if (prev && prev.status !== 'running' && rec.status === 'running') return;
    this.runs.set(rec.run_id, rec);
    if (!prev) {
      const list = this.perJob.get(rec.job) ?? [];
      list.push(rec.run_id);
      this.perJob.set(rec.job, list);
      const keep = this.keepRuns(rec.job);
      while (list.length > keep) this.runs.delete(list.shift()!);
    }
    if (finished(rec.status) && (!prev || !finished(prev.status))) {
      const day = dayOf(rec.ended_at ?? rec.scheduled_at);
      const k = `${day}\u0000${rec.job}`;
      const slot = this.daily.get(k) ?? { scene: rec.scene, job: rec.job, day, succeeded: 0, finished: 0 };
      slot.finished++;
      if (rec.status === 'succeeded') slot.succeeded++;
      this.daily.set(k, slot);
      if (this.daily.size > 50_000) this.prune(rec.ended_at ?? rec.scheduled_at);
    }
  }

  private prune(now: number): void {
    const oldest = new Date(now - this.keepDays * DAY_MS).toISOString().slice(0, 10);
    for (const [k, v] of this.daily) if (v.day < oldest) this.daily.delete(k);
  }

  /** The runs of a job kept, newest first. */
  runsOf(job: string, limit = 50): RunRecord[] {
    const ids = this.perJob.get(job) ?? [];
    const out: RunRecord[] = [];
    for (let i = ids.length - 1; i >= 0 && out.length < limit; i--) {
      const r = this.runs.get(ids[i]!);
      if (r) out.push(r);
    }
    return out.sort((a, b) => b.scheduled_at - a.scheduled_at || (b.started_at ?? 0) - (a.started_at ?? 0));
  }

  run(runId: string): RunRecord | undefined {
    return this.runs.get(runId);
  }

  all(): IterableIterator<RunRecord> {
    return this.runs.values();
  }

  listJobs(jobs: readonly JobConfig[], now: number, scene?: string): JobListing[] {
    return jobs.filter((j) => scene === undefined || j.scene === scene).map((j) => {
      const runs = this.runsOf(j.id, j.keepRuns);
      const done = runs.filter((r) => finished(r.status));
      const last = runs[0];
      const tr = j.trigger;
      return {
        job: j.id,
        name: j.name,
        scene: j.scene,
        trigger: tr.kind === 'cron' ? `cron '${tr.cron}' ${tr.tz}` : tr.kind === 'every' ? `every ${tr.everyMs} ms` : 'none',
        enabled: j.enabled,
        next_fire: j.enabled ? nextTick(j, now) ?? null : null,
        last_status: last?.status ?? null,
        last_run_at: last ? last.started_at ?? last.scheduled_at : null,
        success_ratio: done.length === 0 ? null : done.filter((r) => r.status === 'succeeded').length / done.length,
        runs: runs.length,
      };
    });
  }

  /** Success ratio per job for a day (YYYY-MM-DD, UTC). */
  dailyByJob(day: string): DailyRatio[] {
    const out: DailyRatio[] = [];
    for (const v of this.daily.values()) {
      if (v.day === day) out.push({ day, key: v.job, succeeded: v.succeeded, finished: v.finished, ratio: v.succeeded / v.finished });
    }
    return out.sort((a, b) => (a.key < b.key ? -1 : 1));
  }

  /** Success ratio per scene for a day (YYYY-MM-DD, UTC). */
  dailyByScene(day: string): DailyRatio[] {
    const sums = new Map<string, { s: number; f: number }>();
    for (const v of this.daily.values()) {
      if (v.day !== day) continue;
      const x = sums.get(v.scene) ?? { s: 0, f: 0 };
      x.s += v.succeeded;
      x.f += v.finished;
      sums.set(v.scene, x);
    }
    return [...sums].map(([scene, x]) => ({ day, key: scene, succeeded: x.s, finished: x.f, ratio: x.s / x.f })).sort((a, b) => (a.key < b.key ? -1 : 1));
  }
}

let lastDay = { n: NaN, text: '' };

/** YYYY-MM-DD (UTC) of an instant; cached, since a burst of records shares one day. */
export function dayOf(ms: number): string {
  const n = Math.floor(ms / DAY_MS);
  if (n !== lastDay.n) lastDay = { n, text: new Date(n * DAY_MS).toISOString().slice(0, 10) };
  return lastDay.text;
}
