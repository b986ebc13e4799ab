// Shared helpers of the jobs tests: jobs from inline YAML, a quiet logger, an embedded scheduler on a fake clock.
import pino from 'pino';
import { parseYamlFile } from '../../src/config/yaml-docs.js';
import { FakeClock } from '../../src/jobs/clock.js';
import { normaliseJobs, type JobConfig } from '../../src/config/jobs/codec.js';
import { EmbeddedCoordination } from '../../src/jobs/coordination.js';
import { JobHandlers, type JobHandler } from '../../src/core/job-handlers.js';
import { JobScheduler } from '../../src/jobs/scheduler.js';
import type { JobFlowRunner } from '../../src/jobs/runner.js';
import type { RunRecord } from '../../src/jobs/records.js';
import { Registry } from 'prom-client';

export const quiet = pino({ level: 'silent' });

export function jobsFrom(yaml: string, file = 'jobs.yml'): { jobs: readonly JobConfig[]; errors: readonly Error[] } {
  const { docs, errors } = parseYamlFile(file, yaml, {});
  const n = normaliseJobs(docs);
  return { jobs: n.jobs, errors: [...errors, ...n.errors] };
}

export interface Harness {
  readonly clock: FakeClock;
  readonly scheduler: JobScheduler;
  readonly coordination: EmbeddedCoordination;
  readonly registry: Registry;
  /** Every run record published, in order (running and final). */
  readonly records: RunRecord[];
  /** The final record of each run, in the order they ended. */
  finals(job?: string): RunRecord[];
}

/** 2030-01-01T00:00:00Z: whole minutes, so cron and rate ticks are easy to compute by hand. */
export const T0 = Date.UTC(2030, 0, 1, 0, 0, 0);

export async function embedded(yaml: string, handlers: Record<string, JobHandler>, o: { history?: Map<string, number>; flows?: JobFlowRunner; start?: number } = {}): Promise<Harness> {
  const { jobs, errors } = jobsFrom(yaml);
  if (errors.length > 0) throw new Error(errors.map((e) => e.message).join('\n'));
  const registry = new Registry();
  const h = new JobHandlers();
  for (const [name, fn] of Object.entries(handlers)) {
    const err = h.register(name, fn);
    if (err) throw err;
  }
  const clock = new FakeClock(o.start ?? T0);
  const coordination = new EmbeddedCoordination(jobs.map((j) => j.id), o.history);
  const records: RunRecord[] = [];
  const publish = coordination.publishRun.bind(coordination);
  coordination.publishRun = async (rec) => {
    records.push(rec);
    await publish(rec);
  };
  const scheduler = new JobScheduler({ jobs, handlers: h, coordination, logger: quiet, clock, registry, ...(o.flows ? { flows: o.flows } : {}), stopGraceMs: 0 });
  await scheduler.start();
  return {
    clock,
    scheduler,
    coordination,
    registry,
    records,
    finals: (job) => records.filter((r) => r.status !== 'running' && (job === undefined || r.job === job)),
  };
}

/** Waits `ms` on the fake clock (inside a handler). */
export function sleep(clock: FakeClock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const cancel = clock.setTimer(ms, resolve);
    signal?.addEventListener('abort', () => { cancel(); reject(signal.reason as Error); }, { once: true });
  });
}
