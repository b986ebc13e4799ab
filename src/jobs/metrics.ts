// Prometheus metrics of jobs, on an injected registry: runs by job, scene and status; the trigger delay
// (scheduled -> started); runs in progress; and the daily success ratio per job and per scene.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { JobConfig } from '../config/jobs/codec.js';
import type { Dispatch, RunRecord } from './records.js';

const DELAY_BUCKETS = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 15000, 60000];

export class JobMetrics {
  private readonly runs: Counter<'job' | 'scene' | 'status'>;
  private readonly delay: Histogram<'scene' | 'trigger'>;
  private readonly inProgress: Gauge<'scene'>;
  private readonly jobRatio: Gauge<'job' | 'scene'>;
  private readonly sceneRatio: Gauge<'scene'>;

  private static readonly byRegistry = new WeakMap<Registry, JobMetrics>();

  /** One set of job metrics per registry: a hot reload's new scheduler counts on in the same series. */
  static for(registry: Registry): JobMetrics {
    let m = JobMetrics.byRegistry.get(registry);
    if (!m) JobMetrics.byRegistry.set(registry, m = new JobMetrics(registry));
    return m;
  }

  constructor(registry: Registry) {
    const registers = [registry];
    this.runs = new Counter({ name: 'kisflow_job_runs_total', help: 'Finished job runs executed by this replica, by job, scene and final status.', labelNames: ['job', 'scene', 'status'], registers });
    this.delay = new Histogram({ name: 'kisflow_job_trigger_delay_ms', help: 'From the scheduled tick to the start of the run, ms (per scene and trigger kind).', labelNames: ['scene', 'trigger'], buckets: DELAY_BUCKETS, registers });
    this.inProgress = new Gauge({ name: 'kisflow_job_runs_in_progress', help: 'Job runs in progress on this replica, per scene.', labelNames: ['scene'], registers });
    this.jobRatio = new Gauge({ name: 'kisflow_job_success_ratio_daily', help: 'Succeeded / finished runs of a job today (UTC), from the whole run log.', labelNames: ['job', 'scene'], registers });
    this.sceneRatio = new Gauge({ name: 'kisflow_job_scene_success_ratio_daily', help: 'Succeeded / finished runs of a scene today (UTC), from the whole run log.', labelNames: ['scene'], registers });
  }

  started(job: JobConfig, d: Dispatch, startedAt: number): void {
    this.inProgress.inc({ scene: job.scene });
    if (d.trigger === 'cron' || d.trigger === 'misfire') this.delay.observe({ scene: job.scene, trigger: d.trigger }, Math.max(0, startedAt - d.scheduled_at));
  }

  ended(job: JobConfig, rec: RunRecord): void {
    this.inProgress.dec({ scene: job.scene });
    this.runs.inc({ job: job.id, scene: job.scene, status: rec.status });
  }

  /** A run that ended without starting (discarded, or killed while it waited). */
  unrun(job: JobConfig, status: RunRecord['status']): void {
    this.runs.inc({ job: job.id, scene: job.scene, status });
  }

  ratios(perJob: ReadonlyMap<string, { scene: string; ratio: number }>, perScene: ReadonlyMap<string, number>): void {
    for (const [job, v] of perJob) this.jobRatio.set({ job, scene: v.scene }, v.ratio);
    for (const [scene, ratio] of perScene) this.sceneRatio.set({ scene }, ratio);
  }
}
