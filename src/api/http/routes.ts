// Every route of the console's JSON API: who may call it, what it reads from the request, what it asks of
// the backend, and what an action records in the audit.
import type { Logger } from 'pino';
import type { PlatformConfig } from '../../config/model.js';
import type { Authenticator } from '../auth/index.js';
import type { AuditLog } from '../audit.js';
import type { PlatformBackend } from '../backend.js';
import type { AuditPage, DeadLetterQuery, Me, UserRow } from '../contract.js';
import { openApiDocument } from '../openapi.js';
import {
  ApplyRequestCodec, LoginRequestCodec, ReplayRequestCodec, RewindRequestCodec, SnapshotRequestCodec,
  TriggerRequestCodec, TryRequestCodec, ValidateRequestCodec,
} from './requests.js';
import { ApiHttpError } from './respond.js';
import { route, type Route, type RouteContext } from './router.js';

export interface RouteDeps {
  readonly platform: PlatformConfig;
  readonly backend: PlatformBackend;
  readonly auth: Authenticator;
  readonly audit: AuditLog;
  readonly version: string;
  readonly now: () => number;
  readonly logger: Logger;
}

/** A whole number from the query string, or its default; out of range is a 400 naming the parameter. */
export function intQuery(q: URLSearchParams, name: string, def: number, min: number, max: number): number {
  const raw = q.get(name);
  if (raw === null || raw === '') return def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new ApiHttpError(400, 'API_BAD_REQUEST', `${name} must be a whole number from ${min} to ${max}, found '${raw}'`, `query.${name}`);
  }
  return n;
}

/** A time from the query string: ms since the epoch or ISO 8601. */
export function timeQuery(q: URLSearchParams, name: string): number | undefined {
  const raw = q.get(name);
  if (raw === null || raw === '') return undefined;
  const ms = /^\d+$/.test(raw) ? Number(raw) : Date.parse(raw);
  if (!Number.isFinite(ms)) throw new ApiHttpError(400, 'API_BAD_REQUEST', `${name} must be ms since the epoch or an ISO 8601 time, found '${raw}'`, `query.${name}`);
  return ms;
}

function strQuery(q: URLSearchParams, name: string): string | undefined {
  const v = q.get(name);
  return v === null || v === '' ? undefined : v;
}

function userOf(ctx: RouteContext): NonNullable<RouteContext['principal']>['user'] {
  if (!ctx.principal) throw new ApiHttpError(401, 'API_UNAUTHENTICATED', 'sign in first');
  return ctx.principal.user;
}

/** A per-scene operator may act only on jobs of their scenes. */
function sceneAllowed(ctx: RouteContext, scene: string | undefined, what: string): void {
  const scenes = userOf(ctx).scenes;
  if (scenes === undefined) return;
  if (scene === undefined) throw new ApiHttpError(403, 'API_FORBIDDEN', `the scene of ${what} is not known; only an operator of every scene may act on it`);
  if (!scenes.includes(scene)) throw new ApiHttpError(403, 'API_FORBIDDEN', `${what} belongs to scene '${scene}'; you may act on ${scenes.join(', ')}`);
}

function fileNames(files: Readonly<Record<string, string | null>>): string[] {
  return Object.keys(files).sort();
}

