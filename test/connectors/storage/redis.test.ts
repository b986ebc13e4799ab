// type: redis against the machine's Redis (127.0.0.1:6379), standalone: a fresh key prefix per test.
// The seed's three addrs run against a private three-master Redis Cluster started from the same binaries.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { createRedisConnector, RedisConnParamsCodec, redisNodes, type RedisConnParams } from '../../../src/connectors/redis/index.js';
import { calculateSlot, slotTag } from '../../../src/connectors/redis/apply-script.js';
import type { StorageConnector } from '../../../src/core/storage.js';
import type { KisError } from '../../../src/kernel/errors.js';
import { SEED_COMPLETE, loadYaml } from '../../helpers.js';
import { Cluster } from 'ioredis';
import { connConfig, ensureServer, positions, rand, REDIS, startRedisCluster, testEnv } from './helpers.js';

let admin: Redis;
const prefixes: string[] = [];
before(async () => { await ensureServer('redis'); admin = new Redis(REDIS); });
after(async () => {
  for (const p of prefixes) {
    const keys = await admin.keys(`${p}*`);
    if (keys.length > 0) await admin.del(...keys);
  }
  await admin.quit();
});

function make(params: Record<string, unknown>, key = ['userid'], addrs = [`${REDIS.host}:${REDIS.port}`], cid = 'r'): { c: StorageConnector; prefix: string } {
  const prefix = `kis_t_${rand()}:`;
  prefixes.push(prefix);
  const decoded = RedisConnParamsCodec.decode({ prefix, ...params });
  if (decoded._tag === 'Left') throw new Error('params refused');
  return { c: createRedisConnector(connConfig(cid, 'redis', addrs, key), decoded.right as RedisConnParams, testEnv()), prefix };
}

test("the seed's redis document: three addrs select a Cluster, one a standalone server that stores rows under the seed's key", async () => {
  const res = loadYaml(SEED_COMPLETE);
  const conn = res.config!.conns.get('测试KisConnector_1')!;
  assert.deepEqual(redisNodes(conn.addrs), { mode: 'cluster', nodes: [{ host: '0.0.0.0', port: 9988 }, { host: '0.0.0.0', port: 9999 }, { host: '0.0.0.0', port: 9990 }] });
  assert.deepEqual(conn.key, ['userid', 'orderid', 'option']);
  assert.equal(redisNodes([`${REDIS.host}:${REDIS.port}`]).mode, 'standalone');
  assert.equal(calculateSlot('123456789'), 12739);
  assert.equal(calculateSlot('{user1000}.following'), calculateSlot('user1000'));
  // The seed's params ({ args1: value1 }) are the Go original's free user args, not redis settings: the closed
  // codec names the key. Whether conns used only by CaaS calls keep free params is the registry's call (issue 10).
  const seedParams = RedisConnParamsCodec.decode(conn.params);
  assert.equal(seedParams._tag, 'Left');
  assert.match(JSON.stringify(seedParams.left.map((e) => e.message)), /unknown key 'args1'/);
  // The same document on the machine's one server (no Cluster here): rows land under <prefix><userid>_<orderid>_<option>.
  const prefix = `kis_t_${rand()}:`;
  prefixes.push(prefix);
  const c = createRedisConnector({ ...conn, addrs: [`${REDIS.host}:${REDIS.port}`] }, { prefix }, testEnv());
  await c.start();
  try {
    await c.write!([{ userid: 'u1', orderid: 'o1', option: 'x', amount: 5 }], positions(1), { flow: 'MyFlow1', fn: '测试KisFunction_S1' });
    assert.deepEqual(await admin.hgetall(`${prefix}u1_o1_x`), { userid: 'u1', orderid: 'o1', option: 'x', amount: '5' });
  } finally { await c.close(); }
});

