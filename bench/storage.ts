// The storage connectors benchmark (npm run bench:storage; not part of npm test), against hand-written loops
// on the same rows and the same servers (the machine's MariaDB 127.0.0.1:3306 and Redis 127.0.0.1:6379):
//   mysql  : the mysql sink's write() (BEGIN, upsert, positions upsert, COMMIT) vs a mysql2 loop doing one
//            batched INSERT … ON DUPLICATE KEY UPDATE per batch (autocommit);
//   redis  : the redis sink's write() (hash rows, pipelined) vs an ioredis pipeline of HSETs per batch;
//            informative: the counters path (one Lua call with positions) vs a pipeline of HINCRBYFLOATs;
//   lookup : mysql lookupMany through the LookupCache, cold (every key fetched, one IN query per batch) and warm.
// The sides alternate batch by batch (fair under a shared machine's load); best and median of the rounds;
// CPU is this process's (user + system) during each side's calls.
// Env: BENCH_ROWS (100000), BENCH_BATCH (500), BENCH_ROUNDS (5), BENCH_KEYS (distinct keys, 20000).
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { Redis } from 'ioredis';
import { createPool } from 'mysql2';
import type { ConnDoc } from '../src/config/codecs.js';
import type { ConnConfig } from '../src/config/model.js';
import { LookupCache } from '../src/connectors/lookup-cache.js';
import { createMysqlConnector } from '../src/connectors/mysql/index.js';
import { createRedisConnector } from '../src/connectors/redis/index.js';
import type { StorageEnv, StorageConnector } from '../src/core/storage.js';
import type { Position, Row } from '../src/kernel/types.js';
import { silentLogger } from '../src/observability/logger.js';
import { envInt, nowMs } from './common.js';

const ROWS = envInt('BENCH_ROWS', 100_000);
const BATCH = Math.max(1, envInt('BENCH_BATCH', 500));
const ROUNDS = Math.max(1, envInt('BENCH_ROUNDS', 5));
const KEYS = Math.max(1, envInt('BENCH_KEYS', 20_000));
const COLS = ['id', 'userid', 'amount', 'qty', 'status', 'region', 'ts'] as const;
const STATUSES = ['paid', 'shipped', 'pending'] as const;
const REGIONS = ['north', 'south', 'east', 'west'] as const;

function makeRow(i: number): Row {
  const h = Math.imul(i ^ 0x9e3779b9, 0x85ebca6b) >>> 0;
  return { id: `k${i % KEYS}`, userid: `u${h % 10_007}`, amount: 1 + (h % 50_000) / 100, qty: 1 + (h >>> 20) % 7, status: STATUSES[i % 3]!, region: REGIONS[(h >>> 12) % 4]!, ts: 1_764_500_000_000 + i };
}
const batches: { rows: Row[]; positions: Position[] }[] = [];
for (let s = 0; s < ROWS; s += BATCH) {
  const n = Math.min(BATCH, ROWS - s);
  batches.push({ rows: Array.from({ length: n }, (_, k) => makeRow(s + k)), positions: Array.from({ length: n }, (_, k) => ({ source: 'orders', partition: 0, offset: String(s + k) })) });
}

interface Run { readonly rowsPerSec: number; readonly cpuUsPerRow: number }
interface Meter { ms: number; cpuUs: number }

/** Times one call of a side, adding its wall time and this process's CPU to the meter. */
async function metered(m: Meter, f: () => Promise<unknown>): Promise<void> {
  const cpu0 = process.cpuUsage();
  const t0 = nowMs();
  await f();
  m.ms += nowMs() - t0;
  const cpu = process.cpuUsage(cpu0);
  m.cpuUs += cpu.user + cpu.system;
}
const median = (xs: readonly number[]): number => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2; };
const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

function conn(cid: string, type: string, addrs: string[], key: string[]): ConnConfig {
  return { cid, name: cid, type, addrs, key, params: {}, load: [], save: [], origin: { file: 'bench', doc: 0 }, doc: { kistype: 'conn', type, cid } as ConnDoc };
}
const env: StorageEnv = { appId: 'bench', configDir: process.cwd(), logger: silentLogger(), clock: Date.now };
const meta = { flow: 'bench_flow', fn: 'save' };

type Side = readonly [label: string, step: (i: number) => Promise<unknown>];

/**
 * Rounds of two sides over the same batches. The sides alternate batch by batch (which goes first flips
 * every batch), so that both meet the same load on a shared machine; each side's rate is its rows over the
 * sum of its own batch times. Prints each round and returns the summary line.
 */
