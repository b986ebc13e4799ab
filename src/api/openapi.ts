// The OpenAPI 3.1 description of the console's JSON API: every route with its parameters, body and
// answers, the ApiError shape, the two ways to authenticate and the CSRF header. Request bodies come from
// the codecs the server validates with; the answers' schemas are written here after src/api/contract.ts.
// Served at `<base_path>api/openapi.json` and written to schemas/openapi.json by `npm run schemas`.
import type * as t from 'io-ts';
import { toJsonSchema, type JsonSchema } from '../config/json-schema.js';
import { ROLES } from './contract.js';
import {
  ApplyRequestCodec, LoginRequestCodec, ReplayRequestCodec, RewindRequestCodec, SnapshotRequestCodec,
  TriggerRequestCodec, TryRequestCodec, ValidateRequestCodec,
} from './http/requests.js';

type Schema = Readonly<Record<string, unknown>>;

// ---- a small notation for the answers' schemas ---------------------------------------------------------
const S: Schema = { type: 'string' };
const N: Schema = { type: 'number' };
const I: Schema = { type: 'integer' };
const B: Schema = { type: 'boolean' };
const ANY: Schema = {};
const OBJ: Schema = { type: 'object', additionalProperties: true };
const nullable = (s: Schema): Schema => ({ anyOf: [s, { type: 'null' }] });
const arr = (s: Schema): Schema => ({ type: 'array', items: s });
const map = (s: Schema): Schema => ({ type: 'object', additionalProperties: s });
const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
const enm = (...values: string[]): Schema => ({ type: 'string', enum: values });
/** An object; a key ending in '?' is optional. */
function obj(props: Readonly<Record<string, Schema>>, description?: string): Schema {
  const properties: Record<string, Schema> = {};
  const required: string[] = [];
  for (const [k, v] of Object.entries(props)) {
    const optional = k.endsWith('?');
    const key = optional ? k.slice(0, -1) : k;
    properties[key] = v;
    if (!optional) required.push(key);
  }
  return { type: 'object', ...(description ? { description } : {}), properties, required };
}

const FLOW_NUMBERS = {
  rows_in: N, rows_out: N, errors: N, dead_letters: N, in_per_s: N, out_per_s: N, lag_records: N, lag_seconds: N,
};
const FUNCTION_NUMBERS = obj({ flow: S, fid: S, mode: S, rows_in: N, rows_out: N, rejected: N, dead_lettered: N, in_per_s: N, p99_ms: nullable(N) });
const DAILY_ROW = obj({ day: S, key: S, succeeded: N, finished: N, ratio: N });
const CONFIG_PROBLEM = obj({ code: S, message: S, 'file?': S, 'doc?': I, 'path?': S, 'line?': I, 'column?': I });
const TRIED_ROW = obj({ fn: S, code: S, message: S, row: ANY });

