// What the console's HTTP layer (src/api/http) asks of the running deployment (src/api/platform). The HTTP
// layer does sessions, roles, CSRF, audit and JSON; everything it shows or does goes through this interface,
// so that the routes can be tested against a small in-memory backend and the backend against the real parts.
import type {
  ApplyResult, ConfigFiles, ConfigView, DeadLetterPage, DeadLetterQuery, Executor, FunctionDetail, Graph, History,
  JobDaily, JobRow, JobRuns, KillResult, Overview, ReplayRequest, ReplayResult, RewindRequest, RewindResult,
  SnapshotRequest, SnapshotResult, TriggerResult, TryRequest, TryResult, ValidateResult,
} from './contract.js';

/**
 * A refusal the backend decides (the HTTP layer maps `status` to the response and `code`/`where` into the
 * ApiError body): 400 bad request, 404 no such flow/job/run/function, 409 conflict, 422 invalid config.
 */
export class ApiRefusal extends Error {
  constructor(readonly status: 400 | 404 | 409 | 422 | 503, readonly code: string, message: string, readonly where?: string) {
    super(message);
    this.name = 'ApiRefusal';
  }
}

export interface PlatformBackend {
  readonly appId: string;
  readonly mode: 'embedded' | 'kafka';
  /** This replica's id (as in its status record and the audit). */
  readonly replica: string;

  overview(): Promise<Overview>;
  history(flow: string | undefined, minutes: number): Promise<History>;
  graph(): Promise<Graph>;
  functionDetail(flow: string, fid: string): Promise<FunctionDetail>;

  deadLetters(q: DeadLetterQuery): Promise<DeadLetterPage>;
  replay(req: ReplayRequest): Promise<ReplayResult>;

  jobs(scene: string | undefined): Promise<readonly JobRow[]>;
  jobRuns(job: string, limit: number): Promise<JobRuns>;
  jobDaily(days: number): Promise<JobDaily>;
  /** The scene of a job, for per-scene operators (undefined: no such job). */
  sceneOfJob(job: string): string | undefined;
  /** The scene of a run's job, when the run is known. */
  sceneOfRun(runId: string): Promise<string | undefined>;
  trigger(job: string, params: Readonly<Record<string, unknown>>): Promise<TriggerResult>;
  kill(runId: string): Promise<KillResult>;
  executors(): Promise<readonly Executor[]>;

  config(): Promise<ConfigView>;
  validate(files: ConfigFiles): Promise<ValidateResult>;
  tryFlow(req: TryRequest): Promise<TryResult>;
  /** Validates, records a new version (by `user`), and has it take effect through the hot-reload path. */
  apply(files: ConfigFiles, message: string, user: string): Promise<ApplyResult>;

  rewind(flow: string, req: RewindRequest): Promise<RewindResult>;
  snapshot(sid: string, req: SnapshotRequest): Promise<SnapshotResult>;

  close(): Promise<void>;
}