test("the seed's document on a real Redis Cluster: rows, counters applied once per position (one call per slot), lookups", async (t) => {
  const cluster = await startRedisCluster([9988, 9999, 9990]);
  const seedPorts = cluster.ports.join() === '9988,9999,9990';
  t.diagnostic(seedPorts ? "cluster on the seed's own addrs 0.0.0.0:9988,9999,9990" : `seed ports busy: cluster on ${cluster.ports.join(', ')}`);
  const conn = loadYaml(SEED_COMPLETE).config!.conns.get('测试KisConnector_1')!;
  const addrs = seedPorts ? conn.addrs : cluster.ports.map((p) => `127.0.0.1:${p}`);
  const rows = Array.from({ length: 60 }, (_, i) => ({ userid: `u${i}`, orderid: `o${i % 3}`, option: 'x', amount: i }));
  const env = testEnv();
  const plain = createRedisConnector({ ...conn, addrs }, { prefix: 'seed:' }, env);
  const counters = createRedisConnector({ ...conn, addrs }, { prefix: 'cnt:', incr: { amount: 'revenue' } }, env);
  const reader = new Cluster(cluster.ports.map((port) => ({ host: '127.0.0.1', port })));
  try {
    await plain.start();
    await counters.start();
    assert.deepEqual((await plain.write!(rows, positions(60), { flow: 'MyFlow1', fn: 's' })).rejected, []);
    assert.deepEqual(await reader.hgetall('seed:u7_o1_x'), { userid: 'u7', orderid: 'o1', option: 'x', amount: '7' });
    assert.deepEqual(Object.fromEntries(await plain.lookupMany!(['u1_o1_x', 'u59_o2_x', 'nope'])), {
      u1_o1_x: { userid: 'u1', orderid: 'o1', option: 'x', amount: '1' }, u59_o2_x: { userid: 'u59', orderid: 'o2', option: 'x', amount: '59' },
    });
    await counters.write!(rows, positions(60), { flow: 'MyFlow1', fn: 's' });
    await counters.write!(rows, positions(60), { flow: 'MyFlow1', fn: 's' }); // a replay: nothing added
    await counters.write!([{ userid: 'u7', orderid: 'o1', option: 'x', amount: 100 }], positions(1, 60), { flow: 'MyFlow1', fn: 's' });
    assert.equal(await reader.hget('cnt:u7_o1_x', 'revenue'), '107');
    assert.equal(await reader.hget('cnt:u59_o2_x', 'revenue'), '59');
  } finally {
    await plain.close();
    await counters.close();
    reader.disconnect();
    cluster.stop();
  }
});

test("slot tags: each tag hashes to its slot, so a slot's positions hash lives with its rows", () => {
  for (const slot of [0, 1, 5000, 12739, 16383]) assert.equal(calculateSlot(`p:kisflow:positions:a:f:{${slotTag(slot)}}`), slot);
});

test('hash rows with a TTL, pipelined, and lookupMany by pipelined HGETALL', async () => {
  const { c, prefix } = make({ ttl_ms: 60_000 });
  await c.start();
  try {
    const res = await c.write!([{ userid: 'a', n: 1, tags: ['x'] }, { userid: 'b', n: 2, gone: null }, { n: 3 }], positions(3), { flow: 'f', fn: 's' });
    assert.deepEqual(res.rejected.map((r) => [r.index, r.code]), [[2, 'KIS_ERR_ROW_MISSING_FIELD']]);
    assert.deepEqual(await admin.hgetall(`${prefix}a`), { userid: 'a', n: '1', tags: '["x"]' });
    const ttl = await admin.pttl(`${prefix}b`);
    assert.ok(ttl > 59_000 && ttl <= 60_000, String(ttl));
    assert.deepEqual(Object.fromEntries(await c.lookupMany!(['a', 'b', 'zz'])), { a: { userid: 'a', n: '1', tags: '["x"]' }, b: { userid: 'b', n: '2' } });
  } finally { await c.close(); }
});

test('json rows, and lookupMany by MGET', async () => {
  const { c, prefix } = make({ format: 'json' }, ['userid', 'orderid']);
  await c.start();
  try {
    await c.write!([{ userid: 'a', orderid: 1, amount: 2.5, nested: { x: true } }], positions(1), { flow: 'f', fn: 's' });
    assert.deepEqual(JSON.parse((await admin.get(`${prefix}a_1`))!), { userid: 'a', orderid: 1, amount: 2.5, nested: { x: true } });
    assert.deepEqual(Object.fromEntries(await c.lookupMany!(['a_1', 'b_2'])), { a_1: { userid: 'a', orderid: 1, amount: 2.5, nested: { x: true } } });
  } finally { await c.close(); }
});

test('counters: a replayed batch adds nothing; a partly replayed one adds only its new rows; positions in the same call', async () => {
  const { c, prefix } = make({ incr: { amount: 'revenue', qty: 'items' } });
  await c.start();
  try {
    const meta = { flow: 'rev', fn: 's' };
    const batch = [{ userid: 'a', amount: 10.5, qty: 1, name: 'Ann' }, { userid: 'a', amount: 2, qty: 2 }, { userid: 'b', amount: 1, qty: 1 }];
    await c.write!(batch, positions(3, 8), meta);
    await c.write!(batch, positions(3, 8), meta); // the same batch again, as Kafka redelivers it after a crash
    assert.deepEqual(await admin.hgetall(`${prefix}a`), { userid: 'a', name: 'Ann', revenue: '12.5', items: '3' });
    assert.deepEqual(await admin.hgetall(`${prefix}b`), { userid: 'b', revenue: '1', items: '1' });
    // Offsets 9, 10 were applied; 11 is new. Partition 1 has its own position.
    await c.write!([{ userid: 'a', amount: 100, qty: 1 }, { userid: 'b', amount: 100, qty: 1 }, { userid: 'b', amount: 5, qty: 1 }],
      [{ source: 'orders', partition: 0, offset: '9' }, { source: 'orders', partition: 0, offset: '11' }, { source: 'orders', partition: 1, offset: '0' }], meta);
    assert.equal(await admin.hget(`${prefix}a`, 'revenue'), '12.5');
    assert.equal(await admin.hget(`${prefix}b`, 'revenue'), '106');
    assert.deepEqual(await admin.hgetall(`${prefix}kisflow:positions:kis_test_app:rev`), { 'orders/0': '11', 'orders/1': '0' });
    // Binlog positions order by file, then pos.
    await c.write!([{ userid: 'c', amount: 1 }], [{ source: 'bl', partition: 0, offset: 'mysql-bin.000009:900' }], meta);
    await c.write!([{ userid: 'c', amount: 1 }], [{ source: 'bl', partition: 0, offset: 'mysql-bin.000010:4' }], meta);
    await c.write!([{ userid: 'c', amount: 1 }], [{ source: 'bl', partition: 0, offset: 'mysql-bin.000009:1000' }], meta);
    assert.equal(await admin.hget(`${prefix}c`, 'revenue'), '2');
  } finally { await c.close(); }
});

