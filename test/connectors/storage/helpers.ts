// Shared by the storage connector tests: the machine's Redis, MariaDB and PostgreSQL (started with the
// machine's own command when they do not answer), a fresh database or key prefix per test, and a ConnConfig.
import { execFileSync, execSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createPool } from 'mysql2';
import type { Pool as MyPool } from 'mysql2/promise';
import pg from 'pg';
import type { ConnDoc } from '../../../src/config/codecs.js';
import type { ConnConfig } from '../../../src/config/model.js';
import type { StorageEnv } from '../../../src/core/storage.js';
import type { Position } from '../../../src/kernel/types.js';
import { silentLogger } from '../../../src/observability/logger.js';
import { waitUntil } from '../../helpers.js';

export const REDIS = { host: '127.0.0.1', port: 6379 };
export const MARIADB = { host: '127.0.0.1', port: 3306, user: 'root' };
export const PG = { host: '127.0.0.1', port: 5432, database: 'test' };

const START: Record<string, () => string> = {
  redis: () => 'redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log',
  postgres: () => `pg_ctlcluster --skip-systemctl-redirect ${readdirSync('/etc/postgresql')[0] ?? '15'} main start`,
  mariadb: () => 'start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd',
};

function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.setTimeout(1000);
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
    s.once('timeout', () => { s.destroy(); resolve(false); });
  });
}

/** Waits until the server answers on its port, starting it once with the machine's command if it does not. */
export async function ensureServer(kind: 'redis' | 'mariadb' | 'postgres'): Promise<void> {
  const port = kind === 'redis' ? REDIS.port : kind === 'mariadb' ? MARIADB.port : PG.port;
  if (await answers(port)) return;
  const cmd = START[kind]!();
  try {
    execSync(cmd, { stdio: 'pipe', timeout: 30_000 });
  } catch (err) {
    throw new Error(`${kind} does not answer on 127.0.0.1:${port} and starting it failed; start it with: ${cmd} (${(err as Error).message})`);
  }
  for (let i = 0; i < 100; i++) {
    if (await answers(port)) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${kind} still does not answer on 127.0.0.1:${port} 20 s after: ${cmd}`);
}

export const rand = (): string => randomBytes(4).toString('hex');

export function testEnv(clock: () => number = () => Date.UTC(2026, 10, 30, 12)): StorageEnv {
  return { appId: 'kis_test_app', configDir: mkdtempSync(path.join(os.tmpdir(), 'kis-storage-')), logger: silentLogger(), clock };
}

export function connConfig(cid: string, type: string, addrs: readonly string[], key: readonly string[], params: Record<string, unknown> = {}): ConnConfig {
  return { cid, name: cid, type, addrs, key, params, load: [], save: [], origin: { file: 'test.yml', doc: 0 }, doc: { kistype: 'conn', type, cid } as ConnDoc };
}

/** Positions of Kafka-like rows: source `s`, partition p, offsets from `first`. */
export function positions(n: number, first = 0, p = 0, source = 'orders'): Position[] {
  return Array.from({ length: n }, (_, i) => ({ source, partition: p, offset: String(first + i) }));
}

export interface MysqlDb { readonly name: string; readonly pool: MyPool; drop(): Promise<void> }

/** A fresh MariaDB database kis_t_<random>, and a root pool on it. */
export async function freshMysqlDb(): Promise<MysqlDb> {
  await ensureServer('mariadb');
  const name = `kis_t_${rand()}`;
  const admin = createPool({ ...MARIADB, connectionLimit: 1 }).promise();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const pool = createPool({ ...MARIADB, database: name, connectionLimit: 4 }).promise();
  return {
    name, pool,
    async drop() {
      await pool.query(`DROP DATABASE ${name}`);
      await pool.end();
    },
  };
}

export interface PgDb { readonly name: string; readonly pool: pg.Pool; readonly user: string; drop(): Promise<void> }

let pgUser: string | undefined;
async function findPgUser(): Promise<string> {
  if (pgUser !== undefined) return pgUser;
  for (const user of ['postgres', 'root']) {
    const c = new pg.Client({ ...PG, user });
    try { await c.connect(); await c.end(); pgUser = user; return user; } catch { /* next */ }
  }
  throw new Error('PostgreSQL on 127.0.0.1:5432 accepts neither user postgres nor root (trust auth expected) on database test');
}

/** A fresh PostgreSQL database kis_t_<random>. */
export async function freshPgDb(): Promise<PgDb> {
  await ensureServer('postgres');
  const user = await findPgUser();
  const name = `kis_t_${rand()}`;
  const admin = new pg.Client({ ...PG, user });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const pool = new pg.Pool({ ...PG, user, database: name, max: 4 });
  pool.on('error', () => undefined);
  return {
    name, pool, user,
    async drop() {
      await pool.end();
      const a = new pg.Client({ ...PG, user });
      await a.connect();
      await a.query(`DROP DATABASE ${name} WITH (FORCE)`);
      await a.end();
    },
  };
}

export function waitFor<T>(what: string, f: () => Promise<T | undefined>, ms = 5000): Promise<T> {
  return waitUntil(what, f, ms, 20);
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => { const a = srv.address() as net.AddressInfo; srv.close(() => resolve(a.port)); });
  });
}

export interface RedisCluster { readonly ports: readonly number[]; stop(): void }

/**
 * A private three-master Redis Cluster from the machine's redis-server (own ports, own temp dir), on the
 * wanted ports when they are free (the seed's 9988, 9999, 9990), else on free ones. stop() shuts it down.
 */
export async function startRedisCluster(wanted: readonly number[]): Promise<RedisCluster> {
  const ports = (await Promise.all(wanted.map(portFree))).every(Boolean) ? [...wanted] : [await freePort(), await freePort(), await freePort()];
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kis-redis-cluster-'));
  const stop = (): void => {
    for (const p of ports) { try { execFileSync('redis-cli', ['-p', String(p), 'shutdown', 'nosave'], { stdio: 'ignore', timeout: 5000 }); } catch { /* already down */ } }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (const p of ports) {
      execFileSync('redis-server', ['--port', String(p), '--bind', '127.0.0.1', '--cluster-enabled', 'yes', '--cluster-config-file', path.join(dir, `nodes-${p}.conf`),
        '--dir', dir, '--save', '', '--appendonly', 'no', '--daemonize', 'yes', '--logfile', path.join(dir, `${p}.log`), '--pidfile', path.join(dir, `${p}.pid`)], { timeout: 10_000 });
    }
    for (const p of ports) { for (let i = 0; i < 50 && !(await answers(p)); i++) await new Promise((r) => setTimeout(r, 100)); }
    execFileSync('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'], { stdio: 'pipe', timeout: 30_000 });
    for (let i = 0; i < 100; i++) {
      const info = execFileSync('redis-cli', ['-p', String(ports[0]), 'cluster', 'info'], { encoding: 'utf8' });
      if (info.includes('cluster_state:ok')) return { ports, stop };
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error('the private Redis Cluster did not reach cluster_state:ok');
  } catch (err) {
    stop();
    throw new Error(`could not start a private Redis Cluster with redis-server/redis-cli (Debian redis-server): ${(err as Error).message}`);
  }
}
