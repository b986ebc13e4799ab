// Keyed state through the flow context, on the embedded log: per partition, TTL, bounds, changelog.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry } from 'prom-client';
import type { KisPool } from '../../src/core/pool.js';
import { PromFlowObserver } from '../../src/observability/metrics.js';
import { PartitionStore } from '../../src/state/partition-store.js';
import { StateManager } from '../../src/state/state-manager.js';
import { changelogTopic } from '../../src/kernel/names.js';
import { EmbeddedChangelog } from '../../src/connectors/embedded/changelog.js';
import { EmbeddedLog } from '../../src/connectors/embedded/log.js';
import { silentLogger } from '../../src/observability/logger.js';
import { TestDriver } from '../../src/testing/driver.js';

const counter = (pool: KisPool): void => {
  pool.faas('countPerUser', (flow, rows) => {
    const st = flow.state<number>();
    for (const r of rows) {
      const k = String(r['user']);
      const n = (st.get(k) ?? 0) + 1;
      st.set(k, n);
      flow.commitRow({ user: r['user'], n }, r);
    }
  });
};

const yaml = (state: string) => `
kistype: func
fid: Count
fname: countPerUser
fmode: Calculate
option: { state: ${state} }
---
kistype: flow
flow_name: F
flows: [{ fid: Count }]
`;

test('a function keeps counts per key across batches, separately per partition, and every change is in the changelog', async () => {
  const d = await TestDriver.fromYaml(yaml('{}'), { register: counter });
  await d.runFlow('F', [{ user: 'a' }, { user: 'b' }, { user: 'a' }], 0);
  const r = await d.runFlow('F', [{ user: 'a' }], 0);
  assert.deepEqual(r.output, [{ user: 'a', n: 3 }]);
  const other = await d.runFlow('F', [{ user: 'a' }], 1);
  assert.deepEqual(other.output, [{ user: 'a', n: 1 }], 'partition 1 has its own store');
  assert.deepEqual([...(await d.state('F', 'Count', 0))], [['b', 1], ['a', 3]]);
  const log = d.topic(changelogTopic('kisflow', 'F', 'Count'));
  assert.deepEqual(log.filter((x) => x.partition === 0).map((x) => [x.key, x.value]), [['b', { v: 1 }], ['a', { v: 2 }], ['a', { v: 3 }]],
    'one record per key changed in a batch (its last value), in the order of last change');
  assert.deepEqual(log.filter((x) => x.partition === 1).map((x) => [x.key, x.value]), [['a', { v: 1 }]]);
  await d.close();
});

test('a function that uses state without declaring it fails with KIS_ERR_STATE and its rows are dead-lettered', async () => {
  const d = await TestDriver.fromYaml(yaml('null'), { register: counter });
  const r = await d.runFlow('F', [{ user: 'a' }]);
  assert.equal(r.deadLetters.length, 1);
  assert.equal(r.deadLetters[0]!.code, 'KIS_ERR_STATE');
  assert.match(r.deadLetters[0]!.message, /uses state but does not declare it \(add option\.state: \{\} to its func document\)/);
  await d.close();
});

test('entries expire after ttl_ms: gone for get, swept on tick with a tombstone in the changelog', async () => {
  const d = await TestDriver.fromYaml(yaml('{ ttl_ms: 60000 }'), { register: counter });
  await d.runFlow('F', [{ user: 'a' }]);
  await d.advance(30_000);
  await d.runFlow('F', [{ user: 'b' }]);
  await d.advance(40_000); // a is 70 s old, b 40 s
  assert.deepEqual([...(await d.state('F', 'Count'))], [['b', 1]]);
  const r = await d.runFlow('F', [{ user: 'a' }]);
  assert.deepEqual(r.output, [{ user: 'a', n: 1 }], 'an expired count starts again');
  const log = d.topic(changelogTopic('kisflow', 'F', 'Count')).map((x) => [x.key, x.headers['kis-tombstone'] ? null : (x.value as { v: unknown }).v]);
  assert.deepEqual(log, [['a', 1], ['b', 1], ['a', null], ['a', 1]]);
  await d.close();
});

