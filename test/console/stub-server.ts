// A small stand-in for the console's HTTP layer, for the page's own browser tests while the real one is
// written: serves a built dist/console with %KIS_BASE% replaced, answers the contract's routes with canned
// JSON (typed by src/api/contract.ts, so the fixtures follow the contract), keeps sessions in an HttpOnly
// cookie, requires the CSRF token on every POST, refuses by role, and records every API request so a test
// can check what the page sent. Live numbers move on each request so a refresh shows new figures.
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type {
  ApiError, ApplyResult, AuditPage, ConfigView, DeadLetter, DeadLetterPage, Executor, FunctionDetail, Graph, History,
  HistoryPoint, JobDaily, JobRow, JobRuns, KillResult, Me, Overview, ReplayRequest, ReplayResult, ReplicaStatus, RewindResult, Role,
  SnapshotResult, TriggerResult, TryResult, UserRow, ValidateResult,
} from '../../src/api/contract.js';

export interface RecordedRequest {
  readonly method: string;
  /** The path after `<base>api/`, without the query. */
  readonly route: string;
  readonly query: URLSearchParams;
  readonly body: unknown;
  readonly csrf: string | undefined;
}

export interface StubServer {
  /** The console's address: origin plus base path (ends with '/'). */
  readonly url: string;
  readonly requests: RecordedRequest[];
  /** `${method} ${route}` -> a refusal the stub answers instead (as the real server would, e.g. a lowered role). */
  readonly refuse: Map<string, { status: number; code: string; message: string }>;
  /** Forgets every session (as a server restart or an expired session would): the next request gets 401. */
  dropSessions(): void;
  close(): Promise<void>;
}

const USERS: Readonly<Record<string, { password: string; role: Role; scenes?: string[] }>> = {
  admin: { password: 'admin-pw', role: 'admin' },
  ops: { password: 'ops-pw', role: 'operator', scenes: ['billing'] },
  view: { password: 'view-pw', role: 'viewer' },
};

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml', '.json': 'application/json',
};

const RANK: Readonly<Record<Role, number>> = { viewer: 0, operator: 1, admin: 2 };

// The fixtures' clock: the minute the test started, so runs and letters are recent.
const T0 = Date.now() - (Date.now() % 60_000);

function letters(): DeadLetter[] {
  const mk = (offset: number, fn: string, code: string, message: string, key: string, row: Record<string, unknown> | null): DeadLetter => ({
    id: `MyFlow1.dlq/0@${offset}`, flow: 'MyFlow1', fn, code, message, at: T0 - offset * 60_000, key, attempts: 1,
    source: { id: 'orders', topic: 'orders', partition: 0, offset: String(100 + offset) }, row, raw: row ? null : '{"orderid": 7,',
    headers: { 'kis-code': code, 'kis-fn': fn }, replayed: false,
  });
  return [
    mk(1, 'VerifyOrder', 'KIS_ERR_REJECTED', 'amount must be > 0', 'u1_o1', { userid: 'u1', orderid: 'o1', amount: -5 }),
    mk(2, 'VerifyOrder', 'KIS_ERR_REJECTED', 'userid is missing', 'u?_o2', { orderid: 'o2', amount: 12 }),
    mk(3, 'ParseOrder', 'KIS_ERR_DECODE', 'not JSON', 'k3', null),
  ];
}

function jobs(): JobRow[] {
  return [
    { job: 'nightly-settle', name: 'Nightly settlement', scene: 'billing', trigger: 'cron 0 2 * * *', enabled: true, next_fire: T0 + 18 * 3600_000, last_status: 'succeeded', last_run_at: T0 - 6 * 3600_000, success_ratio: 0.96, runs: 25, runs_what: 'flow:SettleFlow' },
    { job: 'invoice-mail', name: 'Invoice mail', scene: 'billing', trigger: 'every 15m', enabled: true, next_fire: T0 + 600_000, last_status: 'running', last_run_at: T0 - 60_000, success_ratio: 1, runs: 96, runs_what: 'handler:mailInvoices' },
    { job: 'weekly-report', name: 'Weekly report', scene: 'reports', trigger: 'cron 0 6 * * 1', enabled: true, next_fire: T0 + 3 * 86400_000, last_status: 'failed', last_run_at: T0 - 4 * 86400_000, success_ratio: 0.5, runs: 4, runs_what: 'handler:weeklyReport' },
  ];
}

