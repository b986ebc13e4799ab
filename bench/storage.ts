// The storage connectors benchmark (npm run bench:storage; not part of npm test), against hand-written loops
// on the same rows and the same servers (the machine's MariaDB 127.0.0.1:3306 and Redis 127.0.0.1:6379):
//   mysql  : the mysql sink's write() (BEGIN, upsert, positions upsert, COMMIT) vs a mysql2 loop doing one
//            batched INSERT … ON DUPLICATE KEY UPDATE per batch (autocommit);
//   redis  : the redis sink's write() (hash rows, pipelined) vs an ioredis pipeline of HSETs per batch;
//            informative: the counters path (one Lua call with positions) vs a pipeline of HINCRBYFLOATs;
//   lookup : mysql lookupMany through the LookupCache, cold (every key fetched, one IN query per batch) and warm.
// Rounds alternate which side goes first; best and median of the rounds; CPU is this process's (user + system).
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
import type { ConnectorEnv, StorageConnector } from '../src/core/storage.js';
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
async function timed(rows: number, f: () => Promise<void>): Promise<Run> {
  const cpu0 = process.cpuUsage();
  const t0 = nowMs();
  await f();
  const ms = nowMs() - t0;
  const cpu = process.cpuUsage(cpu0);
  return { rowsPerSec: rows / (ms / 1000), cpuUsPerRow: (cpu.user + cpu.system) / rows };
}
const median = (xs: readonly number[]): number => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2; };
const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

function conn(cid: string, type: string, addrs: string[], key: string[]): ConnConfig {
  return { cid, name: cid, type, addrs, key, params: {}, load: [], save: [], origin: { file: 'bench', doc: 0 }, doc: { kistype: 'conn', type, cid } as ConnDoc };
}
const env: ConnectorEnv = { appId: 'bench', configDir: process.cwd(), logger: silentLogger(), clock: Date.now };
const meta = { flow: 'bench_flow', fn: 'save' };

/** Alternating rounds of two sides; prints each round and the summary line. */
async function compare(name: string, a: [string, () => Promise<void>], b: [string, () => Promise<void>], rows: number, goal?: number): Promise<string> {
  const got: Record<string, Run[]> = { [a[0]]: [], [b[0]]: [] };
  for (let r = 0; r < ROUNDS; r++) {
    for (const [label, f] of r % 2 === 0 ? [a, b] : [b, a]) {
      const run = await timed(rows, f);
      got[label]!.push(run);
      console.log(`  ${name} round ${r + 1} ${label.padEnd(16)} ${fmt(run.rowsPerSec).padStart(9)} rows/s  CPU ${run.cpuUsPerRow.toFixed(1)} µs/row`);
    }
  }
  const best = (l: string): number => Math.max(...got[l]!.map((x) => x.rowsPerSec));
  const med = (l: string): number => median(got[l]!.map((x) => x.rowsPerSec));
  const cpu = (l: string): number => median(got[l]!.map((x) => x.cpuUsPerRow));
  const ratio = best(a[0]) / best(b[0]);
  return `${name}: ${a[0]} ${fmt(best(a[0]))} rows/s best, ${fmt(med(a[0]))} median, CPU ${cpu(a[0]).toFixed(1)} µs/row | ${b[0]} ${fmt(best(b[0]))} best, ${fmt(med(b[0]))} median, CPU ${cpu(b[0]).toFixed(1)} µs/row | ratio best ${ratio.toFixed(3)}, median ${(med(a[0]) / med(b[0])).toFixed(3)}${goal === undefined ? '' : ratio >= goal ? ` (goal ≥ ${goal}: met)` : ` (goal ≥ ${goal}: NOT met)`}`;
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
    const runSink = async (): Promise<void> => { for (const b of batches) await sink.write!(b.rows, b.positions, meta); };
    const runLoop = async (): Promise<void> => { for (const b of batches) await pool.query(loopSql, [b.rows.map((r) => COLS.map((c) => r[c]))]); };
    await runSink(); await runLoop(); // warm-up: the tables hold every key, so rounds measure updates and inserts alike
    summary.push(await compare('mysql upsert', ['sink', runSink], ['mysql2 loop', runLoop], ROWS, 0.9));
    const [[a], [b]] = [await pool.query(`SELECT COUNT(*) n, SUM(amount) s FROM bench_sink`), await pool.query(`SELECT COUNT(*) n, SUM(amount) s FROM bench_loop`)] as unknown as [[Row], [Row]];
    if (JSON.stringify(a) !== JSON.stringify(b)) throw new Error(`BENCHMARK INVALID: tables differ ${JSON.stringify(a)} vs ${JSON.stringify(b)}`);

    // Lookups: batches of BATCH keys; cold = a fresh cache each round (one IN query per batch), warm = all keys cached.
    const keyBatches = batches.map((x) => x.rows.map((r) => String(r['id'])));
    const lookRows = keyBatches.reduce((n, k) => n + k.length, 0);
    const warm = new LookupCache(sink as Required<StorageConnector>, { maxEntries: KEYS * 2, ttlMs: 3_600_000, clock: Date.now });
    for (const k of keyBatches) await warm.lookupIn(0, k);
    let found = 0;
    const cold = async (): Promise<void> => { const c = new LookupCache(sink as Required<StorageConnector>, { maxEntries: BATCH, ttlMs: 3_600_000, clock: Date.now }); for (const k of keyBatches) { c.dropPartition(0); found += (await c.lookupIn(0, k)).size; } };
    const hot = async (): Promise<void> => { for (const k of keyBatches) found += (await warm.lookupIn(0, k)).size; };
    summary.push(await compare('mysql lookup', ['warm cache', hot], ['cold cache', cold], lookRows));
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
    const runSink = async (): Promise<void> => { for (const b of batches) await sink.write!(b.rows, b.positions, meta); };
    const runLoop = async (): Promise<void> => {
      for (const b of batches) {
        const p = r.pipeline();
        for (const row of b.rows) { const args: string[] = []; for (const f in row) args.push(f, text(row[f])); p.hset(`${prefix}l:${text(row['id'])}`, ...args); }
        await p.exec();
      }
    };
    await runSink(); await runLoop();
    summary.push(await compare('redis hash', ['sink', runSink], ['ioredis pipeline', runLoop], ROWS, 0.9));
    // Counters: each round is a new flow, so its positions start empty and every row applies.
    let round = 0;
    const runCounters = async (): Promise<void> => { const m = { flow: `bench_${round++}`, fn: 'save' }; for (const b of batches) await counters.write!(b.rows, b.positions, m); };
    const runIncrLoop = async (): Promise<void> => {
      for (const b of batches) {
        const p = r.pipeline();
        for (const row of b.rows) { const args: string[] = []; for (const f in row) if (f !== 'amount') args.push(f, text(row[f])); p.hset(`${prefix}m:${text(row['id'])}`, ...args); p.hincrbyfloat(`${prefix}m:${text(row['id'])}`, 'revenue', text(row['amount'])); }
        await p.exec();
      }
    };
    summary.push(await compare('redis counters', ['sink (Lua, positions)', runCounters], ['ioredis pipeline', runIncrLoop], ROWS));
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
