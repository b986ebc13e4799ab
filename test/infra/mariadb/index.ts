/**
 * Test harness for a real MySQL-protocol binlog: a private MariaDB (Debian's
 * `mariadb-server` binaries, see ensure-deps.sh) with its own datadir under a
 * temp dir, its own socket and a free loopback port, logging a ROW binlog with
 * full row metadata. It never touches a system MariaDB.
 *
 *   const db = await startMariaDb();
 *   try { await db.query('CREATE DATABASE d'); ...db.connectionOptions()... }
 *   finally { await db.stop(); }
 *
 * mysql2 is zongji's own dependency (not ours), so it is loaded through
 * zongji's resolution path rather than imported by name.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import type * as Mysql2 from 'mysql2/promise';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ENSURE_DEPS = path.join(HERE, 'ensure-deps.sh');
const HOST = '127.0.0.1';
const requireFromZongji = createRequire(import.meta.resolve('@vlasky/zongji'));
const mysql = requireFromZongji('mysql2/promise') as typeof Mysql2;

export type Row = Record<string, unknown>;

export interface ConnectionOptions {
  host: string;
  port: number;
  user: string;
  password: string;
}

export interface BinlogPosition {
  file: string;
  position: number;
}

export interface MariaDb {
  readonly host: string;
  /** Stays the same across restart() and kill() + restart(). */
  readonly port: number;
  readonly user: 'root';
  readonly password: '';
  readonly socket: string;
  readonly dataDir: string;
  readonly serverId: number;
  /** pid of the running mariadbd, undefined while it is down. */
  readonly pid: number | undefined;
  /** Connection settings for mysql2 / zongji; root unless another user is given. */
  connectionOptions(user?: string, password?: string): ConnectionOptions;
  /** Runs one statement as root on a pooled connection (text protocol, `?` placeholders). */
  query<T = Row[]>(sql: string, params?: unknown[]): Promise<T>;
  /** A dedicated root connection (for explicit transactions); the caller ends it. */
  connect(): Promise<Mysql2.Connection>;
  /** Graceful shutdown, then start again on the same port; also starts a killed server. */
  restart(): Promise<void>;
  /** SIGKILLs mariadbd (a crash); restart() brings it back with crash recovery. */
  kill(): Promise<void>;
  /** Kills the server and deletes its temp dir. Idempotent. */
  stop(): Promise<void>;
  /** Rotates to a fresh binlog file and purges every older one. */
  purgeBinlogs(): Promise<void>;
  /** `SHOW MASTER STATUS`: the current binlog file and end position. */
  binlogPosition(): Promise<BinlogPosition>;
  /** `@@gtid_binlog_pos`, e.g. '0-1-12' ('' before the first transaction). */
  gtidBinlogPos(): Promise<string>;
  /**
   * Creates `name`@'%'. Each grant is a privilege list ('REPLICATION SLAVE, SELECT'),
   * granted ON *.*, or a full '<privileges> ON <target>' clause.
   */
  createUser(name: string, password: string, grants: string[]): Promise<void>;
  /** The server's error log (startup notes, crash recovery). */
  errorLog(): string;
}

export interface StartMariaDbOptions {
  /** --server-id; default 1. */
  serverId?: number;
  /** Extra mariadbd options appended after the defaults (e.g. '--binlog-checksum=NONE'). */
  extraArgs?: string[];
  /** How long to wait for the server to accept connections. Default 30 s. */
  startTimeoutMs?: number;
}

// ---------------------------------------------------------------------------
// dependencies and process bookkeeping

interface Binaries {
  server: string;
  installer: string;
}

let depsPromise: Promise<Binaries> | undefined;

/** Installs once per process if needed; resolves with the mariadbd and install-db paths. */
export function ensureMariaDbDeps(): Promise<Binaries> {
  depsPromise ??= new Promise<Binaries>((resolve, reject) => {
    execFile('bash', [ENSURE_DEPS], { maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const [server, installer] = stdout.split('\n').map((l) => l.trim()).filter((l) => l !== '');
      if (err || server === undefined || installer === undefined) {
        depsPromise = undefined;
        reject(new Error(`mariadb: ensure-deps.sh failed (${err?.message.split('\n')[0] ?? 'no paths printed'})\n${stderr}`));
        return;
      }
      resolve({ server, installer });
    });
  });
  return depsPromise;
}

interface Live {
  child: ChildProcess | undefined;
  watchdog: ChildProcess | undefined;
  baseDir: string;
}

