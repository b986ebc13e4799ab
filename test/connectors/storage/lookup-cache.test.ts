// The lookup cache in front of a real store (SQLite file): hits, misses (cached too), TTL, the bound per partition.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LookupCache } from '../../../src/connectors/lookup-cache.js';
import { createSqliteConnector } from '../../../src/connectors/sqlite/index.js';
import type { KeyLookup } from '../../../src/core/storage.js';
import type { Row } from '../../../src/kernel/types.js';
import { connConfig, positions, testEnv } from './helpers.js';

test('hits, negative entries, TTL and the per-partition bound, with one store call per lookup', async () => {
  const store = createSqliteConnector(connConfig('users', 'sqlite', [], ['userid']), { path: 'users.db', table: 'users', create: true, columns: { userid: 'userid', name: 'name' } }, testEnv());
  await store.start();
  try {
    await store.write!(Array.from({ length: 10 }, (_, i) => ({ userid: `u${i}`, name: `N${i}` })), positions(10), { flow: 'f', fn: 's' });
    const calls: string[][] = [];
    const counted: KeyLookup = { lookupMany: (keys) => { calls.push([...keys]); return store.lookupMany!(keys); } };
    let now = 1000;
    const cache = new LookupCache(counted, { maxEntries: 4, ttlMs: 500, clock: () => now });

    const first = await cache.lookupIn(0, ['u1', 'u2', 'nope', 'u1']);
    assert.deepEqual(Object.fromEntries(first), { u1: { userid: 'u1', name: 'N1' }, u2: { userid: 'u2', name: 'N2' } });
    assert.deepEqual(calls, [['u1', 'u2', 'nope']]);
    assert.deepEqual({ ...cache.stats }, { hits: 0, misses: 3, evictions: 0, fetched: 3, fetches: 1 });

    // Warm: no store call, the miss is remembered too.
    const again = await cache.lookupIn(0, ['u1', 'nope']);
    assert.deepEqual([...again.keys()], ['u1']);
    assert.equal(calls.length, 1);
    assert.equal(cache.stats.hits, 2);

    // Another partition has its own entries.
    await cache.lookupIn(1, ['u1']);
    assert.deepEqual(calls[1], ['u1']);

    // The bound: partition 0 holds at most 4; the least recently used (u2) goes first.
    await cache.lookupIn(0, ['u3', 'u4']);
    assert.equal(cache.size(0), 4);
    assert.equal(cache.stats.evictions, 1);
    await cache.lookupIn(0, ['u2']);
    assert.deepEqual(calls.at(-1), ['u2']);

    // TTL: an entry older than ttlMs is fetched again, and sees what the store holds now.
    await store.write!([{ userid: 'nope', name: 'Now here' }], positions(1, 10), { flow: 'f', fn: 's' });
    now += 501;
    const late = await cache.lookupIn(0, ['nope']);
    assert.deepEqual(late.get('nope'), { userid: 'nope', name: 'Now here' } as Row);
    cache.dropPartition(0);
    assert.equal(cache.size(0), 0);
  } finally { await store.close(); }
});