async function compare(name: string, a: Side, b: Side, steps: number, rowsPerRound: number, goal?: number): Promise<string> {
  const got: Record<string, Run[]> = { [a[0]]: [], [b[0]]: [] };
  for (let r = 0; r < ROUNDS; r++) {
    const ma: Meter = { ms: 0, cpuUs: 0 };
    const mb: Meter = { ms: 0, cpuUs: 0 };
    for (let i = 0; i < steps; i++) {
      if ((i + r) % 2 === 0) { await metered(ma, () => a[1](i)); await metered(mb, () => b[1](i)); } else { await metered(mb, () => b[1](i)); await metered(ma, () => a[1](i)); }
    }
    for (const [label, m] of [[a[0], ma], [b[0], mb]] as const) {
      const run = { rowsPerSec: rowsPerRound / (m.ms / 1000), cpuUsPerRow: m.cpuUs / rowsPerRound };
      got[label]!.push(run);
      console.log(`  ${name} round ${r + 1} ${label.padEnd(24)} ${fmt(run.rowsPerSec).padStart(10)} rows/s  CPU ${run.cpuUsPerRow.toFixed(1)} µs/row`);
    }
  }
  const best = (l: string): number => Math.max(...got[l]!.map((x) => x.rowsPerSec));
  const med = (l: string): number => median(got[l]!.map((x) => x.rowsPerSec));
  const cpu = (l: string): number => median(got[l]!.map((x) => x.cpuUsPerRow));
  const ratio = best(a[0]) / best(b[0]);
  // Both sides ran under the same load in a round: the median of the per-round ratios is the steadier figure.
  const perRound = median(got[a[0]]!.map((x, i) => x.rowsPerSec / got[b[0]]![i]!.rowsPerSec));
  const verdict = goal === undefined ? '' : ` (goal ≥ ${goal}: ${ratio >= goal ? 'met' : 'NOT met'})`;
  return `${name}: ${a[0]} ${fmt(best(a[0]))} rows/s best, ${fmt(med(a[0]))} median, CPU ${cpu(a[0]).toFixed(1)} µs/row | ${b[0]} ${fmt(best(b[0]))} best, ${fmt(med(b[0]))} median, CPU ${cpu(b[0]).toFixed(1)} µs/row | ratio best/best ${ratio.toFixed(3)}, median of per-round ratios ${perRound.toFixed(3)}${verdict}`;
}

async function benchMysql(summary: string[]): Promise<void> {
  const db = `kis_bench_${randomBytes(3).toString('hex')}`;
  const admin = createPool({ host: '127.0.0.1', port: 3306, user: 'root', connectionLimit: 1 }).promise();
  await admin.query(`CREATE DATABASE ${db}`);
  const pool = createPool({ host: '127.0.0.1', port: 3306, user: 'root', database: db, connectionLimit: 1 }).promise();
  const ddl = '(id VARCHAR(32) PRIMARY KEY, userid VARCHAR(16), amount DECIMAL(12,2), qty INT, status VARCHAR(16), region VARCHAR(16), ts BIGINT)';
  await pool.query(`CREATE TABLE bench_sink ${ddl}`);
  await pool.query(`CREATE TABLE bench_loop ${ddl}`);
  const sink = createMysqlConnector(conn('bench_mysql', 'mysql', ['127.0.0.1:3306'], ['id']), { table: 'bench_sink', database: db, pool_size: 1 }, env);
  await sink.start();
  const upd = COLS.slice(1).map((c) => `${c}=VALUES(${c})`).join(',');
  const loopSql = `INSERT INTO bench_loop (${COLS.join(',')}) VALUES ? ON DUPLICATE KEY UPDATE ${upd}`;
  try {
    const sinkStep = (i: number): Promise<unknown> => sink.write!(batches[i]!.rows, batches[i]!.positions, meta);
    const loopStep = (i: number): Promise<unknown> => pool.query(loopSql, [batches[i]!.rows.map((r) => COLS.map((c) => r[c]))]);
    // Warm-up: afterwards both tables hold every key, so every round measures the same mix of updates.
    for (let i = 0; i < batches.length; i++) { await sinkStep(i); await loopStep(i); }
    summary.push(await compare('mysql upsert', ['sink (txn + positions)', sinkStep], ['mysql2 loop', loopStep], batches.length, ROWS, 0.9));
    const [[a], [b]] = [await pool.query(`SELECT COUNT(*) n, SUM(amount) s FROM bench_sink`), await pool.query(`SELECT COUNT(*) n, SUM(amount) s FROM bench_loop`)] as unknown as [[Row], [Row]];
    if (JSON.stringify(a) !== JSON.stringify(b)) throw new Error(`BENCHMARK INVALID: tables differ ${JSON.stringify(a)} vs ${JSON.stringify(b)}`);

    // Lookups: batches of BATCH keys; cold = a fresh cache each round (one IN query per batch), warm = all keys cached.
    const keyBatches = batches.map((x) => x.rows.map((r) => String(r['id'])));
    const lookRows = keyBatches.reduce((n, k) => n + k.length, 0);
    const warm = new LookupCache(sink as Required<StorageConnector>, { maxEntries: KEYS * 2, ttlMs: 3_600_000, clock: Date.now });
    for (const k of keyBatches) await warm.lookupIn(0, k);
    let found = 0;
    const coldCache = new LookupCache(sink as Required<StorageConnector>, { maxEntries: BATCH, ttlMs: 3_600_000, clock: Date.now });
    const cold = async (i: number): Promise<void> => { coldCache.dropPartition(0); found += (await coldCache.lookupIn(0, keyBatches[i]!)).size; };
    const hot = async (i: number): Promise<void> => { found += (await warm.lookupIn(0, keyBatches[i]!)).size; };
    summary.push(await compare('mysql lookup', ['warm cache', hot], ['cold cache (1 IN query/batch)', cold], keyBatches.length, lookRows));
    if (found === 0) throw new Error('BENCHMARK INVALID: lookups found nothing');
  } finally {
    await sink.close();
    await pool.end();
    await admin.query(`DROP DATABASE ${db}`);
    await admin.end();
  }
}

