// Save and Load through a kafka connector on the embedded log: keyed records, and joins that no
// arrival order loses.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { partitionForKey } from '../../src/kernel/partitioner.js';
import { TestDriver } from '../../src/testing/driver.js';
import { parseLineage } from '../../src/kafka/headers.js';

const CONFIG = (join = 'inner', as = '') => `
kistype: conn
cid: orders
type: kafka
key: userid_orderid
params: { topic: orders.saved, partitions: 4 }
save: [SaveOrder]
load: [LoadOrder, Replay]
---
kistype: func
fid: SaveOrder
fmode: Save
option: { cid: orders }
---
kistype: func
fid: LoadOrder
fmode: Load
option: { cid: orders }
---
kistype: func
fid: Replay
fmode: Load
option: { cid: orders }
---
kistype: source
sid: orders_in
type: stdin
flows: [Orders]
---
kistype: source
sid: pays_in
type: stdin
flows: [Pays]
---
kistype: flow
flow_name: Orders
flows: [{ fid: SaveOrder }]
---
kistype: flow
flow_name: Pays
flows: [{ fid: LoadOrder, params: { join: ${join}${as ? `, join_as: ${as}` : ''} } }]
---
kistype: flow
flow_name: Audit
flows: [{ fid: Replay }]
`;

const orders = [1, 2, 3].map((n) => ({ userid: `u${n}`, orderid: `o${n}`, amount: n * 10 }));
const pays = [1, 2, 4].map((n) => ({ userid: `u${n}`, orderid: `o${n}`, paid: n }));

test('lineage: false on a connector saves records without the kis-lineage header; the dead letters keep their position', async () => {
  const d = await TestDriver.fromYaml(CONFIG().replace('params: { topic: orders.saved, partitions: 4 }', 'params: { topic: orders.saved, partitions: 4, lineage: false }'));
  await d.pipe('orders_in', [{ userid: 'u1', orderid: 'o1', amount: 1 }, { userid: 'u2', amount: 2 }]);
  assert.deepEqual(d.topic('orders.saved').map((r) => r.headers), [{}]);
  const dlq = d.deadLetters('Orders');
  assert.equal(dlq.length, 1);
  assert.equal(dlq[0]!.position?.source, 'orders_in');
  await d.close();
});

test('Save writes keyed records to the connector topic, on the partition Kafka would pick, with position headers', async () => {
  const d = await TestDriver.fromYaml(CONFIG());
  await d.pipe('orders_in', orders);
  const recs = d.topic('orders.saved');
  assert.equal(recs.length, 3);
  for (const r of recs) {
    assert.equal(r.key, `${String(r.value['userid'])}_${String(r.value['orderid'])}`);
    assert.equal(r.partition, partitionForKey(r.key!, 4));
    const lineage = parseLineage(r.headers['kis-lineage']);
    assert.equal(lineage?.by, 'Orders/SaveOrder');
    assert.deepEqual(lineage?.from, { partition: 0, offset: lineage?.from?.offset, topic: undefined, source: 'orders_in' });
    assert.match(lineage?.from?.offset ?? '', /^\d+$/);
  }
  // a flow whose first step is a Load and that no source feeds reads the topic itself
  assert.deepEqual(d.output('Audit').sort((a, b) => String(a['orderid']).localeCompare(String(b['orderid']))), orders);
  await d.close();
});

test('inner join: saved first, then loaded — and loaded first, then saved — give the same joined rows', async () => {
  const expected = [
    { userid: 'u1', orderid: 'o1', amount: 10, paid: 1 },
    { userid: 'u2', orderid: 'o2', amount: 20, paid: 2 },
  ];
  const byOrder = (rows: Record<string, unknown>[]) => [...rows].sort((a, b) => String(a['orderid']).localeCompare(String(b['orderid'])));

  const saveFirst = await TestDriver.fromYaml(CONFIG());
  await saveFirst.pipe('orders_in', orders);
  await saveFirst.pipe('pays_in', pays);
  assert.deepEqual(byOrder(saveFirst.output('Pays')), expected);
  assert.equal(saveFirst.unmatched, 0, 'o4 is held until the input ends');
  await saveFirst.end();
  assert.equal(saveFirst.unmatched, 1, 'o4 has no order');
  assert.deepEqual(saveFirst.unmatchedKeys, ['u4_o4'], 'the summary names the unmatched key');
  assert.deepEqual(byOrder(saveFirst.output('Pays')), expected);
  await saveFirst.close();

  const loadFirst = await TestDriver.fromYaml(CONFIG());
  await loadFirst.pipe('pays_in', pays);
  assert.deepEqual(loadFirst.output('Pays'), [], 'nothing to join with yet: the rows are held, not lost');
  await loadFirst.pipe('orders_in', orders);
  assert.deepEqual(byOrder(loadFirst.output('Pays')), expected);
  await loadFirst.close();
});