test('max_keys bounds a store: the least recently written keys are evicted and counted in the metric', async () => {
  const registry = new Registry();
  const observer = new PromFlowObserver(registry);
  const log = new EmbeddedLog();
  const mgr = new StateManager({
    appId: 'app',
    specs: [{ flow: 'F', store: 'S', maxKeys: 1000, ttlMs: undefined }],
    backend: new EmbeddedChangelog(log, () => 1),
    logger: silentLogger(),
    observer,
  });
  await mgr.ready('F', 0);
  const st = mgr.store('F', 'S', 0);
  for (let i = 0; i < 50_000; i++) st.set(`k${i}`, { i });
  st.set('k49000', { i: -1 }); // rewritten: now the newest
  assert.equal(st.size, 1000);
  assert.equal(st.get('k48999'), undefined);
  assert.deepEqual(st.get('k49999'), { i: 49999 });
  const evictions = (await registry.getSingleMetric('kisflow_state_evictions_total')!.get()).values;
  assert.deepEqual(evictions.map((v) => [v.labels, v.value]), [[{ flow_id: 'F', store: 'S' }, 49_000]]);
  await mgr.flush('F', 0);
  // a fresh manager restores exactly what is left from the changelog
  const again = new StateManager({ appId: 'app', specs: [{ flow: 'F', store: 'S', maxKeys: 1000, ttlMs: undefined }], backend: new EmbeddedChangelog(log, () => 1), logger: silentLogger(), observer });
  await again.ready('F', 0);
  const restored = again.store('F', 'S', 0);
  assert.equal(restored.size, 1000);
  assert.deepEqual(restored.get('k49000'), { i: -1 });
  assert.equal(restored.get('k0'), undefined);
  const keys = (await registry.getSingleMetric('kisflow_state_keys')!.get()).values;
  assert.equal(keys.find((v) => v.labels['partition'] === '0')?.value, 1000);
  const restoredRecords = (await registry.getSingleMetric('kisflow_state_restored_records_total')!.get()).values;
  assert.equal(restoredRecords[0]?.value, 1000, 'keys written and evicted between two flushes write nothing: the changelog holds the 1,000 live keys');
});

test('changes between two flushes: the last value per key is written, a key put and deleted writes nothing, a key flushed before and deleted writes one tombstone', async () => {
  const log = new EmbeddedLog();
  const backend = new EmbeddedChangelog(log, () => 1);
  const spec = { flow: 'F', store: 'S', maxKeys: 3, ttlMs: undefined };
  const mgr = new StateManager({ appId: 'app', specs: [spec], backend, logger: silentLogger() });
  await mgr.ready('F', 0);
  const st = mgr.store('F', 'S', 0);
  st.set('kept', 1);
  st.set('kept', 2);
  st.set('gone', 1);
  st.set('gone', 2);
  st.delete('gone');
  await mgr.flush('F', 0);
  const records = async (): Promise<Array<[string, unknown]>> => {
    const out: Array<[string, unknown]> = [];
    await backend.read(mgr.topicOf(spec), 0, (r) => out.push([r.key, r.value === null ? null : r.value.v]));
    return out;
  };
  assert.deepEqual(await records(), [['kept', 2]]);
  st.delete('kept');
  st.set('kept', 3);
  st.delete('kept'); // was in the changelog: one tombstone
  st.set('a', 1); st.set('b', 1); st.set('c', 1); st.set('d', 1); // 'a' evicted before any flush: nothing for it
  await mgr.flush('F', 0);
  assert.deepEqual(await records(), [['kept', 2], ['kept', null], ['b', 1], ['c', 1], ['d', 1]]);
  const again = new StateManager({ appId: 'app', specs: [spec], backend, logger: silentLogger() });
  await again.ready('F', 0);
  assert.deepEqual([...again.store('F', 'S', 0).entries()], [['b', 1], ['c', 1], ['d', 1]]);
});

test('a partition store drops a deleted key and re-orders a rewritten one', () => {
  let now = 1000;
  const s = new PartitionStore({ flow: 'F', store: 'S', maxKeys: 10, ttlMs: undefined }, 0, () => now, { evicted() {} });
  s.set('a', 1);
  s.set('b', 2, { ttlMs: 5 });
  s.set('a', 3);
  assert.deepEqual([...s.entries()], [['b', 2], ['a', 3]]);
  assert.deepEqual(s.takeDirty(), [{ key: 'b', value: { v: 2, exp: 1005 } }, { key: 'a', value: { v: 3 } }]);
  now += 5;
  assert.equal(s.get('b'), undefined);
  assert.equal(s.delete('a'), true);
  assert.equal(s.delete('a'), false);
  assert.deepEqual(s.takeDirty(), [{ key: 'b', value: null }, { key: 'a', value: null }]);
  assert.deepEqual(s.takeDirty(), []);
});