// Instances still running when the process exits: killed synchronously in the
// 'exit' handler. A SIGKILLed test process never runs that handler, so every
// mariadbd also gets a detached watchdog that kills it when this pid is gone.
const live = new Set<Live>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const l of live) {
      l.child?.kill('SIGKILL');
      l.watchdog?.kill('SIGKILL');
      fs.rmSync(l.baseDir, { recursive: true, force: true });
    }
    live.clear();
  });
}

const WATCHDOG_SCRIPT =
  'while kill -0 "$1" 2>/dev/null; do sleep 1; done; kill -9 "$2" 2>/dev/null; rm -rf -- "$3"';

function spawnWatchdog(serverPid: number, baseDir: string): ChildProcess {
  const w = spawn('sh', ['-c', WATCHDOG_SCRIPT, 'kisflow-mariadb-watchdog', String(process.pid), String(serverPid), baseDir], {
    detached: true,
    stdio: 'ignore',
  });
  w.on('error', () => undefined);
  w.unref();
  return w;
}

function freePort(): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, HOST, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => (port > 0 ? resolve(port) : reject(new Error('mariadb: no free port'))));
    });
  });
}

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    execFile(cmd, args, { maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`mariadb: ${path.basename(cmd)} failed (${err.message.split('\n')[0]})\n${stderr}${stdout}`));
      else resolve();
    });
  });
}

const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function waitExit(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise<void>((resolve) => child.once('exit', () => resolve()));
}

