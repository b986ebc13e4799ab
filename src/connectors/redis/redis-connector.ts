// type: redis (ioredis). Save: HSET or SET JSON per row, pipelined per batch (optionally with a TTL); counters
// (param incr) through the apply script, exactly once per source position (see apply-script.ts).
// Order per batch: rows planned (keys, fields), then ONE script call holding the counters and the positions
// (per Cluster slot: one call per slot, with that slot's own positions hash), then write() resolves and the
// runtime may commit the source. A replay after a crash between the two finds its positions and adds nothing.
import { Cluster, Redis } from 'ioredis';
import type { ConnConfig } from '../../config/model.js';
import { recordKey } from '../../core/connector.js';
import type { StorageEnv, RejectedRow, StorageConnector } from '../../core/storage.js';
import { errorMessage, KisError } from '../../kernel/errors.js';
import type { Position, Row } from '../../kernel/types.js';
import { tlsOptions } from '../sql/tls.js';
import { APPLY_LUA, APPLY_SHA, calculateSlot, slotTag } from './apply-script.js';
import type { RedisConnParams } from './params.js';

export interface RedisNode { readonly host: string; readonly port: number }

/** 'h:p,h:p' as written in addrs: none is 127.0.0.1:6379, one a standalone server, several a Cluster. */
export function redisNodes(addrs: readonly string[]): { mode: 'standalone' | 'cluster'; nodes: RedisNode[] } {
  const nodes = (addrs.length === 0 ? ['127.0.0.1:6379'] : addrs).map((a) => {
    const i = a.lastIndexOf(':');
    return i < 0 ? { host: a, port: 6379 } : { host: a.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(a.slice(i + 1)) || 6379 };
  });
  return { mode: nodes.length > 1 ? 'cluster' : 'standalone', nodes };
}

// Server replies that mean "try again later", not "this row is wrong".
const TRANSIENT_REPLY = /^(LOADING|BUSY|CLUSTERDOWN|TRYAGAIN|MASTERDOWN|READONLY|MOVED|ASK|NOREPLICAS)\b/;

/** A reply error about one command's data (WRONGTYPE, not an integer), or undefined for a connection problem. */
export function rowErrorCode(err: unknown): string | undefined {
  if (!(err instanceof Error) || err.name !== 'ReplyError' || TRANSIENT_REPLY.test(err.message)) return undefined;
  return /^[A-Z_]+/.exec(err.message)?.[0] ?? 'ERR';
}

function text(v: unknown): string {
  return typeof v === 'string' ? v : typeof v === 'object' ? JSON.stringify(v) : String(v);
}

interface Planned { readonly index: number; readonly row: Row; readonly key: string; readonly set: string[]; readonly incr: string[]; readonly pos: Position | undefined }

