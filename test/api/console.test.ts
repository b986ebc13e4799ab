// The console's HTTP layer over real loopback HTTP: sessions, roles, CSRF, bearer tokens, validation,
// refusals, the audit trail and the page's static files, against a small in-memory backend.
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { serveConsole, type ConsoleServer } from '../../src/api/index.js';
import type { AuditLog } from '../../src/api/audit.js';
import { hashPassword } from '../../src/api/auth/password.js';
import type { AuditPage, Me } from '../../src/api/contract.js';
import type { PlatformConfig, PlatformUser } from '../../src/config/model.js';
import { silentLogger } from '../../src/observability/logger.js';
import { memoryBackend } from './fake-backend.js';

const FAST = { n: 1024, r: 8, p: 1 };

async function users(): Promise<PlatformUser[]> {
  return [
    { name: 'vera', role: 'viewer', passwordHash: await hashPassword('vera-pw', FAST) },
    { name: 'otto', role: 'operator', passwordHash: await hashPassword('otto-pw', FAST) },
    { name: 'bill', role: 'operator', scenes: ['billing'], passwordHash: await hashPassword('bill-pw', FAST) },
    { name: 'ada', role: 'admin', passwordHash: await hashPassword('ada-pw', FAST) },
    { name: 'bot', role: 'operator', token: 'bot-token-1234567890' },
  ];
}

function platform(u: PlatformUser[], basePath = '/'): PlatformConfig {
  return { listen: '127.0.0.1:0', basePath, statusIntervalMs: 5000, historyMinutes: 60, sessionSecret: 'test-secret', sessionTtlMs: 60_000, users: u };
}

interface Session { cookie: string; csrf: string; me: Me }

async function login(base: string, user: string, password: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${base}api/login`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ user, password }) });
}

async function session(base: string, user: string): Promise<Session> {
  const res = await login(base, user, `${user}-pw`);
  assert.equal(res.status, 200, await res.clone().text());
  const cookie = res.headers.getSetCookie()[0]!.split(';')[0]!;
  const me = await res.json() as Me;
  return { cookie, csrf: me.csrf, me };
}

function post(base: string, route: string, s: Session | undefined, body: unknown, opts: { csrf?: boolean; headers?: Record<string, string> } = {}): Promise<Response> {
  return fetch(`${base}api/${route}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(s ? { cookie: s.cookie } : {}),
      ...(s && opts.csrf !== false ? { 'x-kis-csrf': s.csrf } : {}),
      ...opts.headers,
    },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

