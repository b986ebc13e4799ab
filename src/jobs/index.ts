// KisJobs: scheduled jobs coordinated through Kafka (or in-process). What the service wires in:
//   const { jobs, errors, docs } = normaliseJobs(yamlDocs);            // + checkJobs(jobs, flowIds, handlers.names(), docs)
//   const scheduler = createJobScheduler({ jobs, handlers, flows, logger, registry, kafka });
//   await scheduler.start(); ... await scheduler.stop();
import type { Kafka } from 'kafkajs';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Clock } from './clock.js';
import type { JobConfig } from '../config/jobs/codec.js';
import { EmbeddedCoordination, type JobCoordination } from './coordination.js';
import type { JobHandlers } from '../core/job-handlers.js';
import { KafkaCoordination } from './kafka-coordination.js';
import type { JobFlowRunner } from './runner.js';
import { JobScheduler } from './scheduler.js';

export { checkJobs } from '../config/jobs/checks.js';
export { JobCodec, nextTick, normaliseJobs, type JobConfig, type NormalisedJobs } from '../config/jobs/codec.js';
export { CronError, parseCron, type CronSchedule } from '../config/jobs/cron.js';
export { JobHandlers, type JobContext, type JobHandler, type JobLogger, type JobResult, type TriggerKind } from '../core/job-handlers.js';
export { jobsCommand, JOBS_USAGE, type JobsCliContext } from './cli.js';
export type { JobFlowRunner } from './runner.js';
export type { ExecutorInfo, RunRecord, RunStatus, TriggerEntry } from './records.js';
export { RunBook, type JobListing, type DailyRatio } from './reports.js';
export { JobScheduler } from './scheduler.js';
export { jobTopics, type JobTopics } from './topics.js';

export interface CreateJobSchedulerOptions {
  readonly jobs: readonly JobConfig[];
  readonly handlers: JobHandlers;
  readonly logger: Logger;
  /** Required when a job runs a flow: the runtime runs the flow on the one trigger row. */
  readonly flows?: JobFlowRunner;
  readonly registry?: Registry;
  /** Kafka mode; omitted: embedded mode (this process owns every job, nothing survives a restart). */
  readonly kafka?: {
    readonly client: Kafka;
    readonly appId: string;
    readonly partitions?: number;
    readonly replicationFactor?: number;
    readonly sessionTimeoutMs?: number;
    readonly runLogRetentionMs?: number;
  };
  readonly clock?: Clock;
  readonly stopGraceMs?: number;
}

export function createJobScheduler(o: CreateJobSchedulerOptions): JobScheduler {
  const ids = o.jobs.map((j) => j.id);
  const k = o.kafka;
  const coordination: JobCoordination = k
    ? new KafkaCoordination({
      kafka: k.client, appId: k.appId, jobIds: ids, logger: o.logger,
      ...(k.partitions !== undefined ? { partitions: k.partitions } : {}),
      ...(k.replicationFactor !== undefined ? { replicationFactor: k.replicationFactor } : {}),
      ...(k.sessionTimeoutMs !== undefined ? { sessionTimeoutMs: k.sessionTimeoutMs } : {}),
      ...(k.runLogRetentionMs !== undefined ? { runLogRetentionMs: k.runLogRetentionMs } : {}),
    })
    : new EmbeddedCoordination(ids);
  o.logger.info({ mode: coordination.mode, jobs: ids.length }, `jobs: ${coordination.mode} mode`);
  return new JobScheduler({
    jobs: o.jobs, handlers: o.handlers, coordination, logger: o.logger,
    ...(o.flows ? { flows: o.flows } : {}),
    ...(o.registry ? { registry: o.registry } : {}),
    ...(o.clock ? { clock: o.clock } : {}),
    ...(o.stopGraceMs !== undefined ? { stopGraceMs: o.stopGraceMs } : {}),
  });
}