test('counters: a key of the wrong type or a non-numeric field is refused alone; the rest applies', async () => {
  const { c, prefix } = make({ incr: { amount: 'revenue' } });
  await c.start();
  try {
    await admin.set(`${prefix}s`, 'a string');
    await admin.hset(`${prefix}t`, 'revenue', 'abc');
    const res = await c.write!([{ userid: 'a', amount: 1 }, { userid: 's', amount: 1 }, { userid: 't', amount: 1 }, { userid: 'u', amount: 'x' }, { userid: 'a', amount: 2 }], positions(5), { flow: 'f', fn: 's' });
    assert.deepEqual(res.rejected.map((r) => [r.index, r.code]), [[1, 'WRONGTYPE'], [2, 'NOT_A_NUMBER'], [3, 'NOT_A_NUMBER']]);
    assert.equal(await admin.hget(`${prefix}a`, 'revenue'), '3');
    assert.equal(await admin.get(`${prefix}s`), 'a string');
    assert.equal(await admin.hget(`${prefix}t`, 'revenue'), 'abc');
  } finally { await c.close(); }
});

test('plain writes: a key of the wrong type is refused alone', async () => {
  const { c, prefix } = make({});
  await c.start();
  try {
    await admin.set(`${prefix}s`, 'a string');
    const res = await c.write!([{ userid: 'a', v: 1 }, { userid: 's', v: 1 }], positions(2), { flow: 'f', fn: 's' });
    assert.deepEqual(res.rejected.map((r) => [r.index, r.code]), [[1, 'WRONGTYPE']]);
    assert.equal(await admin.hget(`${prefix}a`, 'v'), '1');
  } finally { await c.close(); }
});

test('check() reports a config problem or an unreachable server without throwing', async () => {
  const { c: json } = make({ format: 'json', incr: { amount: 'revenue' } });
  assert.deepEqual((await json.check!()).map((e) => e.code), ['KIS_ERR_CONFIG_SCHEMA']);
  const { c: down } = make({}, ['userid'], ['127.0.0.1:1']);
  assert.deepEqual((await down.check!()).map((e) => e.code), ['KIS_ERR_STORAGE_UNAVAILABLE']);
  const { c: ok } = make({});
  assert.deepEqual(await ok.check!(), []);
});

test('an unreachable server is a retriable error; a lost connection fails writes fast as retriable, then recovers', async () => {
  const { c: down } = make({}, ['userid'], ['127.0.0.1:1']);
  await assert.rejects(down.start(), (e: KisError) => e.code === 'KIS_ERR_STORAGE_UNAVAILABLE' && e.retriable);
  assert.equal(down.waiting!().length, 1);
  await down.close();
  const cid = `kis_kill_${rand()}`;
  const { c, prefix } = make({ incr: { amount: 'revenue' } }, ['userid'], [`${REDIS.host}:${REDIS.port}`], cid);
  await c.start();
  try {
    // Kill the connector's own connection (named kisflow:<cid>): a write fails fast as retriable until ioredis reconnects.
    const mine = ((await admin.call('CLIENT', 'LIST')) as string).split('\n').filter((l) => l.includes(`name=kisflow:${cid} `));
    assert.equal(mine.length, 1);
    await admin.call('CLIENT', 'KILL', 'ADDR', /addr=(\S+)/.exec(mine[0]!)![1]!);
    let failed: KisError | undefined;
    for (let i = 0; i < 50; i++) {
      try { await c.write!([{ userid: 'k', amount: 1 }], positions(1, 0), { flow: 'f', fn: 's' }); break; } catch (e) { failed = e as KisError; await new Promise((r) => setTimeout(r, 50)); }
    }
    if (failed !== undefined) { assert.equal(failed.code, 'KIS_ERR_STORAGE_UNAVAILABLE'); assert.equal(failed.retriable, true); }
    await c.write!([{ userid: 'k', amount: 1 }], positions(1, 0), { flow: 'f', fn: 's' });
    assert.equal(await admin.hget(`${prefix}k`, 'revenue'), '1');
    assert.deepEqual(c.waiting!(), []);
  } finally { await c.close(); }
});