async function benchRedis(summary: string[]): Promise<void> {
  const prefix = `kis_bench_${randomBytes(3).toString('hex')}:`;
  const r = new Redis({ host: '127.0.0.1', port: 6379 });
  const sink = createRedisConnector(conn('bench_redis', 'redis', ['127.0.0.1:6379'], ['id']), { prefix: `${prefix}s:` }, env);
  const counters = createRedisConnector(conn('bench_redis_c', 'redis', ['127.0.0.1:6379'], ['id']), { prefix: `${prefix}c:`, incr: { amount: 'revenue' } }, env);
  await sink.start();
  await counters.start();
  const text = (v: unknown): string => (typeof v === 'string' ? v : String(v));
  try {
    const sinkStep = (i: number): Promise<unknown> => sink.write!(batches[i]!.rows, batches[i]!.positions, meta);
    const loopStep = (i: number): Promise<unknown> => {
      const p = r.pipeline();
      for (const row of batches[i]!.rows) { const args: string[] = []; for (const f in row) args.push(f, text(row[f])); p.hset(`${prefix}l:${text(row['id'])}`, ...args); }
      return p.exec();
    };
    for (let i = 0; i < batches.length; i++) { await sinkStep(i); await loopStep(i); }
    summary.push(await compare('redis hash', ['sink', sinkStep], ['ioredis pipeline', loopStep], batches.length, ROWS, 0.9));
    // Counters: every round is a new flow, so its positions start empty and every row applies (no replay).
    let flowN = 0;
    const countersStep = (i: number): Promise<unknown> => { if (i === 0) flowN++; return counters.write!(batches[i]!.rows, batches[i]!.positions, { flow: `bench_${flowN}`, fn: 'save' }); };
    const incrStep = (i: number): Promise<unknown> => {
      const p = r.pipeline();
      for (const row of batches[i]!.rows) { const args: string[] = []; for (const f in row) if (f !== 'amount') args.push(f, text(row[f])); p.hset(`${prefix}m:${text(row['id'])}`, ...args); p.hincrbyfloat(`${prefix}m:${text(row['id'])}`, 'revenue', text(row['amount'])); }
      return p.exec();
    };
    summary.push(await compare('redis counters', ['sink (Lua + positions)', countersStep], ['ioredis pipeline', incrStep], batches.length, ROWS));
  } finally {
    await sink.close();
    await counters.close();
    let cursor = '0';
    do {
      const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 5000);
      if (keys.length > 0) await r.del(...keys);
      cursor = next;
    } while (cursor !== '0');
    await r.quit();
  }
}

async function main(): Promise<void> {
  console.log(`kisflow storage benchmark: ${new Date().toISOString()}, node ${process.version}, ${os.cpus().length} cpus; ${ROWS} rows in batches of ${BATCH} over ${KEYS} keys, ${ROUNDS} rounds`);
  const summary: string[] = [];
  await benchMysql(summary);
  await benchRedis(summary);
  console.log(`\nsummary:\n  ${summary.join('\n  ')}`);
}

main().catch((err: unknown) => { console.error(err); process.exit(1); });
