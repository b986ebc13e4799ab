// A storage connector (redis, mysql, postgres, sqlite) as the runtime sees it: capabilities, not a topic.
//   Save:    write() in one transaction with the source positions; rows the store refused go to the flow's
//            dead-letter topic with the store's code, the rest is written.
//   Load:    a lookup join by key, one query per batch, through a bounded per-partition cache with a TTL.
//   Resume:  the positions stored with the data (a source resumes after them when its commit is behind).
// While the store is unreachable, a write or lookup waits and tries again with backoff (readiness says so),
// so nothing is committed and nothing lost; the flow goes on by itself when the store is back.
import type { ConnConfig } from '../config/model.js';
import { recordKey, type Connector, type SaveMeta } from '../core/connector.js';
import type { DeadLetter } from '../core/dead-letter.js';
import type { ConnectorEnv } from '../core/plugins.js';
import type { StorageConnector } from '../core/storage.js';
import { errorMessage, isKisError, KisError } from '../kernel/errors.js';
import { deadLetterTopic } from '../kernel/names.js';
import type { Position, Row } from '../kernel/types.js';
import { LookupCache } from './lookup-cache.js';

const DEFAULT_CACHE_KEYS = 10_000;
const DEFAULT_CACHE_TTL_MS = 60_000;
const FIRST_BACKOFF_MS = 200;
const MAX_BACKOFF_MS = 5_000;

export function bindStorage(conn: ConnConfig, storage: StorageConnector, env: ConnectorEnv): Connector {
  let closed = false;
  let waitingFor: string | undefined;
  const log = env.logger.child({ connector: conn.cid });

  /** Runs `op` until it succeeds or fails for a reason other than the store being away. */
  const untilReachable = async <T>(what: string, op: () => Promise<T>): Promise<T> => {
    let backoff = FIRST_BACKOFF_MS;
    for (;;) {
      try {
        const out = await op();
        if (waitingFor !== undefined) log.info({ what }, 'storage reachable again; going on');
        waitingFor = undefined;
        return out;
      } catch (err) {
        if (!(isKisError(err) && err.retriable) || closed) throw err;
        if (waitingFor === undefined) log.warn({ what, err: errorMessage(err), retryInMs: backoff }, 'storage unavailable; waiting for it (nothing is committed meanwhile)');
        waitingFor = `connector '${conn.cid}': ${errorMessage(err)}`;
        await new Promise((r) => setTimeout(r, backoff));
        backoff = Math.min(MAX_BACKOFF_MS, backoff * 2);
      }
    }
  };

  const write = storage.write?.bind(storage);
  const lookupMany = storage.lookupMany?.bind(storage);
  const stored = storage.storedPositions?.bind(storage);
  const cacheKeys = typeof conn.params['cache_keys'] === 'number' ? conn.params['cache_keys'] : DEFAULT_CACHE_KEYS;
  const cacheTtl = typeof conn.params['cache_ttl_ms'] === 'number' ? conn.params['cache_ttl_ms'] : DEFAULT_CACHE_TTL_MS;
  const cache = lookupMany
    ? new LookupCache({ lookupMany: (keys) => untilReachable(`looking up ${keys.length} keys`, () => lookupMany(keys)) }, { maxEntries: cacheKeys, ttlMs: cacheTtl, clock: env.clock })
    : undefined;

  return {
    config: conn,
    keyOf: (row: Row) => recordKey(row, conn.key),
    ...(write ? {
      writer: {
        async save(rows: readonly Row[], positions: readonly (Position | undefined)[], meta: SaveMeta): Promise<void> {
          const res = await untilReachable(`writing ${rows.length} rows`, () => write(rows, positions, meta));
          if (res.rejected.length === 0) return;
          const at = new Date().toISOString();
          const topic = env.config.flows.get(meta.flow)?.deadLetterTopic ?? deadLetterTopic(meta.flow);
          await env.deadLetters.write(meta.flow, topic, res.rejected.map((r): DeadLetter => ({
            row: rows[r.index]!,
            code: 'KIS_ERR_STORAGE_REJECTED',
            message: `connector '${conn.cid}' (${conn.type}) refused the row: ${r.code}: ${r.message}`,
            flow: meta.flow, fn: meta.fn, position: positions[r.index], attempts: 1, at,
          })));
        },
      },
    } : {}),
    ...(cache ? { byKey: { lookupIn: (partition: number, keys: readonly string[]) => cache.lookupIn(partition, keys) } } : {}),
    ...(stored ? { positions: { storedPositions: (flow: string, source: string) => untilReachable('reading stored positions', () => stored(flow, source)) } } : {}),
    async start() {
      try {
        await storage.start();
      } catch (err) {
        throw isKisError(err) ? err : new KisError('KIS_ERR_CONNECTOR', `connector '${conn.cid}' (${conn.type}) failed to start: ${errorMessage(err)}`, { cause: err });
      }
    },
    async check() {
      if (!storage.check) return [];
      try {
        return await storage.check();
      } finally {
        await storage.close().catch(() => undefined);
      }
    },
    waiting: () => [...(waitingFor ? [waitingFor] : []), ...(storage.waiting?.() ?? [])].filter((w, i, all) => all.indexOf(w) === i),
    async close() {
      closed = true;
      await storage.close();
    },
  };
}