export function createRedisConnector(conn: ConnConfig, params: RedisConnParams, env: StorageEnv): StorageConnector {
  const { mode, nodes } = redisNodes(conn.addrs);
  const prefix = params.prefix ?? `${conn.cid}:`;
  const json = params.format === 'json';
  const ttl = params.ttl_ms ?? 0;
  const incr = Object.entries(params.incr ?? {});
  const incrFields = new Set(incr.map(([f]) => f));
  const where = nodes.map((n) => `${n.host}:${n.port}`).join(',');
  const log = env.logger.child({ connector: conn.cid, type: 'redis', mode });
  let client: Redis | Cluster | undefined;
  let lastError = '';

  const unavailable = (err: unknown, what: string): KisError => {
    lastError = errorMessage(err);
    return new KisError('KIS_ERR_STORAGE_UNAVAILABLE', `connector '${conn.cid}': ${what}: redis ${mode} ${where} unavailable (${errorMessage(err)})`, { cause: err, retriable: true, context: { connector: conn.cid } });
  };
  const need = (): Redis | Cluster => {
    if (client === undefined) throw new KisError('KIS_ERR_CONNECTOR', `connector '${conn.cid}' used before start()`);
    return client;
  };
  const positionsKey = (flow: string, slot?: number): string =>
    `${prefix}kisflow:positions:${env.appId}:${flow}${slot === undefined ? '' : `:{${slotTag(slot)}}`}`;

  const plan = (rows: readonly Row[], positions: readonly (Position | undefined)[], rejected: RejectedRow[]): Planned[] => {
    const out: Planned[] = [];
    rows.forEach((row, index) => {
      const k = recordKey(row, conn.key);
      if (k === undefined) { rejected.push({ index, code: 'KIS_ERR_ROW_MISSING_FIELD', message: `row lacks key field ${conn.key.filter((f) => row[f] == null).join(', ')}` }); return; }
      const set: string[] = [];
      const inc: string[] = [];
      // JSON rows are written whole (jsonOf); hash rows field by field, null fields left out.
      if (!json) for (const f in row) { const v = row[f]; if (v !== undefined && v !== null && !incrFields.has(f)) set.push(f, text(v)); }
      for (const [f, target] of incr) {
        const v = row[f];
        if (v === undefined || v === null) continue;
        const n = typeof v === 'number' ? v : Number(v);
        if (!Number.isFinite(n)) { rejected.push({ index, code: 'NOT_A_NUMBER', message: `counter field ${f} is not a number: ${text(v)}` }); return; }
        inc.push(target, String(n));
      }
      out.push({ index, row, key: prefix + k, set, incr: inc, pos: positions[index] });
    });
    return out;
  };

  const jsonOf = (r: Planned): string => JSON.stringify(r.row);

  // Without counters: plain commands, idempotent, one pipeline (a Cluster auto-pipelines per node).
  const writePlain = async (planned: Planned[], rejected: RejectedRow[]): Promise<void> => {
    const c = need();
    const owner: number[] = [];
    let results: [Error | null, unknown][];
    if (c instanceof Redis) {
      const p = c.pipeline();
      for (const r of planned) {
        if (json) { if (ttl > 0) p.set(r.key, jsonOf(r), 'PX', ttl); else p.set(r.key, jsonOf(r)); owner.push(r.index); }
        else if (r.set.length > 0) { p.hset(r.key, ...r.set); owner.push(r.index); if (ttl > 0) { p.pexpire(r.key, ttl); owner.push(r.index); } }
      }
      results = ((await p.exec()) ?? []) as [Error | null, unknown][];
    } else {
      const calls: Promise<unknown>[] = [];
      for (const r of planned) {
        if (json) { calls.push(ttl > 0 ? c.set(r.key, jsonOf(r), 'PX', ttl) : c.set(r.key, jsonOf(r))); owner.push(r.index); }
        else if (r.set.length > 0) { calls.push(c.hset(r.key, ...r.set)); owner.push(r.index); if (ttl > 0) { calls.push(c.pexpire(r.key, ttl)); owner.push(r.index); } }
      }
      results = await Promise.all(calls.map((p) => p.then((v): [null, unknown] => [null, v], (e: Error): [Error, null] => [e, null])));
    }
    const seen = new Set<number>();
    results.forEach(([err], i) => {
      if (err === null) return;
      const code = rowErrorCode(err);
      if (code === undefined) throw err;
      const index = owner[i]!;
      if (!seen.has(index)) { seen.add(index); rejected.push({ index, code, message: err.message }); }
    });
  };

  const evalApply = async (c: Redis | Cluster, keys: string[], args: string[]): Promise<unknown> => {
    try {
      return await c.evalsha(APPLY_SHA, keys.length, ...keys, ...args);
    } catch (err) {
      if (err instanceof Error && err.message.startsWith('NOSCRIPT')) return c.eval(APPLY_LUA, keys.length, ...keys, ...args);
      throw err;
    }
  };

  const writeCounters = async (planned: Planned[], flow: string, rejected: RejectedRow[]): Promise<void> => {
    const c = need();
    // Standalone: one call. Cluster: one call per slot, with a positions hash tagged to that slot.
    const groups = new Map<number | undefined, Planned[]>();
    for (const r of planned) {
      const slot = mode === 'cluster' ? calculateSlot(r.key) : undefined;
      const g = groups.get(slot);
      if (g === undefined) groups.set(slot, [r]); else g.push(r);
    }
    await Promise.all([...groups].map(async ([slot, group]) => {
      const keys = [positionsKey(flow, slot)];
      const args = [String(ttl)];
      for (const r of group) {
        keys.push(r.key);
        args.push(r.pos === undefined ? '' : `${r.pos.source}/${r.pos.partition}`, r.pos?.offset ?? '', String(r.set.length / 2), String(r.incr.length / 2), ...r.set, ...r.incr);
      }
      const res = (await evalApply(c, keys, args)) as (number | string)[];
      for (let i = 0; i < res.length; i += 2) {
        const reason = String(res[i + 1]);
        if (reason === 'SKIPPED') continue;
        rejected.push({ index: group[Number(res[i]) - 1]!.index, code: /^[A-Z_]+/.exec(reason)?.[0] ?? 'ERR', message: reason });
      }
    }));
  };

  const configErrors = (): KisError[] => (incr.length > 0 && json
    ? [new KisError('KIS_ERR_CONFIG_SCHEMA', `connector '${conn.cid}': params.incr needs format hash (counters are hash fields of the row's key)`, { context: { connector: conn.cid, path: 'params.incr' } })]
    : []);

  const connector: StorageConnector = {
    async check() {
      const errors = configErrors();
      if (errors.length > 0) return errors;
      try {
        await connector.start();
        await need().ping();
        return [];
      } catch (err) {
        return [err instanceof KisError ? err : unavailable(err, 'check')];
      } finally {
        await connector.close();
      }
    },
    async start() {
      const bad = configErrors()[0];
      if (bad !== undefined) throw bad;
      const tls = tlsOptions(params.tls, env.configDir);
      const auth = {
        // The connection name shows in CLIENT LIST, so an operator sees which connector holds it.
        connectionName: `kisflow:${conn.cid}`, connectTimeout: params.connect_timeout_ms ?? 10_000,
        ...(params.username === undefined ? {} : { username: params.username }),
        ...(params.password === undefined ? {} : { password: params.password }),
        ...(tls === undefined ? {} : { tls }),
      };
      // No offline queue: while the server is away a write fails at once as retriable, rather than waiting in memory.
      client = mode === 'cluster'
        ? new Cluster(nodes, { lazyConnect: true, enableOfflineQueue: false, enableAutoPipelining: true, redisOptions: { ...auth, maxRetriesPerRequest: 1 } })
        : new Redis({ ...auth, lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 1, host: nodes[0]!.host, port: nodes[0]!.port, db: params.db ?? 0 });
      client.on('error', (err: Error) => { lastError = err.message; });
      client.on('ready', () => { if (lastError !== '') log.info({ where }, 'redis reachable again'); lastError = ''; });
      try {
        await client.connect();
      } catch (err) {
        // Stop the client's own reconnecting: the runtime retries start() with its backoff.
        const c = client;
        client = undefined;
        c.disconnect();
        throw unavailable(err, 'connecting');
      }
      log.info({ where, prefix, format: json ? 'json' : 'hash', counters: incr.length }, 'redis connector started');
    },
    waiting() {
      if (client === undefined) return [`redis ${mode} ${where} ${lastError === '' ? 'not started' : `unavailable: ${lastError}`}`];
      return client.status === 'ready' ? [] : [`redis ${mode} ${where} ${client.status}${lastError === '' ? '' : `: ${lastError}`}`];
    },
    async close() {
      const c = client;
      client = undefined;
      if (c !== undefined) await c.quit().catch(() => c.disconnect());
    },
    async write(rows, positions, meta) {
      const rejected: RejectedRow[] = [];
      const planned = plan(rows, positions, rejected);
      try {
        if (incr.length > 0) await writeCounters(planned, meta.flow, rejected);
        else await writePlain(planned, rejected);
      } catch (err) {
        if (err instanceof KisError) throw err;
        // A reply error that is not about load or failover is a bug or a grant (NOPERM): retrying will not help.
        if (rowErrorCode(err) !== undefined) throw new KisError('KIS_ERR_CONNECTOR', `connector '${conn.cid}': writing ${rows.length} rows failed: ${errorMessage(err)}`, { cause: err, context: { connector: conn.cid } });
        throw unavailable(err, `writing ${rows.length} rows`);
      }
      return { rejected: rejected.sort((a, b) => a.index - b.index) };
    },
    async lookupMany(keys) {
      const c = need();
      const out = new Map<string, Row>();
      const unique = [...new Set(keys)];
      if (unique.length === 0) return out;
      try {
        if (json) {
          const vals = c instanceof Redis ? await c.mget(unique.map((k) => prefix + k)) : await Promise.all(unique.map((k) => c.get(prefix + k)));
          vals.forEach((v, i) => { if (v !== null) out.set(unique[i]!, JSON.parse(v) as Row); });
        } else if (c instanceof Redis) {
          const p = c.pipeline();
          for (const k of unique) p.hgetall(prefix + k);
          const res = (await p.exec()) ?? [];
          res.forEach(([err, v], i) => { if (err) throw err; if (v && Object.keys(v).length > 0) out.set(unique[i]!, v as Row); });
        } else {
          const vals = await Promise.all(unique.map((k) => c.hgetall(prefix + k)));
          vals.forEach((v, i) => { if (Object.keys(v).length > 0) out.set(unique[i]!, v); });
        }
      } catch (err) {
        throw unavailable(err, `looking up ${unique.length} keys`);
      }
      return out;
    },
  };
  return connector;
}
