// The console's JSON API: every request and response body, shared by the server (src/api/http), the
// data behind it (src/api/platform) and the page (src/console, which imports these types only). Field names
// are snake_case because this is a public format (the OpenAPI description in src/api/openapi.ts says the
// same). All paths are under `<base_path>api/` (base_path from the global document's platform section).
//
// Fields may be added; a field is never renamed or removed without a new route.

/** The roles, weakest first: a viewer reads; an operator also acts (replay, trigger, kill, rewind, try); an admin also applies config and sees users and the audit. */
export type Role = 'viewer' | 'operator' | 'admin';

export const ROLES: readonly Role[] = ['viewer', 'operator', 'admin'];

// ---- session ---------------------------------------------------------------------------------------

/** POST api/login */
export interface LoginRequest {
  readonly user: string;
  readonly password: string;
}

// POST api/logout (any role, with the CSRF token): clears the session cookie and answers {}. The cookie is
// signed, not stored, so the server keeps no list of ended sessions: a copy of it stays valid until it expires.

/** GET api/me, and the answer to POST api/login. `csrf` goes back in the `x-kis-csrf` header of every POST. */
export interface Me {
  readonly user: string;
  readonly role: Role;
  /** Scenes an operator may act on (jobs); absent: all. */
  readonly scenes?: readonly string[];
  readonly csrf: string;
  /** Which KisFlow this is: app_id, mode, version. */
  readonly app: { readonly app_id: string; readonly mode: 'embedded' | 'kafka'; readonly version: string };
}

/** Every refusal: 400 (bad request), 401 (no session), 403 (role or CSRF), 404, 409 (conflict), 422 (invalid config), 500. */
export interface ApiError {
  readonly error: {
    /**
     * A stable code: KIS_ERR_… for the service's own errors, or API_UNAUTHENTICATED, API_FORBIDDEN, API_CSRF, API_NOT_FOUND, API_BAD_REQUEST;
     * also API_RATE_LIMITED (429, too many failed logins), API_AUDIT_UNAVAILABLE (503, the audit trail cannot be written, so the action
     * was not run) and API_INTERNAL (500, details only in the server log).
     */
    readonly code: string;
    readonly message: string;
    /** Where in the request the problem is (a field path), when known. */
    readonly where?: string;
  };
}

// ---- the deployment: replicas, flows, history ----------------------------------------------------

/** Counters since the replica started (monotonic) and rates over the last status interval. */
export interface FlowNumbers {
  readonly rows_in: number;
  readonly rows_out: number;
  /** Rows a function rejected (KIS_ERR_REJECTED and the like) plus rows it dead-lettered for an error. */
  readonly errors: number;
  readonly dead_letters: number;
  readonly in_per_s: number;
  readonly out_per_s: number;
  /** Records behind the end of the input partitions this replica holds (Kafka sources, connector-fed flows). */
  readonly lag_records: number;
  /** Age of the oldest record not processed yet, seconds (binlog: seconds behind the server). */
  readonly lag_seconds: number;
}

export interface FunctionNumbers {
  readonly flow: string;
  readonly fid: string;
  readonly mode: string;
  readonly rows_in: number;
  readonly rows_out: number;
  readonly rejected: number;
  readonly dead_lettered: number;
  readonly in_per_s: number;
  /** p99 of one call's run time over the last minute, ms (null before the first call). */
  readonly p99_ms: number | null;
}

/** What each replica publishes every status interval (Kafka mode: compacted `<app_id>.status`, keyed by replica). */
export interface ReplicaStatus {
  readonly replica: string;
  readonly host: string;
  readonly pid: number;
  readonly started_at: number;
  /** When this record was made (ms). A replica whose record is older than 3 intervals is shown as gone. */
  readonly at: number;
  readonly interval_ms: number;
  readonly mode: 'embedded' | 'kafka';
  /** The config hash the replica runs (a hot reload or an applied edit changes it). */
  readonly config_version: string;
  readonly ready: boolean;
  readonly waiting: readonly string[];
  readonly flows: Readonly<Record<string, FlowNumbers & { readonly partitions: readonly number[] }>>;
  readonly functions: readonly FunctionNumbers[];
  readonly sources: Readonly<Record<string, { readonly type: string; readonly rows: number; readonly leader?: boolean }>>;
  /** Job runs in progress on this replica (run ids). */
  readonly jobs_running: readonly string[];
}