const RESPONSES: Readonly<Record<string, Schema>> = {
  ApiError: obj({ error: obj({ code: S, message: S, 'where?': S }) }, 'Every refusal.'),
  Role: enm(...ROLES),
  Me: obj({ user: S, role: ref('Role'), 'scenes?': arr(S), csrf: S, app: obj({ app_id: S, mode: enm('embedded', 'kafka'), version: S }) },
    'The signed-in user; csrf goes back in the x-kis-csrf header of every POST.'),
  Empty: obj({}),
  ReplicaStatus: obj({
    replica: S, host: S, pid: I, started_at: N, at: N, interval_ms: N, mode: enm('embedded', 'kafka'), config_version: S, ready: B,
    waiting: arr(S), flows: map(obj({ ...FLOW_NUMBERS, partitions: arr(I) })), functions: arr(FUNCTION_NUMBERS),
    sources: map(obj({ type: S, rows: N, 'leader?': B })), jobs_running: arr(S), gone: B,
  }),
  Overview: obj({ app_id: S, mode: enm('embedded', 'kafka'), now: N, replicas: arr(ref('ReplicaStatus')), flows: arr(obj({ ...FLOW_NUMBERS, flow: S, name: S, enabled: B, replicas: I })) }),
  History: obj({ step_ms: N, flows: map(arr(obj({ t: N, in_per_s: N, out_per_s: N, errors_per_s: N, dead_letters_per_s: N, lag_records: N, lag_seconds: N }))) }),
  Graph: obj({
    nodes: arr(obj({ id: S, kind: enm('source', 'flow', 'function', 'connector'), label: S, 'flow?': S, type: S, live: OBJ })),
    edges: arr(obj({ from: S, to: S, kind: enm('feeds', 'step', 'save', 'load') })),
  }),
  DeadLetter: obj({
    id: S, flow: S, fn: S, code: S, message: S, at: N, key: nullable(S), attempts: I,
    source: nullable(obj({ id: S, 'topic?': S, partition: I, offset: S })), row: nullable(OBJ), raw: nullable(S), headers: map(S), replayed: B,
  }),
  FunctionDetail: obj({
    flow: S, fid: S, fname: S, mode: S, params: OBJ, connector: nullable(S), origin: nullable(obj({ file: S, doc: I })),
    numbers: FUNCTION_NUMBERS, recent_dead_letters: arr(ref('DeadLetter')),
  }),
  DeadLetterPage: obj({ flow: S, total: I, letters: arr(ref('DeadLetter')), by_code: map(I), by_fn: map(I) }),
  ReplayResult: obj({ flow: S, counts: map(I), rows: arr(obj({ id: S, outcome: S, from: nullable(S), 'code?': S })) }),
  JobRow: obj({ job: S, name: S, scene: S, trigger: S, enabled: B, next_fire: nullable(N), last_status: nullable(S), last_run_at: nullable(N), success_ratio: nullable(N), runs: I, runs_what: S }),
  JobRun: obj({
    run_id: S, job: S, scene: S, trigger: S, scheduled_at: N, started_at: nullable(N), ended_at: nullable(N), executor: S, shard: I, shards: I,
    attempt: I, status: S, rows_in: N, rows_out: N, error: nullable(S), log: arr(S), log_dropped: I, parent_run: nullable(S),
  }),
  JobRuns: obj({ job: S, runs: arr(ref('JobRun')) }),
  JobDaily: obj({ days: arr(S), by_scene: arr(DAILY_ROW), by_job: arr(DAILY_ROW) }),
  TriggerResult: obj({ job: S, request_id: S }),
  KillResult: obj({ run_id: S, sent: B }),
  Executor: obj({ id: S, host: S, pid: I, started: N, partitions: arr(I), heartbeat: nullable(N), jobs_running: arr(S) }),
  ConfigProblem: CONFIG_PROBLEM,
  ConfigEdit: obj({ version: I, at: N, user: S, message: S, files: arr(S) }),
  ConfigView: obj({
    version: S,
    documents: arr(obj({ kistype: S, id: S, file: S, doc: I, yaml: S, from: enm('mounted', 'edit'), 'edit_version?': I })),
    modules: arr(obj({ file: S, text: S, from: enm('mounted', 'edit') })),
    problems: arr(ref('ConfigProblem')), edits: arr(ref('ConfigEdit')),
  }),
  ValidateResult: obj({ valid: B, problems: arr(ref('ConfigProblem')) }),
  TryResult: obj({ problems: arr(ref('ConfigProblem')), output: arr(OBJ), rejects: arr(TRIED_ROW), dead_letters: arr(TRIED_ROW), saved: map(arr(OBJ)) }),
  ApplyResult: obj({ version: I, problems: arr(ref('ConfigProblem')) }),
  RewindResult: obj({ flow: S, partitions: I, detail: S }),
  SnapshotResult: obj({ source: S, request_id: S }),
  UserRow: obj({ user: S, role: ref('Role'), 'scenes?': arr(S), auth: enm('password', 'token') }),
  AuditRecord: obj({ at: N, user: S, role: ref('Role'), action: S, target: S, detail: OBJ, outcome: enm('ok', 'refused', 'failed'), replica: S }),
  AuditPage: obj({ records: arr(ref('AuditRecord')) }),
};

// ---- the operations ------------------------------------------------------------------------------------
type Who = 'public' | 'viewer' | 'operator' | 'admin';

interface Op {
  readonly summary: string;
  readonly who: Who;
  readonly params?: readonly Schema[];
  readonly body?: t.Mixed;
  /** A component name, or an inline schema. */
  readonly ok: string | Schema;
  /** Extra refusals this operation may answer besides 400/401/403/500. */
  readonly also?: readonly number[];
}

const pathParam = (name: string, description: string): Schema => ({ name, in: 'path', required: true, schema: S, description });
const queryParam = (name: string, schema: Schema, description: string, required = false): Schema => ({ name, in: 'query', required, schema, description });

