// Job handlers: functions a job runs instead of a flow, registered by function modules into a registry
// object built at start-up and passed to the scheduler (never a module singleton; tests build their own).
import { KisError } from '../kernel/errors.js';

export type TriggerKind = 'cron' | 'manual' | 'retry' | 'parent' | 'misfire';

/** What a handler gets for one run. */
export interface JobContext {
  readonly job: string;
  readonly scene: string;
  readonly runId: string;
  readonly trigger: TriggerKind;
  /** The tick this run is for (epoch ms); the trigger time for manual runs. */
  readonly scheduledAt: number;
  readonly params: Readonly<Record<string, unknown>>;
  readonly shard: { readonly index: number; readonly total: number };
  /** Lines go into the run record (capped by run_log.log_lines) and to the service log. */
  readonly logger: JobLogger;
  /** Aborted on timeout and on kill: stop soon, the run is recorded timed_out or killed either way. */
  readonly signal: AbortSignal;
}

export interface JobLogger {
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

/** A handler may return how many rows it read and wrote, for the run record. */
export type JobResult = { readonly rowsIn?: number; readonly rowsOut?: number } | void;

export type JobHandler = (ctx: JobContext) => Promise<JobResult> | JobResult;

export class JobHandlers {
  private readonly handlers = new Map<string, JobHandler>();

  /** Registers a handler; a duplicate or invalid registration is an error value, not a crash at import. */
  register(name: string, handler: JobHandler): KisError | undefined {
    if (typeof name !== 'string' || name === '') return new KisError('KIS_ERR_JOB_HANDLER', 'a job handler needs a non-empty name');
    if (typeof handler !== 'function') return new KisError('KIS_ERR_JOB_HANDLER', `job handler '${name}' is not a function`);
    if (this.handlers.has(name)) return new KisError('KIS_ERR_JOB_HANDLER', `job handler '${name}' is registered twice`);
    this.handlers.set(name, handler);
    return undefined;
  }

  get(name: string): JobHandler | undefined {
    return this.handlers.get(name);
  }

  names(): string[] {
    return [...this.handlers.keys()];
  }
}