/** GET api/overview */
export interface Overview {
  readonly app_id: string;
  readonly mode: 'embedded' | 'kafka';
  readonly now: number;
  readonly replicas: readonly (ReplicaStatus & { readonly gone: boolean })[];
  /** Per flow, the sum over live replicas. */
  readonly flows: readonly (FlowNumbers & { readonly flow: string; readonly name: string; readonly enabled: boolean; readonly replicas: number })[];
}

/** One sample of a flow, summed over the replicas heard from at that time. */
export interface HistoryPoint {
  readonly t: number;
  readonly in_per_s: number;
  readonly out_per_s: number;
  readonly errors_per_s: number;
  readonly dead_letters_per_s: number;
  readonly lag_records: number;
  readonly lag_seconds: number;
}

/** GET api/history?flow=F&minutes=M (default 60): oldest first. Every flow when flow is absent. */
export interface History {
  readonly step_ms: number;
  readonly flows: Readonly<Record<string, readonly HistoryPoint[]>>;
}

// ---- the graph --------------------------------------------------------------------------------------

export type NodeKind = 'source' | 'flow' | 'function' | 'connector';

export interface GraphNode {
  /** `source:<sid>`, `flow:<flow>`, `function:<flow>/<fid>`, `connector:<cid>`. */
  readonly id: string;
  readonly kind: NodeKind;
  readonly label: string;
  /** The flow a function node belongs to. */
  readonly flow?: string;
  /** source and connector type (kafka, binlog, mysql…), function mode (Verify, Calculate…). */
  readonly type: string;
  /** Live numbers: rows/s in and out, rejects, dead letters, p99 (functions), lag (flows). */
  readonly live: {
    readonly in_per_s: number;
    readonly out_per_s: number;
    readonly rejected?: number;
    readonly dead_lettered?: number;
    readonly p99_ms?: number | null;
    readonly lag_records?: number;
  };
}

export interface GraphEdge {
  readonly from: string;
  readonly to: string;
  /** feeds (source -> flow), step (flow -> first function, function -> next), save (function -> connector), load (connector -> flow or function). */
  readonly kind: 'feeds' | 'step' | 'save' | 'load';
}

/** GET api/graph */
export interface Graph {
  readonly nodes: readonly GraphNode[];
  readonly edges: readonly GraphEdge[];
}

/** GET api/functions/{flow}/{fid} */
export interface FunctionDetail {
  readonly flow: string;
  readonly fid: string;
  readonly fname: string;
  readonly mode: string;
  /** The step's params merged over the function's defaults, as the function sees them. */
  readonly params: Readonly<Record<string, unknown>>;
  readonly connector: string | null;
  readonly origin: { readonly file: string; readonly doc: number } | null;
  readonly numbers: FunctionNumbers;
  /** The latest dead letters from this function (up to 20), newest first. */
  readonly recent_dead_letters: readonly DeadLetter[];
}

// ---- dead letters -------------------------------------------------------------------------------------

export interface DeadLetter {
  /** `<dlq topic>/<partition>@<offset>`: what a replay selects by. */
  readonly id: string;
  readonly flow: string;
  readonly fn: string;
  readonly code: string;
  readonly message: string;
  readonly at: number;
  readonly key: string | null;
  readonly attempts: number;
  readonly source: { readonly id: string; readonly topic?: string; readonly partition: number; readonly offset: string } | null;
  /** The row as JSON, or null for an undecodable record (then `raw` holds its text). */
  readonly row: Readonly<Record<string, unknown>> | null;
  readonly raw: string | null;
  readonly headers: Readonly<Record<string, string>>;
  /** Already replayed (recorded in `<app_id>.<flow>.replayed`). */
  readonly replayed: boolean;
}

/** GET api/dead-letters?flow=F&code=&fn=&key=&since=&until=&limit= (flow required; since/until ms or ISO). */
export interface DeadLetterQuery {
  readonly flow: string;
  readonly code?: string;
  readonly fn?: string;
  readonly key?: string;
  readonly since?: number;
  readonly until?: number;
  /** Newest first; default 200, at most 1000. */
  readonly limit?: number;
}