const OPS: Readonly<Record<string, Readonly<Partial<Record<'get' | 'post', Op>>>>> = {
  '/api/login': { post: { summary: 'Sign in with a password; sets the kis_session cookie (HttpOnly, SameSite=Strict). Failed logins are rate-limited per user and address (429).', who: 'public', body: LoginRequestCodec, ok: 'Me', also: [429] } },
  '/api/logout': { post: { summary: 'Sign out: clears the session cookie.', who: 'viewer', ok: 'Empty' } },
  '/api/me': { get: { summary: 'The signed-in user, role, scenes, CSRF token and which KisFlow this is.', who: 'viewer', ok: 'Me' } },
  '/api/openapi.json': { get: { summary: 'This description.', who: 'public', ok: OBJ } },
  '/api/overview': { get: { summary: 'Replicas and flows with their live numbers.', who: 'viewer', ok: 'Overview' } },
  '/api/history': { get: { summary: 'Samples of each flow over the last minutes, oldest first.', who: 'viewer', ok: 'History', params: [queryParam('flow', S, 'One flow (absent: every flow).'), queryParam('minutes', I, 'How far back (default 60, at most history_minutes).')] } },
  '/api/graph': { get: { summary: 'Sources, flows, functions and connectors with live numbers.', who: 'viewer', ok: 'Graph' } },
  '/api/functions/{flow}/{fid}': { get: { summary: 'One step of a flow: params, numbers, recent dead letters.', who: 'viewer', ok: 'FunctionDetail', params: [pathParam('flow', 'The flow.'), pathParam('fid', 'The function id.')], also: [404] } },
  '/api/dead-letters': {
    get: {
      summary: 'Dead letters of a flow, newest first, with counts per code and function.', who: 'viewer', ok: 'DeadLetterPage', also: [404],
      params: [
        queryParam('flow', S, 'The flow.', true), queryParam('code', S, 'Only this error code.'), queryParam('fn', S, 'Only this function.'),
        queryParam('key', S, 'Only this row key.'), queryParam('since', S, 'From (ms or ISO 8601).'), queryParam('until', S, 'Until (ms or ISO 8601).'),
        queryParam('limit', I, 'Default 200, at most 1000.'),
      ],
    },
  },
  '/api/dead-letters/replay': { post: { summary: 'Replays dead letters (operator). Audited.', who: 'operator', body: ReplayRequestCodec, ok: 'ReplayResult', also: [404, 409, 503] } },
  '/api/jobs': { get: { summary: 'The jobs, their next fire and last run.', who: 'viewer', ok: arr(ref('JobRow')), params: [queryParam('scene', S, 'Only this scene.')] } },
  '/api/jobs/daily': { get: { summary: 'Success ratio per day, per scene and per job.', who: 'viewer', ok: 'JobDaily', params: [queryParam('days', I, 'Default 7.')] } },
  '/api/jobs/{job}/runs': { get: { summary: 'Runs of a job, newest first.', who: 'viewer', ok: 'JobRuns', params: [pathParam('job', 'The job id.'), queryParam('limit', I, 'Default 50.')], also: [404] } },
  '/api/jobs/{job}/trigger': { post: { summary: 'Fires a job now (operator; a per-scene operator only for jobs of their scenes). Audited.', who: 'operator', body: TriggerRequestCodec, ok: 'TriggerResult', params: [pathParam('job', 'The job id.')], also: [404, 409, 503] } },
  '/api/runs/{run_id}/kill': { post: { summary: 'Asks the executor of a run to kill it (operator; per scene). Audited.', who: 'operator', ok: 'KillResult', params: [pathParam('run_id', 'The run id.')], also: [404, 503] } },
  '/api/executors': { get: { summary: 'Members of the jobs group and their partitions.', who: 'viewer', ok: arr(ref('Executor')) } },
  '/api/config': { get: { summary: 'The config documents, modules, problems and applied edits.', who: 'viewer', ok: 'ConfigView' } },
  '/api/config/validate': { post: { summary: 'Validates the config with some files changed (operator).', who: 'operator', body: ValidateRequestCodec, ok: 'ValidateResult', also: [422] } },
  '/api/config/try': { post: { summary: 'Runs a flow of the edited config on rows with the test driver (operator). Audited.', who: 'operator', body: TryRequestCodec, ok: 'TryResult', also: [404, 422, 503] } },
  '/api/config/apply': { post: { summary: 'Applies a config edit (admin): validated, versioned, hot-reloaded. Audited.', who: 'admin', body: ApplyRequestCodec, ok: 'ApplyResult', also: [409, 422, 503] } },
  '/api/flows/{flow}/rewind': { post: { summary: 'Moves a running flow back to a time or the earliest offsets (operator). Audited.', who: 'operator', body: RewindRequestCodec, ok: 'RewindResult', params: [pathParam('flow', 'The flow.')], also: [404, 409, 503] } },
  '/api/sources/{sid}/snapshot': { post: { summary: 'Re-snapshots tables of a running binlog source (operator). Audited.', who: 'operator', body: SnapshotRequestCodec, ok: 'SnapshotResult', params: [pathParam('sid', 'The source id.')], also: [404, 409, 503] } },
  '/api/users': { get: { summary: 'The configured users, without secrets (admin).', who: 'admin', ok: arr(ref('UserRow')) } },
  '/api/audit': { get: { summary: 'The audit trail, newest first (admin).', who: 'admin', ok: 'AuditPage', params: [queryParam('limit', I, 'Default 100, at most 1000.')] } },
};