test('left join emits unmatched rows when the input ends; join_as nests the saved row', async () => {
  const d = await TestDriver.fromYaml(CONFIG('left', 'order'));
  await d.pipe('pays_in', pays);
  await d.pipe('orders_in', orders);
  assert.equal(d.output('Pays').length, 2, 'o4 waits for its order until the input ends');
  await d.end();
  const out = [...d.output('Pays')].sort((a, b) => String(a['orderid']).localeCompare(String(b['orderid'])));
  assert.deepEqual(out, [
    { userid: 'u1', orderid: 'o1', paid: 1, order: orders[0] },
    { userid: 'u2', orderid: 'o2', paid: 2, order: orders[1] },
    { userid: 'u4', orderid: 'o4', paid: 4, order: null },
  ]);
  assert.equal(d.unmatched, 0);
  await d.close();
});

test('a row without the join key cannot be joined: it is dead-lettered with the reason', async () => {
  const d = await TestDriver.fromYaml(CONFIG());
  await d.pipe('pays_in', [{ userid: 'u9' }]);
  const dl = d.deadLetters('Pays');
  assert.equal(dl.length, 1);
  assert.equal(dl[0]!.code, 'KIS_ERR_ROW_MISSING_FIELD');
  assert.match(dl[0]!.message, /lacks key field\(s\) orderid of connector 'orders'/);
  await d.close();
});

test('bad join params stop start-up', async () => {
  await assert.rejects(TestDriver.fromYaml(CONFIG('outer')), /flows\[0\]\.params\.join .*expected one of inner, left, found "outer"/);
});

const WINDOWED = (join: string, window: number) => CONFIG(join).replace(`params: { join: ${join} }`, `params: { join: ${join}, join_window_ms: ${window} }`);

test('join_window_ms: a held inner-join row is dead-lettered when its window passes; a left-join row is emitted unmatched', async () => {
  const inner = await TestDriver.fromYaml(WINDOWED('inner', 60_000));
  await inner.pipe('pays_in', pays);
  const held = await inner.state('Pays', 'LoadOrder.0.held');
  assert.deepEqual([...held.keys()].sort(), ['u1_o1', 'u2_o2', 'u4_o4'], 'waiting rows are in keyed state, by join key');
  await inner.advance(30_000);
  await inner.pipe('orders_in', orders.slice(0, 1)); // u1 arrives within the window
  await inner.advance(31_000); // the others waited 61 s
  assert.deepEqual(inner.output('Pays'), [{ userid: 'u1', orderid: 'o1', amount: 10, paid: 1 }]);
  const dl = inner.deadLetters('Pays');
  assert.deepEqual(dl.map((d) => [d.code, d.row['orderid']]).sort(), [['KIS_ERR_JOIN_EXPIRED', 'o2'], ['KIS_ERR_JOIN_EXPIRED', 'o4']]);
  assert.match(dl[0]!.message, /^key 'u\d_o\d': no row was saved under the key through connector 'orders' within join_window_ms \(60000 ms\)/);
  await inner.pipe('orders_in', orders.slice(1)); // too late: nothing joins twice or late
  assert.equal(inner.output('Pays').length, 1);
  assert.equal((await inner.state('Pays', 'LoadOrder.0.held')).size, 0);
  await inner.close();

  const left = await TestDriver.fromYaml(WINDOWED('left', 60_000));
  await left.pipe('pays_in', pays);
  await left.advance(60_000);
  assert.deepEqual(left.output('Pays').map((r) => r['orderid']).sort(), ['o1', 'o2', 'o4']);
  assert.equal(left.output('Pays')[0]!['amount'], undefined, 'emitted unmatched');
  assert.deepEqual(left.deadLetters('Pays'), []);
  await left.close();
});

test('join_window_ms: a saved row older than the window no longer matches', async () => {
  const d = await TestDriver.fromYaml(WINDOWED('inner', 60_000));
  await d.pipe('orders_in', orders);
  await d.advance(61_000);
  await d.pipe('pays_in', pays.slice(0, 1));
  assert.deepEqual(d.output('Pays'), [], 'the order saved 61 s ago is outside the window');
  await d.pipe('orders_in', orders.slice(0, 1)); // saved again: now it matches the held payment
  assert.deepEqual(d.output('Pays'), [{ userid: 'u1', orderid: 'o1', amount: 10, paid: 1 }]);
  await d.close();
});

test('bad join_window_ms stops start-up with the place and what was expected', async () => {
  await assert.rejects(TestDriver.fromYaml(WINDOWED('inner', -5)), /flows\[0\]\.params\.join_window_ms .*expected a whole number > 0, found -5/s);
});