function get(base: string, route: string, s?: Session, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${base}api/${route}`, { headers: { ...(s ? { cookie: s.cookie } : {}), ...headers } });
}

function rawGet(port: string, rawPath: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: Number(port), path: rawPath, method: 'GET' }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => { body += d.toString(); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function errorOf(res: Response): Promise<{ code: string; message: string; where?: string }> {
  return ((await res.json()) as { error: { code: string; message: string; where?: string } }).error;
}

describe('console HTTP layer', () => {
  let server: ConsoleServer;
  let base: string;
  let now = 1_000_000;
  const backend = memoryBackend();

  before(async () => {
    server = await serveConsole({
      platform: platform(await users()), backend, logger: silentLogger(), version: '9.9.9',
      consoleDir: path.join(tmpdir(), 'kisflow-no-console-here'),
      auth: { now: () => now, limits: { perUser: 3, perAddress: 50 } },
    });
    base = server.url;
  });
  after(() => server.close());

  test('every API request without a session is 401 API_UNAUTHENTICATED, with the security headers and no-store', async () => {
    const res = await get(base, 'overview');
    assert.equal(res.status, 401);
    assert.equal((await errorOf(res)).code, 'API_UNAUTHENTICATED');
    assert.equal(res.headers.get('cache-control'), 'no-store');
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(res.headers.get('x-frame-options'), 'DENY');
    assert.equal(res.headers.get('referrer-policy'), 'no-referrer');
    const csp = res.headers.get('content-security-policy')!;
    assert.match(csp, /default-src 'self'/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.doesNotMatch(csp, /unsafe-inline/);
  });

  test('login: a wrong password is 401, an unknown user too, and past the limit 429 even with the right password', async () => {
    const wrong = await login(base, 'vera', 'nope');
    assert.equal(wrong.status, 401);
    assert.equal((await errorOf(wrong)).code, 'API_UNAUTHENTICATED');
    assert.deepEqual(wrong.headers.getSetCookie(), []);
    assert.equal((await login(base, 'nobody', 'x')).status, 401);
    assert.equal((await login(base, 'vera', 'nope')).status, 401);
    assert.equal((await login(base, 'vera', 'nope')).status, 401);
    const limited = await login(base, 'vera', 'vera-pw');
    assert.equal(limited.status, 429);
    assert.equal((await errorOf(limited)).code, 'API_RATE_LIMITED');
    assert.ok(Number(limited.headers.get('retry-after')) > 0);
    now += 16 * 60_000; // the window passes
    assert.equal((await login(base, 'vera', 'vera-pw')).status, 200);
  });

  test('login sets an HttpOnly SameSite=Strict session cookie on the base path (Secure behind https), and api/me answers', async () => {
    const res = await login(base, 'otto', 'otto-pw');
    assert.equal(res.status, 200);
    const cookie = res.headers.getSetCookie()[0]!;
    assert.match(cookie, /^kis_session=[^;]+/);
    assert.match(cookie, /; HttpOnly/);
    assert.match(cookie, /; SameSite=Strict/);
    assert.match(cookie, /; Path=\/(;|$)/);
    assert.doesNotMatch(cookie, /Secure/);
    const tls = await login(base, 'otto', 'otto-pw', { 'x-forwarded-proto': 'https' });
    assert.match(tls.headers.getSetCookie()[0]!, /; Secure/);

    const s = await session(base, 'bill');
    const me = await get(base, 'me', s);
    assert.equal(me.status, 200);
    const body = await me.json() as Me;
    assert.deepEqual(body, { user: 'bill', role: 'operator', scenes: ['billing'], csrf: s.csrf, app: { app_id: 'shop', mode: 'embedded', version: '9.9.9' } });
    // sliding expiry: each answer renews the cookie
    assert.match(me.headers.getSetCookie()[0] ?? '', /^kis_session=/);
  });

  test('a session expires after session_ttl_ms without use, and a forged cookie is refused', async () => {
    const s = await session(base, 'vera');
    now += 50_000;
    const renewed = await get(base, 'me', s);
    assert.equal(renewed.status, 200);
    const next = { ...s, cookie: renewed.headers.getSetCookie()[0]!.split(';')[0]! };
    now += 50_000; // 100 s after login, 50 s after the last use: alive only through the renewed cookie
    assert.equal((await get(base, 'me', s)).status, 401);
    assert.equal((await get(base, 'me', next)).status, 200);
    const [payload] = s.cookie.slice('kis_session='.length).split('.');
    const forged = Buffer.from(JSON.stringify({ u: 'ada', e: now + 60_000, c: 'x' })).toString('base64url');
    assert.equal((await get(base, 'me', { ...s, cookie: `kis_session=${forged}.${payload}` })).status, 401);
  });

  test('a viewer cannot act: 403 API_FORBIDDEN and the backend is not called', async () => {
    const s = await session(base, 'vera');
    const before = backend.calls.length;
    const res = await post(base, 'jobs/bill-daily/trigger', s, {});
    assert.equal(res.status, 403);
    assert.equal((await errorOf(res)).code, 'API_FORBIDDEN');
    assert.equal((await post(base, 'dead-letters/replay', s, { flow: 'Orders' })).status, 403);
    assert.equal(backend.calls.length, before);
  });

  test('an operator POST needs the CSRF token: without it 403 API_CSRF, with it 200 and the backend gets the arguments', async () => {
    const s = await session(base, 'otto');
    const before = backend.calls.length;
    const refused = await post(base, 'jobs/ship-hourly/trigger', s, { params: { day: '2026-11-30' } }, { csrf: false });
    assert.equal(refused.status, 403);
    assert.equal((await errorOf(refused)).code, 'API_CSRF');
    const wrong = await post(base, 'jobs/ship-hourly/trigger', s, {}, { headers: { 'x-kis-csrf': 'guess' } });
    assert.equal((await errorOf(wrong)).code, 'API_CSRF');
    assert.equal(backend.calls.length, before);
    const ok = await post(base, 'jobs/ship-hourly/trigger', s, { params: { day: '2026-11-30' } });
    assert.equal(ok.status, 200);
    assert.equal((await ok.json() as { job: string }).job, 'ship-hourly');
    assert.deepEqual(backend.calls.at(-1), { method: 'trigger', args: ['ship-hourly', { day: '2026-11-30' }] });
    const replay = await post(base, 'dead-letters/replay', s, { flow: 'Orders', ids: ['Orders.dlq/0@5'], from_start: true });
    assert.equal(replay.status, 200);
    assert.deepEqual(backend.calls.at(-1), { method: 'replay', args: [{ flow: 'Orders', ids: ['Orders.dlq/0@5'], from_start: true }] });
  });

  test('a POST from another origin is refused (API_CSRF), even a login', async () => {
    const s = await session(base, 'otto');
    const res = await post(base, 'runs/run-1/kill', s, {}, { headers: { origin: 'https://evil.example' } });
    assert.equal(res.status, 403);
    assert.equal((await errorOf(res)).code, 'API_CSRF');
    assert.equal((await login(base, 'otto', 'otto-pw', { origin: 'https://evil.example' })).status, 403);
    const host = new URL(base).host;
    assert.equal((await post(base, 'runs/run-1/kill', s, {}, { headers: { origin: `http://${host}` } })).status, 200);
  });

  test('an operator with scenes may trigger and kill only jobs of those scenes', async () => {
    const s = await session(base, 'bill');
    const before = backend.calls.length;
    const other = await post(base, 'jobs/ship-hourly/trigger', s, {});
    assert.equal(other.status, 403);
    assert.match((await errorOf(other)).message, /scene 'shipping'/);
    assert.equal((await post(base, 'runs/run-2/kill', s, {})).status, 403);
    assert.equal((await post(base, 'runs/unknown/kill', s, {})).status, 403);
    assert.equal((await post(base, 'jobs/nope/trigger', s, {})).status, 404);
    assert.equal(backend.calls.length, before);
    assert.equal((await post(base, 'jobs/bill-daily/trigger', s, {})).status, 200);
    assert.equal((await post(base, 'runs/run-1/kill', s, {})).status, 200);
    assert.deepEqual(backend.calls.slice(before).map((c) => c.method), ['trigger', 'kill']);
  });

  test('a bearer token works without CSRF; a wrong one is 401 and does not fall back to the cookie', async () => {
    const auth = { authorization: 'Bearer bot-token-1234567890' };
    const res = await post(base, 'jobs/bill-daily/trigger', undefined, {}, { headers: auth });
    assert.equal(res.status, 200);
    assert.deepEqual(res.headers.getSetCookie(), []);
    const me = await (await get(base, 'me', undefined, auth)).json() as Me;
    assert.equal(me.user, 'bot');
    const s = await session(base, 'ada');
    assert.equal((await get(base, 'me', s, { authorization: 'Bearer wrong' })).status, 401);
  });

  test('bad JSON and bad bodies are 400 API_BAD_REQUEST with where; bad query values too', async () => {
    const s = await session(base, 'otto');
    const bad = await post(base, 'dead-letters/replay', s, '{"flow": ');
    assert.equal(bad.status, 400);
    const e = await errorOf(bad);
    assert.equal(e.code, 'API_BAD_REQUEST');
    assert.match(e.where!, /^body/);
    const missing = await errorOf(await post(base, 'dead-letters/replay', s, { ids: [] }));
    assert.deepEqual([missing.code, missing.where], ['API_BAD_REQUEST', 'flow']);
    const typed = await errorOf(await post(base, 'dead-letters/replay', s, { flow: 'Orders', filter: { since: 'yesterday' } }));
    assert.equal(typed.where, 'filter.since');
    const unknown = await errorOf(await post(base, 'dead-letters/replay', s, { flow: 'Orders', from_strat: true }));
    assert.equal(unknown.where, 'from_strat');
    assert.match(unknown.message, /did you mean 'from_start'/);
    const q = await get(base, 'jobs/x/runs?limit=0', s);
    assert.equal(q.status, 400);
    assert.equal((await errorOf(q)).where, 'query.limit');
    assert.equal((await errorOf(await get(base, 'dead-letters', s))).where, 'query.flow');
    const big = await post(base, 'config/validate', s, JSON.stringify({ files: { 'a.yml': 'x'.repeat(1024 * 1024) } }));
    assert.equal(big.status, 413);
  });

  test('a backend refusal keeps its status and code; an unexpected error is a generic 500', async () => {
    const s = await session(base, 'otto');
    const res = await get(base, 'dead-letters?flow=Nope', s);
    assert.equal(res.status, 404);
    assert.deepEqual(await errorOf(res), { code: 'API_NOT_FOUND', message: "no flow 'Nope'", where: 'flow' });
    assert.deepEqual(backend.calls.at(-1), { method: 'deadLetters', args: [{ flow: 'Nope', limit: 200 }] });
    const boom = await post(base, 'flows/Orders/rewind', s, { to: 'earliest' });
    assert.equal(boom.status, 500);
    const text = await boom.text();
    assert.doesNotMatch(text, /10\.0\.0\.7|secret|at /);
    assert.equal((JSON.parse(text) as { error: { code: string } }).error.code, 'API_INTERNAL');
  });

  test('an unknown route is a 404 JSON answer; a wrong method 405', async () => {
    const s = await session(base, 'vera');
    const res = await get(base, 'nothing/here', s);
    assert.equal(res.status, 404);
    assert.match(res.headers.get('content-type')!, /application\/json/);
    assert.equal((await errorOf(res)).code, 'API_NOT_FOUND');
    assert.equal((await get(base, 'dead-letters/replay', s)).status, 405);
  });

  test('query parameters reach the backend typed', async () => {
    const s = await session(base, 'vera');
    assert.equal((await get(base, 'history?flow=Orders&minutes=15', s)).status, 200);
    assert.deepEqual(backend.calls.at(-1), { method: 'history', args: ['Orders', 15] });
    assert.equal((await get(base, 'dead-letters?flow=Orders&code=KIS_ERR_ROW_REJECTED&since=2026-11-30T00:00:00Z&limit=5', s)).status, 200);
    assert.deepEqual(backend.calls.at(-1), { method: 'deadLetters', args: [{ flow: 'Orders', code: 'KIS_ERR_ROW_REJECTED', since: Date.parse('2026-11-30T00:00:00Z'), limit: 5 }] });
    assert.equal((await get(base, `jobs/${encodeURIComponent('日报/1')}/runs`, s)).status, 200);
    assert.deepEqual(backend.calls.at(-1), { method: 'jobRuns', args: ['日报/1', 50] });
  });

  test('the audit: every action, login, failed login and logout is recorded; api/audit is for admins only', async () => {
    const s = await session(base, 'otto');
    await post(base, 'config/try', s, { files: { 'f.yml': 'kistype: flow' }, flow: 'Orders', rows: [{ a: 1 }] });
    await post(base, 'sources/binlog1/snapshot', s, { tables: ['shop.orders'] });
    await post(base, 'jobs/nope/trigger', (await session(base, 'bill')), {});
    await login(base, 'otto', 'bad');
    const admin = await session(base, 'ada');
    assert.equal((await post(base, 'config/apply', admin, { files: { 'f.yml': null }, message: 'revert' })).status, 200);
    assert.deepEqual(backend.calls.at(-1), { method: 'apply', args: [{ 'f.yml': null }, 'revert', 'ada'] });
    assert.equal((await post(base, 'logout', s, {})).status, 200);
    assert.equal((await get(base, 'audit', s)).status, 403, 'an operator cannot read the audit');
    const res = await get(base, 'audit?limit=1000', admin);
    assert.equal(res.status, 200);
    const { records } = await res.json() as AuditPage;
    assert.ok(records.every((r, i) => i === 0 || records[i - 1]!.at >= r.at), 'newest first');
    const find = (action: string, user: string) => records.find((r) => r.action === action && r.user === user);
    assert.deepEqual({ ...find('try', 'otto'), at: 0 }, {
      at: 0, user: 'otto', role: 'operator', action: 'try', target: 'Orders', detail: { files: ['f.yml'], rows: 1, via: 'cookie' }, outcome: 'ok', replica: 'replica-1',
    });
    assert.deepEqual(find('snapshot', 'otto')?.detail, { tables: ['shop.orders'], via: 'cookie' });
    assert.equal(find('trigger', 'bill')?.outcome, 'refused');
    assert.equal(find('login_failed', 'otto')?.outcome, 'refused');
    assert.equal(find('login', 'ada')?.outcome, 'ok');
    assert.equal(find('apply', 'ada')?.detail['version'], 2);
    assert.equal(find('logout', 'otto')?.outcome, 'ok');
    assert.equal(find('rewind', 'otto')?.outcome, 'failed');
    assert.ok(find('replay', 'otto'));
    assert.equal(records.filter((r) => r.action === 'validate').length, 0);
    const users = await (await get(base, 'users', admin)).json() as Array<{ user: string; auth: string }>;
    assert.deepEqual(users.map((u) => `${u.user}:${u.auth}`), ['vera:password', 'otto:password', 'bill:password', 'ada:password', 'bot:token']);
    assert.doesNotMatch(JSON.stringify(users), /scrypt|bot-token/);
  });

  test('api/openapi.json answers without a session', async () => {
    const res = await get(base, 'openapi.json');
    assert.equal(res.status, 200);
    const doc = await res.json() as { openapi: string; servers: Array<{ url: string }> };
    assert.equal(doc.openapi, '3.1.0');
    assert.deepEqual(doc.servers, [{ url: '/' }]);
  });

  test('without a built page, the base path says to run npm run build', async () => {
    const res = await fetch(base);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type')!, /text\/html/);
    assert.match(await res.text(), /npm run build/);
  });
});