const GRANT_RE = /^[A-Za-z ,_]+(?: ON [A-Za-z0-9_.*`]+)?$/;
const USER_RE = /^[A-Za-z0-9_]{1,32}$/;

// ---------------------------------------------------------------------------

export async function startMariaDb(opts: StartMariaDbOptions = {}): Promise<MariaDb> {
  const { server, installer } = await ensureMariaDbDeps();
  installExitHook();

  const serverId = opts.serverId ?? 1;
  const startTimeoutMs = opts.startTimeoutMs ?? 30_000;
  const baseDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kisflow-mariadb-'));
  const dataDir = path.join(baseDir, 'data');
  const socket = path.join(baseDir, 'mariadb.sock');
  const errorLogFile = path.join(baseDir, 'error.log');
  const asRoot = process.getuid?.() === 0;
  const state: Live = { child: undefined, watchdog: undefined, baseDir };
  live.add(state);

  let port = 0;
  let pool: Mysql2.Pool | undefined;
  let stopped = false;

  const serverArgs = (): string[] => [
    '--no-defaults',
    ...(asRoot ? ['--user=root'] : []),
    `--datadir=${dataDir}`,
    `--tmpdir=${baseDir}`,
    `--socket=${socket}`,
    `--pid-file=${path.join(baseDir, 'mariadb.pid')}`,
    `--log-error=${errorLogFile}`,
    `--port=${port}`,
    `--bind-address=${HOST}`,
    '--skip-name-resolve',
    '--log-bin=binlog',
    '--binlog-format=ROW',
    '--binlog-row-metadata=FULL',
    '--binlog-row-image=FULL',
    `--server-id=${serverId}`,
    '--character-set-server=utf8mb4',
    '--collation-server=utf8mb4_general_ci',
    '--innodb-buffer-pool-size=16M',
    '--skip-innodb-use-native-aio',
    '--max-connections=200',
    ...(opts.extraArgs ?? []),
  ];

  const errorLog = (): string => {
    try {
      return fs.readFileSync(errorLogFile, 'utf8');
    } catch {
      return '';
    }
  };

  const closePool = async (): Promise<void> => {
    const p = pool;
    pool = undefined;
    await p?.end().catch(() => undefined);
  };

  const getPool = (): Mysql2.Pool => {
    if (stopped) throw new Error('mariadb: instance is stopped');
    pool ??= mysql.createPool({
      host: HOST,
      port,
      user: 'root',
      password: '',
      connectionLimit: 4,
      supportBigNumbers: true,
    });
    return pool;
  };

  /** Spawns mariadbd and resolves once root can connect over TCP. */
  const launch = async (): Promise<void> => {
    const child = spawn(server, serverArgs(), { stdio: 'ignore' });
    child.on('error', () => undefined);
    child.unref();
    state.child = child;
    if (child.pid !== undefined) state.watchdog = spawnWatchdog(child.pid, baseDir);

    const deadline = Date.now() + startTimeoutMs;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`mariadb: mariadbd exited during start (code ${child.exitCode}, signal ${child.signalCode})\n${errorLog().slice(-4000)}`);
      }
      try {
        const conn = await mysql.createConnection({ host: HOST, port, user: 'root', password: '', connectTimeout: 1_000 });
        await conn.end();
        return;
      } catch (e) {
        if (Date.now() > deadline) {
          child.kill('SIGKILL');
          throw new Error(`mariadb: not accepting connections on ${HOST}:${port} after ${startTimeoutMs} ms (${(e as Error).message})\n${errorLog().slice(-4000)}`);
        }
      }
      await delay(100);
    }
  };

  const shutdown = async (signal: NodeJS.Signals): Promise<void> => {
    await closePool();
    const child = state.child;
    if (child) {
      child.kill(signal);
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([waitExit(child), new Promise<void>((resolve) => (timer = setTimeout(resolve, 20_000)))]);
      clearTimeout(timer);
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await waitExit(child);
      }
    }
    state.watchdog?.kill('SIGKILL');
    state.child = undefined;
    state.watchdog = undefined;
  };

  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await shutdown('SIGKILL');
    live.delete(state);
    fs.rmSync(baseDir, { recursive: true, force: true });
  };

  try {
    await run(installer, [
      '--no-defaults',
      ...(asRoot ? ['--user=root'] : []),
      `--datadir=${dataDir}`,
      '--auth-root-authentication-method=normal',
      '--skip-test-db',
      '--skip-name-resolve',
    ]);
    // Another process may grab the port between probe and bind: retry with a new one.
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      try {
        await launch();
        break;
      } catch (e) {
        await shutdown('SIGKILL');
        if (attempt >= 3 || !/Address already in use|Can't start server/.test((e as Error).message)) throw e;
      }
    }
  } catch (e) {
    await stop();
    throw e;
  }

  const query = async <T = Row[]>(sql: string, params?: unknown[]): Promise<T> => {
    const [rows] = await getPool().query(sql, params);
    return rows as T;
  };

  const db: MariaDb = {
    host: HOST,
    port,
    user: 'root',
    password: '',
    socket,
    dataDir,
    serverId,
    get pid() {
      return state.child?.pid;
    },
    connectionOptions: (user = 'root', password = '') => ({ host: HOST, port, user, password }),
    query,
    connect: () => mysql.createConnection({ host: HOST, port, user: 'root', password: '', supportBigNumbers: true }),
    async restart() {
      if (stopped) throw new Error('mariadb: instance is stopped');
      await shutdown('SIGTERM');
      await launch();
    },
    async kill() {
      if (stopped) throw new Error('mariadb: instance is stopped');
      await shutdown('SIGKILL');
    },
    stop,
    async purgeBinlogs() {
      await query('FLUSH BINARY LOGS');
      const { file } = await db.binlogPosition();
      // After crash recovery the previous file stays pinned (silently, no warning)
      // until the server writes its next binlog checkpoint, about a second later.
      const deadline = Date.now() + 10_000;
      for (;;) {
        await query('PURGE BINARY LOGS TO ?', [file]);
        const logs = await query<Array<{ Log_name: string }>>('SHOW BINARY LOGS');
        if (logs.length === 1) return;
        if (Date.now() > deadline) {
          throw new Error(`mariadb: binlogs before ${file} still present: ${logs.map((l) => l.Log_name).join(', ')}`);
        }
        await delay(100);
      }
    },
    async binlogPosition() {
      const rows = await query<Array<{ File: string; Position: number | string }>>('SHOW MASTER STATUS');
      const row = rows[0];
      if (!row) throw new Error('mariadb: SHOW MASTER STATUS returned no row (binlog off?)');
      return { file: row.File, position: Number(row.Position) };
    },
    async gtidBinlogPos() {
      const rows = await query<Array<{ pos: string }>>('SELECT @@GLOBAL.gtid_binlog_pos AS pos');
      return rows[0]?.pos ?? '';
    },
    async createUser(name, password, grants) {
      if (!USER_RE.test(name)) throw new Error(`mariadb: invalid user name ${JSON.stringify(name)}`);
      await query(`CREATE USER ?@'%' IDENTIFIED BY ?`, [name, password]);
      for (const grant of grants) {
        if (!GRANT_RE.test(grant)) throw new Error(`mariadb: invalid grant ${JSON.stringify(grant)}`);
        const clause = / ON /.test(grant) ? grant : `${grant} ON *.*`;
        await query(`GRANT ${clause} TO ?@'%'`, [name]);
      }
    },
    errorLog,
  };
  return db;
}