test('a three-way join on one key: rows wait at each Load step until both saved sides arrived, in any order', async () => {
  const yaml = `
kistype: conn
cid: orders
type: kafka
key: orderid
save: [SaveOrder]
load: [JoinOrder]
---
kistype: conn
cid: ships
type: kafka
key: orderid
save: [SaveShip]
load: [JoinShip]
---
kistype: func
fid: SaveOrder
fmode: Save
option: { cid: orders }
---
kistype: func
fid: SaveShip
fmode: Save
option: { cid: ships }
---
kistype: func
fid: JoinOrder
fmode: Load
option: { cid: orders }
---
kistype: func
fid: JoinShip
fmode: Load
option: { cid: ships }
---
kistype: source
sid: o
type: stdin
flows: [Orders]
---
kistype: source
sid: s
type: stdin
flows: [Ships]
---
kistype: source
sid: p
type: stdin
flows: [Pays]
---
kistype: flow
flow_name: Orders
flows: [{ fid: SaveOrder }]
---
kistype: flow
flow_name: Ships
flows: [{ fid: SaveShip }]
---
kistype: flow
flow_name: Pays
flows: [{ fid: JoinOrder, params: { join_as: order } }, { fid: JoinShip, params: { join_as: ship } }]
`;
  const d = await TestDriver.fromYaml(yaml);
  await d.pipe('p', [{ orderid: 1, paid: 5 }, { orderid: 2, paid: 6 }, { orderid: 3, paid: 7 }]);
  await d.pipe('s', [{ orderid: 2, carrier: 'sf' }, { orderid: 3, carrier: 'ems' }]);
  await d.pipe('o', [{ orderid: 1, amount: 50 }, { orderid: 3, amount: 70 }]);
  assert.deepEqual(d.output('Pays'), [{ orderid: 3, paid: 7, order: { orderid: 3, amount: 70 }, ship: { orderid: 3, carrier: 'ems' } }]);
  assert.deepEqual([...(await d.state('Pays', 'JoinShip.1.held')).keys()], ['1'], 'order 1 passed the first join and waits for its shipment');
  assert.deepEqual([...(await d.state('Pays', 'JoinOrder.0.held')).keys()], ['2'], 'order 2 waits for its order');
  await d.pipe('o', [{ orderid: 2, amount: 60 }]);
  await d.pipe('s', [{ orderid: 1, carrier: 'jd' }]);
  assert.deepEqual(d.output('Pays').map((r) => [r['orderid'], (r['order'] as { amount: number }).amount, (r['ship'] as { carrier: string }).carrier]).sort(),
    [[1, 50, 'jd'], [2, 60, 'sf'], [3, 70, 'ems']]);
  await d.close();
});

test('held rows are bounded by the Load function\'s option.state.max_keys: the oldest are evicted to the dead-letter sink (inner) with the reason, never lost silently', async () => {
  const d = await TestDriver.fromYaml(CONFIG().replace('fid: LoadOrder\nfmode: Load\noption: { cid: orders }', 'fid: LoadOrder\nfmode: Load\noption: { cid: orders, state: { max_keys: 2 } }'));
  await d.pipe('pays_in', [1, 2, 3, 4, 5].map((n) => ({ userid: `u${n}`, orderid: `o${n}`, paid: n })));
  assert.deepEqual([...(await d.state('Pays', 'LoadOrder.0.held')).keys()], ['u4_o4', 'u5_o5']);
  const dl = d.deadLetters('Pays');
  assert.deepEqual(dl.map((x) => x.row['orderid']), ['o1', 'o2', 'o3']);
  assert.equal(dl[0]!.code, 'KIS_ERR_JOIN_EXPIRED');
  assert.match(dl[0]!.message, /^key 'u1_o1': evicted: the store of held rows reached max_keys \(Pays step 1\); raise option\.state\.max_keys of 'LoadOrder' or set a join_window_ms$/);
  await d.pipe('orders_in', [4, 5].map((n) => ({ userid: `u${n}`, orderid: `o${n}`, amount: n })));
  assert.deepEqual(d.output('Pays').map((r) => r['orderid']), ['o4', 'o5']);
  await d.close();
});

test('params.table_max_keys bounds the join table of a connector: the oldest saved keys are evicted and counted in the metric', async () => {
  const { Registry } = await import('prom-client');
  const { PromFlowObserver } = await import('../../src/observability/metrics.js');
  const registry = new Registry();
  const d = await TestDriver.fromYaml(CONFIG().replace('params: { topic: orders.saved, partitions: 4 }', 'params: { topic: orders.saved, partitions: 4, table_max_keys: 2 }'),
    { stateObserver: new PromFlowObserver(registry) });
  await d.pipe('orders_in', orders); // o1, o2, o3: o1 is evicted
  await d.pipe('pays_in', pays.slice(0, 2));
  assert.deepEqual(d.output('Pays').map((r) => r['orderid']), ['o2'], 'o1 is no longer in the table: its payment waits');
  assert.deepEqual([...(await d.state('Pays', 'LoadOrder.0.held')).keys()], ['u1_o1']);
  const evictions = (await registry.getSingleMetric('kisflow_state_evictions_total')!.get()).values;
  assert.deepEqual(evictions.map((v) => [v.labels, v.value]), [[{ flow_id: 'conn:orders', store: 'table' }, 1]]);
  await d.close();
});
