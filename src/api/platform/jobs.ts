// Jobs for the console, through the running service's JobScheduler (its RunBook holds the run records it has
// read: the run-log topic in Kafka mode, memory in embedded mode) and, for executors, the jobs group's
// members joined with the replicas' status records (partitions, heartbeat, runs in progress).
import type { Executor, JobDaily, JobRow, JobRun, JobRuns } from '../contract.js';
import { ApiRefusal } from '../backend.js';
import type { KisConfig } from '../../config/model.js';
import type { JobScheduler, RunRecord } from '../../jobs/index.js';
import { dayOf } from '../../jobs/reports.js';
import type { StatusRecord } from './status.js';

const DAY_MS = 86_400_000;

export function schedulerOf(jobs: JobScheduler | undefined): JobScheduler {
  if (!jobs) throw new ApiRefusal(404, 'API_NOT_FOUND', 'this config has no jobs (kistype: job)');
  return jobs;
}

export function jobRows(config: KisConfig, jobs: JobScheduler | undefined, scene: string | undefined): JobRow[] {
  if (!jobs) return [];
  return jobs.listJobs(scene).map((l) => {
    const runs = config.jobs.get(l.job)?.runs;
    return { ...l, runs_what: runs ? (runs.kind === 'flow' ? `flow:${runs.flow}` : `handler:${runs.handler}`) : '' };
  });
}

const runOf = (r: RunRecord): JobRun => ({ ...r, log: [...r.log] });

export function jobRuns(config: KisConfig, jobs: JobScheduler | undefined, job: string, limit: number): JobRuns {
  if (!config.jobs.has(job)) throw new ApiRefusal(404, 'API_NOT_FOUND', `no job '${job}'`, 'job');
  if (!Number.isInteger(limit) || limit < 1) throw new ApiRefusal(400, 'API_BAD_REQUEST', `limit must be a positive whole number (got ${limit})`, 'limit');
  return { job, runs: jobs ? jobs.runsOf(job, Math.min(limit, 1000)).map(runOf) : [] };
}

export function jobDaily(jobs: JobScheduler | undefined, days: number, now = Date.now()): JobDaily {
  if (!Number.isInteger(days) || days < 1 || days > 31) throw new ApiRefusal(400, 'API_BAD_REQUEST', `days must be 1..31 (got ${days})`, 'days');
  const list: string[] = [];
  for (let i = days - 1; i >= 0; i--) list.push(dayOf(now - i * DAY_MS));
  return {
    days: list,
    by_scene: jobs ? list.flatMap((d) => jobs.book.dailyByScene(d)) : [],
    by_job: jobs ? list.flatMap((d) => jobs.book.dailyByJob(d)) : [],
  };
}

/**
 * The executors: the group's members (this replica alone in embedded mode), with what their status records say,
 * and the live replicas whose records name an executor this replica has not seen in the group yet (the member
 * list reaches a replica only with a rebalance).
 */
export function executorsOf(jobs: JobScheduler | undefined, records: readonly StatusRecord[]): Executor[] {
  if (!jobs) return [];
  const members = jobs.executors();
  const known = new Set(members.map((e) => e.id));
  const fromRecords: Executor[] = records.filter((r) => r.executor && !known.has(r.executor)).map((r) => ({
    id: r.executor!, host: r.host, pid: r.pid, started: r.started_at, partitions: [...(r.job_partitions ?? [])], heartbeat: r.at, jobs_running: [...r.jobs_running],
  }));
  return [...members.map((e) => {
    const rec = records.find((r) => r.executor === e.id);
    return {
      id: e.id, host: e.host, pid: e.pid, started: e.started,
      partitions: e.id === jobs.executorId ? jobs.ownedPartitions() : [...(rec?.job_partitions ?? [])],
      heartbeat: rec?.at ?? null,
      jobs_running: e.id === jobs.executorId ? jobs.runningIds() : [...(rec?.jobs_running ?? [])],
    };
  }), ...fromRecords].sort((a, b) => (a.id < b.id ? -1 : 1));
}