const ERROR_TEXT: Readonly<Record<number, string>> = {
  400: 'Bad request (API_BAD_REQUEST, with where).',
  401: 'Not signed in (API_UNAUTHENTICATED).',
  403: 'Role too weak (API_FORBIDDEN), or the CSRF token or Origin is wrong (API_CSRF).',
  404: 'No such flow, job, run, function or source.',
  409: 'Conflict with the running deployment.',
  422: 'The config is not valid.',
  429: 'Too many failed logins (API_RATE_LIMITED; retry-after says when).',
  500: 'Internal error (the server log has the details).',
  503: 'The audit trail or the cluster cannot be written now; the action did not run, or ran and says so in the message.',
};

function operation(method: 'get' | 'post', op: Op): Schema {
  const error = { content: { 'application/json': { schema: ref('ApiError') } } };
  const statuses = new Set<number>([400, 500, ...(op.also ?? [])]);
  if (op.who !== 'public') {
    statuses.add(401);
    statuses.add(403);
  } else if (method === 'post') {
    statuses.add(403); // a cross-origin Origin is refused even without a session
  }
  const responses: Record<string, Schema> = {
    200: { description: 'OK', content: { 'application/json': { schema: typeof op.ok === 'string' ? ref(op.ok) : op.ok } } },
  };
  for (const s of [...statuses].sort()) responses[String(s)] = { description: ERROR_TEXT[s] ?? 'Refused.', ...error };
  const params = [...(op.params ?? [])];
  if (method === 'post' && op.who !== 'public') params.push({ $ref: '#/components/parameters/Csrf' });
  return {
    summary: op.summary,
    'x-kis-role': op.who,
    ...(op.who === 'public' ? { security: [] } : {}),
    ...(params.length > 0 ? { parameters: params } : {}),
    ...(op.body ? { requestBody: { required: true, content: { 'application/json': { schema: toJsonSchema(op.body) as JsonSchema } } } } : {}),
    responses,
  };
}

/** The routes the description has, as `METHOD api/path`, for the test that holds it to the router. */
export function describedRoutes(): string[] {
  return Object.entries(OPS).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p.slice(1)}`));
}

export function openApiDocument(basePath: string, version: string): Schema {
  const paths: Record<string, Schema> = {};
  for (const [p, ops] of Object.entries(OPS)) {
    paths[p] = Object.fromEntries(Object.entries(ops).map(([m, op]) => [m, operation(m as 'get' | 'post', op)]));
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'KisFlow console API',
      version,
      description: 'The JSON API under every button of the KisFlow console. Field names are snake_case. Roles, weakest first: '
        + 'viewer (reads), operator (also replay, trigger, kill, rewind, snapshot, try, validate), admin (also apply, users, audit). '
        + 'A POST authenticated by the session cookie must carry the session\'s CSRF token (from api/me) in x-kis-csrf; a bearer token needs none.',
    },
    servers: [{ url: basePath }],
    security: [{ session: [] }, { bearer: [] }],
    paths,
    components: {
      schemas: RESPONSES,
      securitySchemes: {
        session: { type: 'apiKey', in: 'cookie', name: 'kis_session', description: 'Set by POST api/login; HttpOnly, SameSite=Strict, sliding expiry (session_ttl_ms).' },
        bearer: { type: 'http', scheme: 'bearer', description: 'A user\'s token from the platform section (for scripts).' },
      },
      parameters: {
        Csrf: { name: 'x-kis-csrf', in: 'header', required: false, schema: S, description: 'The session\'s CSRF token (Me.csrf); required when the request is authenticated by the cookie.' },
      },
    },
  };
}