export async function startStubServer(dir: string, base = '/'): Promise<StubServer> {
  const sessions = new Map<string, { user: string; csrf: string }>();
  const requests: RecordedRequest[] = [];
  const refuse = new Map<string, { status: number; code: string; message: string }>();
  let tick = 0;

  const me = (user: string, csrf: string): Me => {
    const u = USERS[user]!;
    return { user, role: u.role, ...(u.scenes ? { scenes: u.scenes } : {}), csrf, app: { app_id: 'shop', mode: 'kafka', version: '0.1.0' } };
  };

  const overview = (): Overview => {
    tick += 1;
    const flowNumbers = (inPerS: number) => ({
      rows_in: 12000 + tick * 10, rows_out: 11900 + tick * 10, errors: 2, dead_letters: 3, in_per_s: inPerS, out_per_s: inPerS - 0.5, lag_records: 40, lag_seconds: 1.5,
    });
    const replica = (id: string, at: number): ReplicaStatus & { gone: boolean } => ({
      replica: id, host: `host-${id}`, pid: 4000 + id.length, started_at: T0 - 3600_000, at, interval_ms: 5000, mode: 'kafka', config_version: 'a1b2c3d4e5f60718',
      ready: true, waiting: [], flows: { MyFlow1: { ...flowNumbers(20), partitions: [0, 1] } }, functions: [], sources: { orders: { type: 'kafka', rows: 12000 }, payments: { type: 'binlog', rows: 800, leader: true } }, jobs_running: [], gone: at < Date.now() - 15_000,
    });
    return {
      app_id: 'shop', mode: 'kafka', now: Date.now(),
      replicas: [replica('r-1', Date.now() - 2000), replica('r-2', Date.now() - 600_000)],
      flows: [
        { flow: 'MyFlow1', name: 'MyFlow1', enabled: true, replicas: 1, ...flowNumbers(42.5) },
        { flow: 'PayFlow', name: 'PayFlow', enabled: true, replicas: 1, ...flowNumbers(7.25), errors: 0, dead_letters: 0 },
      ],
    };
  };

  const history = (): History => {
    const points = (scale: number): HistoryPoint[] => Array.from({ length: 30 }, (_, i) => ({
      t: T0 - (29 - i) * 60_000, in_per_s: scale * (10 + 5 * Math.sin(i / 3)), out_per_s: scale * (9 + 5 * Math.sin(i / 3)),
      errors_per_s: i % 7 === 0 ? 0.5 : 0, dead_letters_per_s: i % 9 === 0 ? 0.2 : 0, lag_records: 40 + (i % 5) * 10, lag_seconds: 1 + (i % 4) * 0.5,
    }));
    return { step_ms: 60_000, flows: { MyFlow1: points(3), PayFlow: points(1) } };
  };

  const graph = (): Graph => {
    tick += 1;
    const n = tick;
    return {
      nodes: [
        { id: 'source:orders', kind: 'source', label: 'orders', type: 'kafka', live: { in_per_s: 40 + n, out_per_s: 40 + n } },
        { id: 'source:payments', kind: 'source', label: 'payments', type: 'binlog', live: { in_per_s: 7, out_per_s: 7 } },
        { id: 'flow:MyFlow1', kind: 'flow', label: 'MyFlow1', type: 'flow', live: { in_per_s: 40 + n, out_per_s: 39 + n, lag_records: 40 } },
        { id: 'flow:PayFlow', kind: 'flow', label: 'PayFlow', type: 'flow', live: { in_per_s: 7, out_per_s: 7, lag_records: 0 } },
        { id: 'function:MyFlow1/VerifyOrder', kind: 'function', flow: 'MyFlow1', label: 'VerifyOrder', type: 'Verify', live: { in_per_s: 40 + n, out_per_s: 39 + n, rejected: 2, dead_lettered: 3, p99_ms: 1.4 } },
        { id: 'function:MyFlow1/SaveOrder', kind: 'function', flow: 'MyFlow1', label: 'SaveOrder', type: 'Save', live: { in_per_s: 39 + n, out_per_s: 39 + n, rejected: 0, dead_lettered: 0, p99_ms: 3.2 } },
        { id: 'function:PayFlow/LoadOrder', kind: 'function', flow: 'PayFlow', label: 'LoadOrder', type: 'Load', live: { in_per_s: 7, out_per_s: 7, rejected: 0, dead_lettered: 0, p99_ms: 2.1 } },
        { id: 'function:PayFlow/SettlePayment', kind: 'function', flow: 'PayFlow', label: 'SettlePayment', type: 'Calculate', live: { in_per_s: 7, out_per_s: 7, rejected: 0, dead_lettered: 0, p99_ms: null } },
        { id: 'connector:Orders', kind: 'connector', label: 'Orders', type: 'kafka', live: { in_per_s: 39 + n, out_per_s: 7 } },
      ],
      edges: [
        { from: 'source:orders', to: 'flow:MyFlow1', kind: 'feeds' },
        { from: 'source:payments', to: 'flow:PayFlow', kind: 'feeds' },
        { from: 'flow:MyFlow1', to: 'function:MyFlow1/VerifyOrder', kind: 'step' },
        { from: 'function:MyFlow1/VerifyOrder', to: 'function:MyFlow1/SaveOrder', kind: 'step' },
        { from: 'function:MyFlow1/SaveOrder', to: 'connector:Orders', kind: 'save' },
        { from: 'flow:PayFlow', to: 'function:PayFlow/LoadOrder', kind: 'step' },
        { from: 'function:PayFlow/LoadOrder', to: 'function:PayFlow/SettlePayment', kind: 'step' },
        { from: 'connector:Orders', to: 'function:PayFlow/LoadOrder', kind: 'load' },
      ],
    };
  };

  const functionDetail = (flow: string, fid: string): FunctionDetail | undefined => {
    const node = graph().nodes.find((x) => x.id === `function:${flow}/${fid}`);
    if (!node) return undefined;
    return {
      flow, fid, fname: fid, mode: node.type, params: { min_amount: 0, required: ['userid', 'orderid', 'amount'] }, connector: null,
      origin: { file: 'flows.yaml', doc: 2 },
      numbers: { flow, fid, mode: node.type, rows_in: 1000, rows_out: 995, rejected: 2, dead_lettered: 3, in_per_s: node.live.in_per_s, p99_ms: node.live.p99_ms ?? null },
      recent_dead_letters: letters().filter((l) => l.fn === fid),
    };
  };

  const deadLetters = (q: URLSearchParams): DeadLetterPage => {
    const all = letters().filter((l) => l.flow === q.get('flow') && (!q.get('code') || l.code === q.get('code')) && (!q.get('fn') || l.fn === q.get('fn')));
    const tally = (k: (l: DeadLetter) => string): Record<string, number> => all.reduce<Record<string, number>>((acc, l) => ({ ...acc, [k(l)]: (acc[k(l)] ?? 0) + 1 }), {});
    return { flow: q.get('flow') ?? '', total: all.length, letters: all, by_code: tally((l) => l.code), by_fn: tally((l) => l.fn) };
  };

  const replay = (req: ReplayRequest): ReplayResult => {
    const chosen = req.ids ? letters().filter((l) => req.ids!.includes(l.id)) : letters().filter((l) => !req.filter?.code || l.code === req.filter.code);
    const decodable = chosen.filter((l) => l.row !== null);
    return {
      flow: req.flow,
      counts: { out: decodable.length, rejected: 0, dead_lettered: 0, no_output: 0, skipped_replayed: 0, skipped_undecodable: chosen.length - decodable.length },
      rows: chosen.map((l) => ({ id: l.id, outcome: l.row ? 'out' : 'skipped_undecodable', from: l.row ? l.fn : null })),
    };
  };

  const runs = (job: string): JobRuns => ({
    job,
    runs: [
      { run_id: `${job}-r3`, job, scene: 'billing', trigger: 'cron', scheduled_at: T0 - 60_000, started_at: T0 - 59_000, ended_at: null, executor: 'r-1', shard: 0, shards: 1, attempt: 1, status: 'running', rows_in: 120, rows_out: 118, error: null, log: ['started', 'read 120 rows'], log_dropped: 0, parent_run: null },
      { run_id: `${job}-r2`, job, scene: 'billing', trigger: 'cron', scheduled_at: T0 - 86400_000, started_at: T0 - 86399_000, ended_at: T0 - 86390_000, executor: 'r-1', shard: 0, shards: 1, attempt: 1, status: 'succeeded', rows_in: 900, rows_out: 900, error: null, log: ['started', 'done'], log_dropped: 0, parent_run: null },
      { run_id: `${job}-r1`, job, scene: 'billing', trigger: 'manual', scheduled_at: T0 - 2 * 86400_000, started_at: T0 - 2 * 86400_000, ended_at: T0 - 2 * 86400_000 + 4000, executor: 'r-2', shard: 0, shards: 1, attempt: 2, status: 'failed', rows_in: 10, rows_out: 0, error: 'KIS_ERR_STORAGE: connection refused', log: ['started', 'storage: connection refused'], log_dropped: 3, parent_run: null },
    ],
  });

  const daily = (): JobDaily => {
    const days = Array.from({ length: 7 }, (_, i) => new Date(T0 - (6 - i) * 86400_000).toISOString().slice(0, 10));
    const row = (day: string, key: string, i: number, ok: number) => ({ day, key, succeeded: ok, finished: 4, ratio: ok / 4 + i * 0 });
    return {
      days,
      by_scene: days.flatMap((d, i) => [row(d, 'billing', i, i % 3 === 0 ? 3 : 4), row(d, 'reports', i, i % 2 === 0 ? 2 : 4)]),
      by_job: days.map((d, i) => row(d, 'nightly-settle', i, 4)),
    };
  };

  const executors = (): Executor[] => [
    { id: 'r-1', host: 'host-r-1', pid: 4003, started: T0 - 3600_000, partitions: [0, 1, 2], heartbeat: Date.now() - 1500, jobs_running: ['invoice-mail-r3'] },
    { id: 'r-2', host: 'host-r-2', pid: 4004, started: T0 - 7200_000, partitions: [3, 4, 5], heartbeat: Date.now() - 4000, jobs_running: [] },
  ];

  const config = (): ConfigView => ({
    version: 'cfg-7f3a9c',
    documents: [
      { kistype: 'global', id: 'global', file: 'global.yaml', doc: 0, yaml: 'kistype: global\napp_id: shop\n', from: 'mounted' },
      { kistype: 'flow', id: 'MyFlow1', file: 'flows.yaml', doc: 0, yaml: 'kistype: flow\nflow_name: MyFlow1\nflows:\n  - fname: VerifyOrder\n  - fname: SaveOrder\n', from: 'mounted' },
      { kistype: 'func', id: 'VerifyOrder', file: 'flows.yaml', doc: 1, yaml: 'kistype: func\nfname: VerifyOrder\nfmode: Verify\n', from: 'edit', edit_version: 2 },
    ],
    modules: [{ file: 'functions/settle.ts', text: 'export function settle(row) {\n  return row;\n}\n', from: 'mounted' }],
    problems: [],
    edits: [{ version: 2, at: T0 - 3600_000, user: 'admin', message: 'stricter amount check', files: ['flows.yaml'] }],
  });

  const users = (): UserRow[] => Object.entries(USERS).map(([user, u]) => ({ user, role: u.role, ...(u.scenes ? { scenes: u.scenes } : {}), auth: 'password' as const }));

  const audit = (): AuditPage => ({
    records: [
      { at: T0 - 60_000, user: 'ops', role: 'operator', action: 'replay', target: 'MyFlow1', detail: { ids: 2 }, outcome: 'ok', replica: 'r-1' },
      { at: T0 - 120_000, user: 'view', role: 'viewer', action: 'trigger', target: 'nightly-settle', detail: {}, outcome: 'refused', replica: 'r-1' },
    ],
  });

  const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  };
  const refuseWith = (res: ServerResponse, status: number, code: string, message: string): void => {
    const body: ApiError = { error: { code, message } };
    send(res, status, body);
  };

  const readBody = (req: IncomingMessage): Promise<unknown> => new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      try { resolve(text ? JSON.parse(text) : undefined); }
      catch { resolve(undefined); }
    });
  });

  const cookieOf = (req: IncomingMessage): string | undefined => /(?:^|;\s*)kis_session=([^;]+)/.exec(req.headers.cookie ?? '')?.[1];

  const api = async (req: IncomingMessage, res: ServerResponse, route: string, query: URLSearchParams): Promise<void> => {
    const method = req.method ?? 'GET';
    const body = method === 'POST' ? await readBody(req) : undefined;
    const csrfHeader = req.headers['x-kis-csrf'];
    requests.push({ method, route, query, body, csrf: typeof csrfHeader === 'string' ? csrfHeader : undefined });

    if (method === 'POST' && route === 'login') {
      const b = body as { user?: string; password?: string } | undefined;
      const u = b?.user ? USERS[b.user] : undefined;
      if (!u || u.password !== b?.password) return refuseWith(res, 401, 'API_UNAUTHENTICATED', 'wrong user or password');
      const sid = randomBytes(16).toString('hex');
      const csrf = randomBytes(16).toString('hex');
      sessions.set(sid, { user: b!.user!, csrf });
      return send(res, 200, me(b!.user!, csrf), { 'set-cookie': `kis_session=${sid}; HttpOnly; SameSite=Strict; Path=${base}` });
    }
    const sid = cookieOf(req);
    const session = sid ? sessions.get(sid) : undefined;
    if (!session) return refuseWith(res, 401, 'API_UNAUTHENTICATED', 'sign in first');
    const role = USERS[session.user]!.role;
    if (method === 'POST' && csrfHeader !== session.csrf) return refuseWith(res, 403, 'API_CSRF', 'the x-kis-csrf header is missing or wrong');
    const refusal = refuse.get(`${method} ${route}`);
    if (refusal) return refuseWith(res, refusal.status, refusal.code, refusal.message);
    if (method === 'POST' && route === 'logout') {
      sessions.delete(sid!);
      return send(res, 200, {}, { 'set-cookie': `kis_session=; HttpOnly; SameSite=Strict; Path=${base}; Max-Age=0` });
    }
    const need = (r: Role): boolean => {
      if (RANK[role] >= RANK[r]) return true;
      refuseWith(res, 403, 'API_FORBIDDEN', `${session.user} is a ${role}; this needs ${r}`);
      return false;
    };
    let m: RegExpExecArray | null;
    if (method === 'GET') {
      if (route === 'me') return send(res, 200, me(session.user, session.csrf));
      if (route === 'overview') return send(res, 200, overview());
      if (route === 'history') return send(res, 200, history());
      if (route === 'graph') return send(res, 200, graph());
      if ((m = /^functions\/([^/]+)\/([^/]+)$/.exec(route))) {
        const d = functionDetail(decodeURIComponent(m[1]!), decodeURIComponent(m[2]!));
        return d ? send(res, 200, d) : refuseWith(res, 404, 'API_NOT_FOUND', 'no such function');
      }
      if (route === 'dead-letters') return query.get('flow') ? send(res, 200, deadLetters(query)) : refuseWith(res, 400, 'API_BAD_REQUEST', 'flow is required');
      if (route === 'jobs') return send(res, 200, jobs());
      if (route === 'jobs/daily') return send(res, 200, daily());
      if ((m = /^jobs\/([^/]+)\/runs$/.exec(route))) return send(res, 200, runs(decodeURIComponent(m[1]!)));
      if (route === 'executors') return send(res, 200, executors());
      if (route === 'config') return send(res, 200, config());
      if (route === 'users') return need('admin') ? send(res, 200, users()) : undefined;
      if (route === 'audit') return need('admin') ? send(res, 200, audit()) : undefined;
    }
    if (method === 'POST') {
      if (route === 'dead-letters/replay') return need('operator') ? send(res, 200, replay(body as ReplayRequest)) : undefined;
      if ((m = /^jobs\/([^/]+)\/trigger$/.exec(route))) {
        const job = decodeURIComponent(m[1]!);
        const row = jobs().find((j) => j.job === job);
        if (!row) return refuseWith(res, 404, 'API_NOT_FOUND', `no job ${job}`);
        if (!need('operator')) return;
        const scenes = USERS[session.user]!.scenes;
        if (role !== 'admin' && scenes && !scenes.includes(row.scene)) return refuseWith(res, 403, 'API_FORBIDDEN', `${session.user} may not act on scene ${row.scene}`);
        const r: TriggerResult = { job, request_id: `req-${requests.length}` };
        return send(res, 200, r);
      }
      if ((m = /^runs\/([^/]+)\/kill$/.exec(route))) {
        if (!need('operator')) return;
        const r: KillResult = { run_id: decodeURIComponent(m[1]!), sent: true };
        return send(res, 200, r);
      }
      if ((m = /^flows\/([^/]+)\/rewind$/.exec(route))) {
        if (!need('operator')) return;
        const r: RewindResult = { flow: decodeURIComponent(m[1]!), partitions: 2, detail: 'group offsets moved, state restored' };
        return send(res, 200, r);
      }
      if ((m = /^sources\/([^/]+)\/snapshot$/.exec(route))) {
        if (!need('operator')) return;
        const r: SnapshotResult = { source: decodeURIComponent(m[1]!), request_id: 'snap-1' };
        return send(res, 200, r);
      }
      if (route === 'config/validate') {
        const files = (body as { files?: Record<string, string | null> } | undefined)?.files ?? {};
        const bad = Object.entries(files).filter(([, text]) => text !== null && text.includes('fmode: Nope'));
        const r: ValidateResult = { valid: bad.length === 0, problems: bad.map(([file, text]) => ({ code: 'KIS_ERR_CONFIG', message: 'fmode must be Verify, Save, Load, Calculate or Expand', file, line: text!.split('\n').findIndex((l) => l.includes('fmode: Nope')) + 1, column: 8 })) };
        return send(res, 200, r);
      }
      if (route === 'config/try') {
        if (!need('operator')) return;
        const rows = (body as { rows?: Record<string, unknown>[] } | undefined)?.rows ?? [];
        const r: TryResult = { problems: [], output: rows.filter((x) => Number(x.amount) > 0), rejects: rows.filter((x) => !(Number(x.amount) > 0)).map((row) => ({ fn: 'VerifyOrder', code: 'KIS_ERR_REJECTED', message: 'amount must be > 0', row })), dead_letters: [], saved: { Orders: rows.filter((x) => Number(x.amount) > 0) } };
        return send(res, 200, r);
      }
      if (route === 'config/apply') {
        if (!need('admin')) return;
        const r: ApplyResult = { version: 3, problems: [] };
        return send(res, 200, r);
      }
    }
    return refuseWith(res, 404, 'API_NOT_FOUND', `no route ${method} ${route}`);
  };

  const index = (): string => readFileSync(path.join(dir, 'index.html'), 'utf8').replaceAll('%KIS_BASE%', base);

  const server = createServer((req, res) => {
    res.setHeader('content-security-policy', "default-src 'self'");
    const u = new URL(req.url ?? '/', 'http://stub');
    if (!u.pathname.startsWith(base)) return refuseWith(res, 404, 'API_NOT_FOUND', 'outside the base path');
    const rel = u.pathname.slice(base.length);
    if (rel.startsWith('api/')) {
      api(req, res, rel.slice(4), u.searchParams).catch((e: unknown) => refuseWith(res, 500, 'STUB', String(e)));
      return;
    }
    const file = path.resolve(dir, decodeURIComponent(rel));
    if (rel !== '' && file.startsWith(path.resolve(dir) + path.sep) && existsSync(file) && statSync(file).isFile() && !file.endsWith('index.html')) {
      res.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream' });
      res.end(readFileSync(file));
      return;
    }
    res.writeHead(200, { 'content-type': TYPES['.html']! });
    res.end(index());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}${base}`,
    requests,
    refuse,
    dropSessions: () => sessions.clear(),
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}