export function apiRoutes(d: RouteDeps): Route[] {
  const { backend, auth } = d;
  const me = (ctx: RouteContext, csrf: string): Me => {
    const u = userOf(ctx);
    return {
      user: u.name,
      role: u.role,
      ...(u.scenes !== undefined ? { scenes: u.scenes } : {}),
      csrf,
      app: { app_id: backend.appId, mode: backend.mode, version: d.version },
    };
  };
  return [
    route({
      method: 'POST', path: 'login', access: 'public', body: LoginRequestCodec,
      // Logins write their own audit records (login, login_failed): the route has no user before it runs.
      handle: async (ctx) => {
        const outcome = await auth.login(ctx.body.user, ctx.body.password, ctx.address);
        const known = auth.user(ctx.body.user);
        const record = { at: d.now(), user: ctx.body.user, role: known?.role ?? 'viewer', target: ctx.body.user, replica: backend.replica } as const;
        if (!outcome.ok) {
          // The refusal stands whether or not it could be recorded.
          await d.audit.write({ ...record, action: 'login_failed', detail: { address: ctx.address, status: outcome.status }, outcome: 'refused' })
            .catch((err: unknown) => d.logger.error({ err, user: ctx.body.user }, 'cannot write the audit record of a failed login'));
          if (outcome.status === 429) {
            throw new ApiHttpError(429, 'API_RATE_LIMITED', 'too many failed logins; try again later', undefined, { 'retry-after': String(Math.ceil(outcome.retryAfterMs / 1000)) });
          }
          throw new ApiHttpError(401, 'API_UNAUTHENTICATED', 'wrong user name or password');
        }
        // No session without its audit record: a login nobody can see would defeat the trail.
        try {
          await d.audit.write({ ...record, role: outcome.user.role, action: 'login', detail: { address: ctx.address, via: 'password' }, outcome: 'ok' });
        } catch (err) {
          d.logger.error({ err, user: outcome.user.name }, 'cannot write the audit record of a login; no session given');
          throw new ApiHttpError(503, 'API_AUDIT_UNAVAILABLE', 'the audit trail cannot be written now, so no session was started; try again later');
        }
        ctx.headers['set-cookie'] = auth.cookieFor(outcome.session, ctx.secure);
        return me({ ...ctx, principal: { user: outcome.user, via: 'cookie', session: outcome.session } }, outcome.session.csrf);
      },
    }),
    route({
      method: 'POST', path: 'logout', access: 'viewer',
      audit: { action: 'logout', target: (ctx) => userOf(ctx).name },
      handle: async (ctx) => {
        ctx.headers['set-cookie'] = auth.clearCookie(ctx.secure);
        return {};
      },
    }),
    route({ method: 'GET', path: 'me', access: 'viewer', handle: async (ctx) => me(ctx, ctx.principal?.session?.csrf ?? '') }),
    route({ method: 'GET', path: 'openapi.json', access: 'public', handle: async () => openApiDocument(d.platform.basePath, d.version) }),

    route({ method: 'GET', path: 'overview', access: 'viewer', handle: () => backend.overview() }),
    route({
      method: 'GET', path: 'history', access: 'viewer',
      handle: (ctx) => backend.history(strQuery(ctx.query, 'flow'), intQuery(ctx.query, 'minutes', Math.min(60, d.platform.historyMinutes), 1, d.platform.historyMinutes)),
    }),
    route({ method: 'GET', path: 'graph', access: 'viewer', handle: () => backend.graph() }),
    route({ method: 'GET', path: 'functions/{flow}/{fid}', access: 'viewer', handle: (ctx) => backend.functionDetail(ctx.params['flow']!, ctx.params['fid']!) }),

    route({
      method: 'GET', path: 'dead-letters', access: 'viewer',
      handle: (ctx) => {
        const flow = strQuery(ctx.query, 'flow');
        if (flow === undefined) throw new ApiHttpError(400, 'API_BAD_REQUEST', 'flow is required', 'query.flow');
        const opt = (name: 'code' | 'fn' | 'key'): Partial<DeadLetterQuery> => {
          const v = strQuery(ctx.query, name);
          return v === undefined ? {} : { [name]: v };
        };
        const since = timeQuery(ctx.query, 'since');
        const until = timeQuery(ctx.query, 'until');
        const q: DeadLetterQuery = {
          flow, ...opt('code'), ...opt('fn'), ...opt('key'),
          ...(since !== undefined ? { since } : {}), ...(until !== undefined ? { until } : {}),
          limit: intQuery(ctx.query, 'limit', 200, 1, 1000),
        };
        return backend.deadLetters(q);
      },
    }),
    route({
      method: 'POST', path: 'dead-letters/replay', access: 'operator', body: ReplayRequestCodec,
      audit: {
        action: 'replay', target: (ctx) => ctx.body.flow,
        detail: (ctx) => ({ ...(ctx.body.ids ? { ids: ctx.body.ids.length } : {}), ...(ctx.body.filter ? { filter: ctx.body.filter } : {}), from_start: ctx.body.from_start ?? false }),
      },
      handle: async (ctx) => {
        const r = await backend.replay(ctx.body);
        ctx.detail['counts'] = r.counts;
        return r;
      },
    }),

    route({ method: 'GET', path: 'jobs', access: 'viewer', handle: (ctx) => backend.jobs(strQuery(ctx.query, 'scene')) }),
    route({ method: 'GET', path: 'jobs/daily', access: 'viewer', handle: (ctx) => backend.jobDaily(intQuery(ctx.query, 'days', 7, 1, 90)) }),
    route({ method: 'GET', path: 'jobs/{job}/runs', access: 'viewer', handle: (ctx) => backend.jobRuns(ctx.params['job']!, intQuery(ctx.query, 'limit', 50, 1, 1000)) }),
    route({
      method: 'POST', path: 'jobs/{job}/trigger', access: 'operator', body: TriggerRequestCodec,
      audit: { action: 'trigger', target: (ctx) => ctx.params['job']!, detail: (ctx) => ({ params: ctx.body.params ?? {} }) },
      guard: async (ctx) => {
        const job = ctx.params['job']!;
        const scene = backend.sceneOfJob(job);
        if (scene === undefined && userOf(ctx).scenes !== undefined) throw new ApiHttpError(404, 'API_NOT_FOUND', `no job '${job}'`, 'path.job');
        sceneAllowed(ctx, scene, `job '${job}'`);
      },
      handle: async (ctx) => {
        const r = await backend.trigger(ctx.params['job']!, ctx.body.params ?? {});
        ctx.detail['request_id'] = r.request_id;
        return r;
      },
    }),
    route({
      method: 'POST', path: 'runs/{run_id}/kill', access: 'operator',
      audit: { action: 'kill', target: (ctx) => ctx.params['run_id']! },
      guard: async (ctx) => {
        if (userOf(ctx).scenes === undefined) return;
        const run = ctx.params['run_id']!;
        sceneAllowed(ctx, await backend.sceneOfRun(run), `run '${run}'`);
      },
      handle: async (ctx) => {
        const r = await backend.kill(ctx.params['run_id']!);
        ctx.detail['sent'] = r.sent;
        return r;
      },
    }),
    route({ method: 'GET', path: 'executors', access: 'viewer', handle: () => backend.executors() }),

    route({ method: 'GET', path: 'config', access: 'viewer', handle: () => backend.config() }),
    route({ method: 'POST', path: 'config/validate', access: 'operator', body: ValidateRequestCodec, handle: (ctx) => backend.validate(ctx.body.files) }),
    route({
      method: 'POST', path: 'config/try', access: 'operator', body: TryRequestCodec,
      audit: { action: 'try', target: (ctx) => ctx.body.flow, detail: (ctx) => ({ files: fileNames(ctx.body.files), rows: ctx.body.rows.length }) },
      handle: (ctx) => backend.tryFlow(ctx.body),
    }),
    route({
      method: 'POST', path: 'config/apply', access: 'admin', body: ApplyRequestCodec,
      audit: { action: 'apply', target: (ctx) => fileNames(ctx.body.files).join(', '), detail: (ctx) => ({ message: ctx.body.message, files: fileNames(ctx.body.files) }) },
      handle: async (ctx) => {
        const r = await backend.apply(ctx.body.files, ctx.body.message, userOf(ctx).name);
        ctx.detail['version'] = r.version;
        ctx.detail['problems'] = r.problems.length;
        return r;
      },
    }),

    route({
      method: 'POST', path: 'flows/{flow}/rewind', access: 'operator', body: RewindRequestCodec,
      audit: { action: 'rewind', target: (ctx) => ctx.params['flow']!, detail: (ctx) => ({ to: ctx.body.to }) },
      handle: (ctx) => backend.rewind(ctx.params['flow']!, ctx.body),
    }),
    route({
      method: 'POST', path: 'sources/{sid}/snapshot', access: 'operator', body: SnapshotRequestCodec,
      audit: { action: 'snapshot', target: (ctx) => ctx.params['sid']!, detail: (ctx) => ({ tables: ctx.body.tables }) },
      handle: (ctx) => backend.snapshot(ctx.params['sid']!, ctx.body),
    }),

    route({
      method: 'GET', path: 'users', access: 'admin',
      handle: async (): Promise<readonly UserRow[]> => auth.allUsers().map((u) => ({
        user: u.name, role: u.role, ...(u.scenes !== undefined ? { scenes: u.scenes } : {}), auth: u.passwordHash !== undefined ? 'password' : 'token',
      })),
    }),
    route({
      method: 'GET', path: 'audit', access: 'admin',
      handle: async (ctx): Promise<AuditPage> => ({ records: await d.audit.read(intQuery(ctx.query, 'limit', 100, 1, 1000)) }),
    }),
  ];
}
