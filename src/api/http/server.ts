// One request, start to end: the base path, then either the JSON API (who is asking, CSRF, role, body,
// audit, the route) or the page's static files.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import type { AuditLog } from '../audit.js';
import type { Authenticator, Principal } from '../auth/index.js';
import { sameSecret } from '../auth/password.js';
import type { PlatformBackend } from '../backend.js';
import { ROLES, type AuditRecord, type Role } from '../contract.js';
import { decode, parseJson, readBody } from './body.js';
import { ApiHttpError, classify, sendError, sendJson, SECURITY_HEADERS } from './respond.js';
import type { Route, RouteContext, Router } from './router.js';
import type { StaticFiles } from './static.js';

export interface HandlerDeps {
  readonly basePath: string;
  readonly router: Router;
  readonly auth: Authenticator;
  readonly audit: AuditLog;
  readonly backend: PlatformBackend;
  readonly files: StaticFiles;
  readonly logger: Logger;
  readonly now: () => number;
}

export const CSRF_HEADER = 'x-kis-csrf';

const rank = (r: Role): number => ROLES.indexOf(r);

function isSecure(req: IncomingMessage): boolean {
  if ((req.socket as Partial<TLSSocket>).encrypted === true) return true;
  const proto = req.headers['x-forwarded-proto'];
  return (Array.isArray(proto) ? proto[0] : proto)?.split(',')[0]?.trim().toLowerCase() === 'https';
}

/** A POST from a page of another origin is refused even before its session is looked at. */
function originMatches(req: IncomingMessage): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  let host: string;
  try {
    host = new URL(origin).host;
  } catch {
    return false;
  }
  const forwarded = req.headers['x-forwarded-host'];
  const hosts = [req.headers.host, ...(Array.isArray(forwarded) ? forwarded : forwarded?.split(',') ?? [])].map((h) => h?.trim().toLowerCase());
  return hosts.includes(host.toLowerCase());
}

export function createHandler(d: HandlerDeps): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    handle(d, req, res).catch((err: unknown) => sendError(res, err, d.logger, { method: req.method ?? '', url: req.url ?? '' }));
  };
}

async function handle(d: HandlerDeps, req: IncomingMessage, res: ServerResponse): Promise<void> {
  // The path is taken as sent (not through URL, which would resolve '%2e%2e' before the checks below).
  const raw = req.url ?? '/';
  const q = raw.indexOf('?');
  const pathname = q >= 0 ? raw.slice(0, q) : raw;
  const query = new URLSearchParams(q >= 0 ? raw.slice(q + 1) : '');
  const method = req.method ?? 'GET';
  if (pathname === d.basePath.slice(0, -1) && d.basePath !== '/') {
    res.writeHead(308, { ...SECURITY_HEADERS, location: d.basePath });
    res.end();
    return;
  }
  if (!pathname.startsWith(d.basePath)) {
    sendJson(res, 404, { error: { code: 'API_NOT_FOUND', message: `not found; the console is under ${d.basePath}` } });
    return;
  }
  const rel = pathname.slice(d.basePath.length);
  if (rel === 'api' || rel.startsWith('api/')) {
    await api(d, req, res, rel.slice(4), query, method);
    return;
  }
  if (method !== 'GET' && method !== 'HEAD') {
    sendJson(res, 405, { error: { code: 'API_BAD_REQUEST', message: `${method} is not allowed here` } }, { allow: 'GET, HEAD' });
    return;
  }
  await d.files.serve(rel, res, method === 'HEAD');
}