export interface DeadLetterPage {
  readonly flow: string;
  readonly total: number;
  readonly letters: readonly DeadLetter[];
  /** Counts per code and per function over every matching letter (not only this page). */
  readonly by_code: Readonly<Record<string, number>>;
  readonly by_fn: Readonly<Record<string, number>>;
}

/** POST api/dead-letters/replay: the letters named by `ids`, or else every letter matching `filter`. */
export interface ReplayRequest {
  readonly flow: string;
  readonly ids?: readonly string[];
  readonly filter?: Omit<DeadLetterQuery, 'flow' | 'limit'>;
  /** Run from the first step instead of the step that failed. */
  readonly from_start?: boolean;
}

export interface ReplayResult {
  readonly flow: string;
  readonly counts: Readonly<Record<'out' | 'rejected' | 'dead_lettered' | 'no_output' | 'skipped_replayed' | 'skipped_undecodable', number>>;
  readonly rows: readonly { readonly id: string; readonly outcome: string; readonly from: string | null; readonly code?: string }[];
}

// ---- jobs ---------------------------------------------------------------------------------------------

/** GET api/jobs?scene=S */
export interface JobRow {
  readonly job: string;
  readonly name: string;
  readonly scene: string;
  readonly trigger: string;
  readonly enabled: boolean;
  readonly next_fire: number | null;
  readonly last_status: string | null;
  readonly last_run_at: number | null;
  readonly success_ratio: number | null;
  readonly runs: number;
  /** What it runs: `flow:<id>` or `handler:<name>`. */
  readonly runs_what: string;
}

/** One run (the run-log record). */
export interface JobRun {
  readonly run_id: string;
  readonly job: string;
  readonly scene: string;
  readonly trigger: string;
  readonly scheduled_at: number;
  readonly started_at: number | null;
  readonly ended_at: number | null;
  readonly executor: string;
  readonly shard: number;
  readonly shards: number;
  readonly attempt: number;
  readonly status: string;
  readonly rows_in: number;
  readonly rows_out: number;
  readonly error: string | null;
  readonly log: readonly string[];
  readonly log_dropped: number;
  readonly parent_run: string | null;
}

/** GET api/jobs/{job}/runs?limit=N (default 50): newest first. */
export interface JobRuns {
  readonly job: string;
  readonly runs: readonly JobRun[];
}

/** GET api/jobs/daily?days=N (default 7): success ratio per day, per scene and per job. */
export interface JobDaily {
  readonly days: readonly string[];
  readonly by_scene: readonly { readonly day: string; readonly key: string; readonly succeeded: number; readonly finished: number; readonly ratio: number }[];
  readonly by_job: readonly { readonly day: string; readonly key: string; readonly succeeded: number; readonly finished: number; readonly ratio: number }[];
}

/** POST api/jobs/{job}/trigger */
export interface TriggerRequest {
  readonly params?: Readonly<Record<string, unknown>>;
}

export interface TriggerResult {
  readonly job: string;
  /** The trigger request's id; the run appears in api/jobs/{job}/runs once the owner fires it. */
  readonly request_id: string;
}

/** POST api/runs/{run_id}/kill */
export interface KillResult {
  readonly run_id: string;
  readonly sent: boolean;
}

/** GET api/executors: the members of the jobs group and the replicas' status. */
export interface Executor {
  readonly id: string;
  readonly host: string;
  readonly pid: number;
  readonly started: number;
  /** Job partitions it owns. */
  readonly partitions: readonly number[];
  /** Its last status record or heartbeat (ms). */
  readonly heartbeat: number | null;
  readonly jobs_running: readonly string[];
}

// ---- config -------------------------------------------------------------------------------------------

export interface ConfigProblem {
  readonly code: string;
  readonly message: string;
  readonly file?: string;
  readonly doc?: number;
  readonly path?: string;
  readonly line?: number;
  readonly column?: number;
}

