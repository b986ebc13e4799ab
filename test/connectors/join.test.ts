// Save and Load through a kafka connector on the embedded log: keyed records, and joins that no
// arrival order loses.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { partitionForKey } from '../../src/kernel/partitioner.js';
import { TestDriver } from '../../src/testing/driver.js';
import { parsePosHeader } from '../../src/connectors/embedded-connector.js';

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

test('Save writes keyed records to the connector topic, on the partition Kafka would pick, with position headers', async () => {
  const d = await TestDriver.fromYaml(CONFIG());
  await d.pipe('orders_in', orders);
  const recs = d.topic('orders.saved');
  assert.equal(recs.length, 3);
  for (const r of recs) {
    assert.equal(r.key, `${String(r.value['userid'])}_${String(r.value['orderid'])}`);
    assert.equal(r.partition, partitionForKey(r.key!, 4));
    assert.equal(r.headers['kis-flow'], 'Orders/SaveOrder');
    assert.deepEqual(parsePosHeader(r.headers['kis-pos']!), { partition: 0, offset: r.headers['kis-pos']!.split(':')[1], topic: undefined, source: 'orders_in' });
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
  await assert.rejects(TestDriver.fromYaml(CONFIG('outer')), /expected join: inner or left, found "outer"/);
});