test('sweep: with one TTL it stops at the first live entry; an entry with its own shorter TTL is still swept; ttlMs null never expires', () => {
  let now = 0;
  const s = new PartitionStore({ flow: 'F', store: 'S', maxKeys: 100, ttlMs: 1000 }, 0, () => now, { evicted() {} });
  s.set('a', 1);
  now = 500;
  s.set('b', 2);
  s.takeDirty(); // a and b are in the changelog: their removals write tombstones
  now = 1200;
  assert.equal(s.sweep(), 1);
  assert.deepEqual([...s.entries()].map(([k]) => k), ['b']);
  s.set('forever', 0, { ttlMs: null });
  s.set('short', 3, { ttlMs: 10 }); // written last, expires first
  assert.deepEqual(s.takeDirty().map((r) => [r.key, r.value === null]), [['a', true], ['forever', false], ['short', false]]);
  now = 1300;
  assert.equal(s.sweep(), 1, 'the short-lived entry behind a live one is found');
  now = 10_000_000;
  assert.equal(s.sweep(), 1, 'b expires; forever stays');
  assert.deepEqual([...s.entries()], [['forever', 0]]);
  assert.deepEqual(s.takeDirty().filter((r) => r.value === null).map((r) => r.key).sort(), ['b', 'short']);
});

test('a store restored from its input topic: entries as the topic holds them, up to what the feeding group committed; it writes no changelog, the other stores do', async () => {
  const written: Array<{ topic: string; records: number }> = [];
  const asked: Array<{ topic: string; group: string | undefined }> = [];
  // The input topic's partition 0 as a Kafka reader would hand it on, and a committed offset of 3 for group g.
  const input: Array<[string | null, string | null]> = [['o1', '{"orderid":"o1","amount":1}'], [null, '{"orderid":"o2","amount":2}'], ['o3', 'not json'], ['o1', '{"orderid":"o1","amount":9}'], ['o4', '{"orderid":"o4"}']];
  const backend = {
    async write(topic: string, _p: number, records: readonly unknown[]): Promise<void> { written.push({ topic, records: records.length }); },
    async read(): Promise<number> { return 0; },
    async readTopic(topic: string, _p: number, apply: (k: string | null, v: string | null) => void, group?: string): Promise<number> {
      asked.push({ topic, group });
      const upTo = group === 'g' ? 4 : input.length;
      for (const [k, v] of input.slice(0, upTo)) apply(k, v);
      return upTo;
    },
  };
  const table = { flow: 'F', store: 'T', maxKeys: 10, ttlMs: undefined };
  const held = { flow: 'F', store: 'H', maxKeys: 10, ttlMs: undefined };
  const mgr = new StateManager({
    appId: 'app', specs: [table, held], backend, logger: silentLogger(),
    topicTables: [{
      flow: 'F', store: 'T', topic: 'orders', group: () => 'g',
      entry: (k, v) => {
        try {
          const row = JSON.parse(v ?? '') as { orderid: string };
          return { key: k ?? row.orderid, value: row };
        } catch {
          return undefined;
        }
      },
    }],
  });
  assert.equal(mgr.topicTableOf(table)?.topic, 'orders');
  assert.equal(mgr.topicTableOf(held), undefined);
  await mgr.ready('F', 0);
  assert.deepEqual(asked, [{ topic: 'orders', group: 'g' }]);
  const t = mgr.store('F', 'T', 0);
  assert.deepEqual([...t.entries()], [['o2', { orderid: 'o2', amount: 2 }], ['o1', { orderid: 'o1', amount: 9 }]], 'the last record per key, up to the committed offset; no entry for what is not JSON');
  t.set('o5', { orderid: 'o5' });
  t.delete('o1');
  mgr.store('F', 'H', 0).set('p1', [1]);
  await mgr.flush('F', 0);
  assert.deepEqual(written, [{ topic: changelogTopic('app', 'F', 'H'), records: 1 }], 'only the held store wrote its changelog');
});