export interface ConfigDocument {
  readonly kistype: string;
  /** The document's id (flow id, fid, cid, sid, job id; 'global'). */
  readonly id: string;
  readonly file: string;
  readonly doc: number;
  /** The document's YAML as written. */
  readonly yaml: string;
  /** Where the file comes from now: the mounted directory, or an applied edit (overlay) of the given version. */
  readonly from: 'mounted' | 'edit';
  readonly edit_version?: number;
}

/** GET api/config */
export interface ConfigView {
  readonly version: string;
  readonly documents: readonly ConfigDocument[];
  /** Function modules (relative paths) and their source text. */
  readonly modules: readonly { readonly file: string; readonly text: string; readonly from: 'mounted' | 'edit' }[];
  /** Problems of the config as loaded (empty: valid). */
  readonly problems: readonly ConfigProblem[];
  /** The applied edits, newest first. */
  readonly edits: readonly ConfigEdit[];
}

/** Files by their path relative to the config directory; content null deletes an edited file (back to the mounted one). */
export type ConfigFiles = Readonly<Record<string, string | null>>;

/** POST api/config/validate: the config as it would be with these files changed; the same problems as kisflow validate. */
export interface ValidateRequest {
  readonly files: ConfigFiles;
}

export interface ValidateResult {
  readonly valid: boolean;
  readonly problems: readonly ConfigProblem[];
}

/** POST api/config/try: runs `flow` of the edited config on `rows` with the test driver (no Kafka, no storage writes). */
export interface TryRequest {
  readonly files: ConfigFiles;
  readonly flow: string;
  readonly rows: readonly Readonly<Record<string, unknown>>[];
}

export interface TryResult {
  readonly problems: readonly ConfigProblem[];
  readonly output: readonly Readonly<Record<string, unknown>>[];
  /** Rows rejected by a function (their code and message). */
  readonly rejects: readonly { readonly fn: string; readonly code: string; readonly message: string; readonly row: unknown }[];
  readonly dead_letters: readonly { readonly fn: string; readonly code: string; readonly message: string; readonly row: unknown }[];
  /** What the connectors would have received, by cid. */
  readonly saved: Readonly<Record<string, readonly Readonly<Record<string, unknown>>[]>>;
}

/** POST api/config/apply (admin): validated first; a valid edit is versioned and takes effect like a hot reload. */
export interface ApplyRequest {
  readonly files: ConfigFiles;
  readonly message: string;
}

export interface ConfigEdit {
  readonly version: number;
  readonly at: number;
  readonly user: string;
  readonly message: string;
  readonly files: readonly string[];
}

export interface ApplyResult {
  readonly version: number;
  readonly problems: readonly ConfigProblem[];
}

// ---- repair beyond dead letters ------------------------------------------------------------------------

/** POST api/flows/{flow}/rewind: to a time (ms or ISO) or to the earliest offsets. */
export interface RewindRequest {
  readonly to: number | string | 'earliest';
}

export interface RewindResult {
  readonly flow: string;
  readonly partitions: number;
  readonly detail: string;
}

/** POST api/sources/{sid}/snapshot: re-snapshot tables of a running binlog source. */
export interface SnapshotRequest {
  readonly tables: readonly string[];
}

export interface SnapshotResult {
  readonly source: string;
  readonly request_id: string;
}

// ---- users and audit -----------------------------------------------------------------------------------

/** GET api/users (admin): the configured users, without any secret. */
export interface UserRow {
  readonly user: string;
  readonly role: Role;
  readonly scenes?: readonly string[];
  readonly auth: 'password' | 'token';
}

/** One action taken through the API (Kafka mode: `<app_id>.audit`; embedded: memory and the log). */
export interface AuditRecord {
  readonly at: number;
  readonly user: string;
  readonly role: Role;
  /** replay, rewind, snapshot, trigger, kill, apply, try, login, login_failed, logout. */
  readonly action: string;
  /** What it acted on: a flow, a job, a run id, files. */
  readonly target: string;
  readonly detail: Readonly<Record<string, unknown>>;
  readonly outcome: 'ok' | 'refused' | 'failed';
  readonly replica: string;
}

/** GET api/audit?limit=N (admin): newest first. */
export interface AuditPage {
  readonly records: readonly AuditRecord[];
}