describe('console HTTP layer: the page and the audit trail failing', () => {
  let dir: string;
  let server: ConsoleServer;
  let base: string;
  const backend = memoryBackend();
  let auditUp = false;
  const written: unknown[] = [];
  const audit: AuditLog = {
    ready: async () => {
      if (!auditUp) throw new Error('broker down');
    },
    write: async (r) => {
      if (!auditUp) throw new Error('broker down');
      written.push(r);
    },
    read: async () => [],
    close: async () => undefined,
  };

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'kisflow-console-'));
    await mkdir(path.join(dir, 'assets'));
    await writeFile(path.join(dir, 'index.html'), '<!doctype html><html><head><base href="%KIS_BASE%"><script type="module" src="assets/app.js"></script></head><body></body></html>');
    await writeFile(path.join(dir, 'assets', 'app.js'), 'export const x = 1;\n');
    await writeFile(path.join(dir, 'assets', 'app.css'), 'body { margin: 0 }\n');
    await writeFile(path.join(path.dirname(dir), `${path.basename(dir)}-secret.txt`), 'do not serve');
    server = await serveConsole({ platform: platform(await users(), '/kisflow/'), backend, logger: silentLogger(), version: '1', consoleDir: dir, audit });
    base = server.url;
  });
  after(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
    await rm(path.join(path.dirname(dir), `${path.basename(dir)}-secret.txt`), { force: true });
  });

  test('index.html under a base path, with %KIS_BASE% replaced, for the base and for client-side routes', async () => {
    assert.ok(base.endsWith('/kisflow/'));
    for (const p of ['', 'flows/Orders', 'jobs?x=1']) {
      const res = await fetch(base + p);
      assert.equal(res.status, 200, p);
      assert.match(res.headers.get('content-type')!, /^text\/html/);
      const html = await res.text();
      assert.match(html, /<base href="\/kisflow\/">/);
      assert.doesNotMatch(html, /%KIS_BASE%/);
    }
    const redirect = await fetch(base.slice(0, -1), { redirect: 'manual' });
    assert.equal(redirect.status, 308);
    assert.equal(redirect.headers.get('location'), '/kisflow/');
    assert.equal((await fetch(new URL('/other/', base))).status, 404);
    assert.equal((await fetch(new URL('/api/me', base))).status, 404, 'the API is under the base path only');
  });

  test('files with their MIME types; no way out of the folder', async () => {
    const js = await fetch(`${base}assets/app.js`);
    assert.equal(js.status, 200);
    assert.match(js.headers.get('content-type')!, /^text\/javascript/);
    assert.equal(js.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(await js.text(), 'export const x = 1;\n');
    assert.match((await fetch(`${base}assets/app.css`)).headers.get('content-type')!, /^text\/css/);
    const secret = `${path.basename(dir)}-secret.txt`;
    // Sent as written (fetch would resolve '%2e%2e' itself before the server sees it).
    for (const p of [`..%2f${secret}`, `%2e%2e/${secret}`, `assets/%2E%2E/%2e%2e/${secret}`, `assets/..%2f..%2f${secret}`, `..%5c${secret}`, 'assets%2fapp.js', '%00']) {
      const res = await rawGet(new URL(base).port, `/kisflow/${p}`);
      assert.equal(res.status, 400, p);
      assert.doesNotMatch(res.body, /do not serve|export const/, p);
    }
  });

  test('an action whose audit cannot be written is refused with 503 and does not run; reads still work', async () => {
    const token = { authorization: 'Bearer bot-token-1234567890' };
    const res = await fetch(`${base}api/jobs/bill-daily/trigger`, { method: 'POST', headers: { ...token, 'content-type': 'application/json' }, body: '{}' });
    assert.equal(res.status, 503);
    assert.equal((await errorOf(res)).code, 'API_AUDIT_UNAVAILABLE');
    assert.equal(backend.calls.length, 0);
    assert.equal((await fetch(`${base}api/overview`, { headers: token })).status, 200);
    // No session without its login record either.
    assert.equal((await login(base, 'ada', 'ada-pw')).status, 503);
    auditUp = true;
    assert.equal((await fetch(`${base}api/jobs/bill-daily/trigger`, { method: 'POST', headers: { ...token, 'content-type': 'application/json' }, body: '{}' })).status, 200);
    assert.deepEqual(backend.calls.map((c) => c.method), ['trigger']);
    assert.equal(written.length, 1);
  });
});
