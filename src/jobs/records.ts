// The records jobs leave in Kafka (and in memory in embedded mode): triggers, runs and commands. Field
// names are snake_case because they are a public format, read by the CLI, kcat and the console.
import type { TriggerKind } from '../core/job-handlers.js';

export type RunStatus = 'running' | 'succeeded' | 'failed' | 'timed_out' | 'killed' | 'discarded';

export const FINAL_STATUSES: readonly RunStatus[] = ['succeeded', 'failed', 'timed_out', 'killed', 'discarded'];

/** One run of a job (keyed by run_id in `<app_id>.job-runs`; written when it starts and when it ends). */
export interface RunRecord {
  readonly run_id: string;
  readonly job: string;
  readonly scene: string;
  readonly trigger: TriggerKind;
  readonly scheduled_at: number;
  readonly started_at: number | null;
  readonly ended_at: number | null;
  readonly executor: string;
  readonly shard: number;
  readonly shards: number;
  readonly attempt: number;
  readonly status: RunStatus;
  readonly rows_in: number;
  readonly rows_out: number;
  readonly error: string | null;
  readonly log: readonly string[];
  /** Log lines past run_log.log_lines, counted, not kept. */
  readonly log_dropped: number;
  readonly parent_run: string | null;
}

/**
 * A fired (or deliberately skipped) tick, keyed by job in `<app_id>.job-triggers`, appended before the run
 * starts. The newest entry per job is the job's high-water mark: a new owner fires only later ticks.
 */
export interface TriggerEntry {
  readonly job: string;
  readonly scheduled_at: number;
  readonly kind: TriggerKind | 'skipped';
  readonly run_id: string | null;
  readonly fired_at: number;
  readonly executor: string;
}

/** What an owner asks an executor to run (round_robin, sharding_broadcast), or any replica to trigger or kill. */
export interface Dispatch {
  readonly run_id: string;
  readonly job: string;
  readonly trigger: TriggerKind;
  readonly scheduled_at: number;
  readonly shard: number;
  readonly shards: number;
  readonly attempt: number;
  readonly params: Readonly<Record<string, unknown>>;
  readonly parent_run: string | null;
}

/** A manual or parent trigger, sent to the owner of the job. */
export interface TriggerRequest {
  readonly id: string;
  readonly job: string;
  readonly kind: 'manual' | 'parent';
  readonly params: Readonly<Record<string, unknown>> | null;
  readonly parent_run: string | null;
  readonly at: number;
}

export type JobCommand =
  | ({ readonly type: 'trigger' } & TriggerRequest)
  | { readonly type: 'kill'; readonly run_id: string; readonly at: number }
  | ({ readonly type: 'dispatch'; readonly to: string } & Dispatch)
  | { readonly type: 'members'; readonly members: readonly ExecutorInfo[]; readonly at: number };

/** A live executor (a member of the jobs group). */
export interface ExecutorInfo {
  readonly id: string;
  readonly host: string;
  readonly pid: number;
  readonly started: number;
}

export function parseJson<T>(text: string | Buffer | null | undefined): T | undefined {
  if (text === null || text === undefined) return undefined;
  try {
    return JSON.parse(text.toString()) as T;
  } catch {
    return undefined;
  }
}
