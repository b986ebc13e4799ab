// One attempt of a job: calls its handler, or its flow through the runtime, with a context (params, shard,
// a capped logger, an abort signal), and turns the result into a final status. Timeout and kill abort the
// signal and settle the run at once; a handler that ignores its signal keeps running in the background,
// but its result no longer counts.
import type { Logger } from 'pino';
import { errorMessage } from '../kernel/errors.js';
import type { Clock } from './clock.js';
import type { JobConfig } from '../config/jobs/codec.js';
import type { JobContext, JobHandlers, JobLogger, JobResult } from '../core/job-handlers.js';
import type { Dispatch, RunStatus } from './records.js';

/** What the runtime offers jobs that run a flow; the service implements it (the test driver can too). */
export interface JobFlowRunner {
  runFlow(flowId: string, rows: readonly Record<string, unknown>[], signal: AbortSignal): Promise<{ out: number; rejected: number; deadLettered: number }>;
}

export interface AttemptOutcome {
  readonly status: Exclude<RunStatus, 'running' | 'discarded'>;
  readonly error: string | null;
  readonly rowsIn: number;
  readonly rowsOut: number;
  readonly log: readonly string[];
  readonly logDropped: number;
}

export interface RunningAttempt {
  /** Ends the run as killed (or timed_out); idempotent. */
  abort(reason: 'killed' | 'timed_out', why?: string): void;
  readonly done: Promise<AttemptOutcome>;
}

export interface RunnerDeps {
  readonly handlers: JobHandlers;
  readonly flows: JobFlowRunner | undefined;
  readonly clock: Clock;
  readonly logger: Logger;
}

export function startAttempt(job: JobConfig, d: Dispatch, deps: RunnerDeps): RunningAttempt {
  const lines: string[] = [];
  let dropped = 0;
  const log = (level: 'info' | 'warn' | 'error') => (msg: string): void => {
    const text = String(msg);
    if (lines.length < job.logLines) lines.push(`${new Date(deps.clock.now()).toISOString()} ${level.toUpperCase()} ${text.slice(0, 2000)}`);
    else dropped++;
    deps.logger[level]({ job: job.id, run: d.run_id }, `job: ${text.slice(0, 500)}`);
  };
  const logger: JobLogger = { info: log('info'), warn: log('warn'), error: log('error') };
  const controller = new AbortController();
  let settle: ((o: AttemptOutcome) => void) | undefined;
  const done = new Promise<AttemptOutcome>((resolve) => { settle = resolve; });
  const finish = (status: AttemptOutcome['status'], error: string | null, rowsIn: number, rowsOut: number): void => {
    const s = settle;
    if (!s) return;
    settle = undefined;
    cancelTimeout();
    s({ status, error, rowsIn, rowsOut, log: [...lines], logDropped: dropped });
  };
  const abort = (reason: 'killed' | 'timed_out', why?: string): void => {
    if (!settle) return;
    const text = why ?? (reason === 'timed_out' ? `timed out after ${job.timeoutMs} ms` : 'killed');
    controller.abort(new Error(text));
    finish(reason, text, job.runs.kind === 'flow' ? 1 : 0, 0);
  };
  const cancelTimeout = job.timeoutMs > 0 ? deps.clock.setTimer(job.timeoutMs, () => abort('timed_out')) : () => undefined;

  const ctx: JobContext = {
    job: job.id,
    scene: job.scene,
    runId: d.run_id,
    trigger: d.trigger,
    scheduledAt: d.scheduled_at,
    params: d.params,
    shard: { index: d.shard, total: d.shards },
    logger,
    signal: controller.signal,
  };
  void (async () => {
    try {
      if (job.runs.kind === 'handler') {
        const handler = deps.handlers.get(job.runs.handler);
        if (!handler) throw new Error(`job handler '${job.runs.handler}' is not registered`);
        const res: JobResult = await handler(ctx);
        finish('succeeded', null, res?.rowsIn ?? 0, res?.rowsOut ?? 0);
      } else {
        if (!deps.flows) throw new Error(`job '${job.id}' runs flow '${job.runs.flow}', but no flow runner was given to the scheduler`);
        const row = { job: job.id, scheduled_at: d.scheduled_at, shard: d.shard, shards: d.shards, params: d.params, run_id: d.run_id };
        const res = await deps.flows.runFlow(job.runs.flow, [row], controller.signal);
        const bad = res.rejected + res.deadLettered;
        if (bad > 0) finish('failed', `flow '${job.runs.flow}': ${res.rejected} rejected, ${res.deadLettered} dead-lettered`, 1, res.out);
        else finish('succeeded', null, 1, res.out);
      }
    } catch (err) {
      finish('failed', errorMessage(err).slice(0, 4000), job.runs.kind === 'flow' ? 1 : 0, 0);
    }
  })();
  return { abort, done };
}