async function api(d: HandlerDeps, req: IncomingMessage, res: ServerResponse, rel: string, query: URLSearchParams, method: string): Promise<void> {
  let segments: string[];
  try {
    segments = rel.split('/').map((s) => decodeURIComponent(s));
  } catch {
    throw new ApiHttpError(400, 'API_BAD_REQUEST', 'the path is not valid percent-encoding', 'path');
  }
  const match = d.router.match(method, segments);
  if (match.kind === 'none') throw new ApiHttpError(404, 'API_NOT_FOUND', `no route api/${rel}`, 'path');
  if (match.kind === 'method') {
    throw new ApiHttpError(405, 'API_BAD_REQUEST', `api/${rel} answers ${match.allow.join(', ')}, not ${method}`, 'method', { allow: match.allow.join(', ') });
  }
  const r = match.route;
  const principal = d.auth.authenticate({ authorization: req.headers.authorization, cookie: req.headers.cookie });
  const secure = isSecure(req);
  const ctx: RouteContext = {
    principal, params: match.params, query, body: {}, address: req.socket.remoteAddress ?? 'unknown', secure, headers: {}, detail: {},
  };
  // Sliding expiry: every answer to a cookie session carries the cookie extended to a full ttl.
  if (principal?.session) ctx.headers['set-cookie'] = d.auth.cookieFor(principal.session, secure);

  if (r.access !== 'public' && !principal) throw new ApiHttpError(401, 'API_UNAUTHENTICATED', 'sign in first (POST api/login, or Authorization: Bearer <token>)');
  if (r.method === 'POST') {
    if (!originMatches(req)) throw new ApiHttpError(403, 'API_CSRF', 'the request comes from a page of another origin');
    if (r.access !== 'public' && principal?.session) {
      const sent = req.headers[CSRF_HEADER];
      if (typeof sent !== 'string' || !sameSecret(principal.session.csrf, sent)) {
        throw new ApiHttpError(403, 'API_CSRF', `a POST with the session cookie needs the session's CSRF token (api/me: csrf) in the ${CSRF_HEADER} header`);
      }
    }
  }
  try {
    if (r.access !== 'public' && rank(principal!.user.role) < rank(r.access)) {
      throw new ApiHttpError(403, 'API_FORBIDDEN', `${r.method} api/${r.path} needs the ${r.access} role; ${principal!.user.name} is ${principal!.user.role}`);
    }
    if (method === 'POST') {
      const body = parseJson(await readBody(req), req.headers['content-type']);
      (ctx as { body: unknown }).body = r.body ? decode(r.body, body) : body;
    }
    if (r.guard) await r.guard(ctx);
  } catch (err) {
    // Refusals of an action by a signed-in user are on the trail too (who tried what); a failure to record
    // them does not change the answer, which is a refusal anyway.
    if (r.audit && principal) {
      await record(d, r, ctx, principal, 'refused', err).catch((e: unknown) => d.logger.error({ err: e }, 'cannot write an audit record of a refusal'));
    }
    throw err;
  }
  if (r.audit) {
    try {
      await d.audit.ready();
    } catch (err) {
      d.logger.error({ err, action: r.audit.action }, 'the audit trail cannot be written; the action is refused');
      throw new ApiHttpError(503, 'API_AUDIT_UNAVAILABLE', 'the audit trail cannot be written now, so the action was not run; try again later');
    }
  }
  let result: unknown;
  let failure: unknown;
  try {
    result = await r.handle(ctx);
  } catch (err) {
    failure = err;
  }
  if (r.audit && principal) {
    const outcome = failure === undefined ? 'ok' : classify(failure).status >= 500 ? 'failed' : 'refused';
    try {
      await record(d, r, ctx, principal, outcome, failure);
    } catch (err) {
      d.logger.error({ err, action: r.audit.action, user: principal.user.name, outcome }, 'the audit record of an action could not be written');
      throw new ApiHttpError(503, 'API_AUDIT_UNAVAILABLE', `the action ran (${outcome}) but its audit record could not be written; the server log has it`, undefined, flatten(ctx.headers));
    }
  }
  if (failure !== undefined) {
    const c = classify(failure);
    if (c.internal) d.logger.error({ err: failure, route: `${r.method} ${r.path}` }, 'console API request failed');
    sendJson(res, c.status, c.body, { ...c.headers, ...ctx.headers });
    return;
  }
  sendJson(res, 200, result ?? {}, ctx.headers);
}

function flatten(h: Readonly<Record<string, string | string[]>>): Record<string, string> {
  return Object.fromEntries(Object.entries(h).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : v]));
}

async function record(d: HandlerDeps, r: Route, ctx: RouteContext, principal: Principal, outcome: AuditRecord['outcome'], err: unknown): Promise<void> {
  const spec = r.audit!;
  let target: string;
  let detail: Record<string, unknown>;
  try {
    target = String(spec.target(ctx) ?? '');
    detail = spec.detail ? spec.detail(ctx) : {};
  } catch {
    // A refusal of a body that did not decode has no target to name.
    target = '';
    detail = {};
  }
  const refusal = err === undefined ? undefined : classify(err).body.error;
  await d.audit.write({
    at: d.now(),
    user: principal.user.name,
    role: principal.user.role,
    action: spec.action,
    target,
    detail: { ...detail, ...ctx.detail, via: principal.via, ...(refusal ? { code: refusal.code, ...(outcome === 'refused' ? { message: refusal.message } : {}) } : {}) },
    outcome,
    replica: d.backend.replica,
  });
}
