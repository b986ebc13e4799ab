// kis.filter and kis.map on the compiled expression path, with rows that need JSONata itself in the same batch.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TestDriver } from '../../src/testing/driver.js';

const step = (fid: string, fname: string, fmode: string, params = '{}') =>
  `---\nkistype: func\nfid: ${fid}\nfname: ${fname}\nfmode: ${fmode}\noption: { default_params: ${params} }\n`;
const flow = (steps: string[]) => `---\nkistype: flow\nflow_name: F\nflows: [${steps.map((s) => `{ fid: ${s} }`).join(', ')}]\n`;

test('kis.filter: rows the compiled path decides and rows JSONata decides (a field holding an array) agree with JSONata', async () => {
  const d = await TestDriver.fromYaml(step('V', 'kis.filter', 'Verify', '{ where: "item.price > 10 and status != \'cancelled\'" }') + flow(['V']));
  const rows = [
    { item: { price: 20 }, status: 'paid' },
    { item: { price: 5 }, status: 'paid' },
    { item: { price: 20 }, status: 'cancelled' },
    { item: [{ price: 20 }], status: 'paid' }, // a sequence of one in JSONata: true
    { item: { price: 20 } }, // missing != 'cancelled' is false in JSONata
  ];
  const r = await d.runFlow('F', rows);
  assert.deepEqual(r.output, [rows[0], rows[3]]);
  assert.deepEqual(r.rejected.map((x) => x.row), [rows[1], rows[2], rows[4]]);
  await d.close();
});

test('kis.map: set and remove keep the field order, a removed set field is not written, the input row is left alone', async () => {
  const d = await TestDriver.fromYaml(
    step('M', 'kis.map', 'C', '{ set: { b: "b * 10", z: "a & \'!\'", gone: "1" }, remove: [c, gone] }') + flow(['M']));
  const input = { a: 'x', b: 2, c: 3, d: 4 };
  const r = await d.runFlow('F', [input]);
  assert.deepEqual(r.output, [{ a: 'x', b: 20, d: 4, z: 'x!' }]);
  assert.deepEqual(Object.keys(r.output[0]!), ['a', 'b', 'd', 'z']);
  assert.deepEqual(input, { a: 'x', b: 2, c: 3, d: 4 });
  await d.close();
});

test('kis.map: a row with a "__proto__" field keeps it as a field; expr with $merge builds the row', async () => {
  const d = await TestDriver.fromYaml(
    step('M1', 'kis.map', 'C', '{ set: { k: "a + 1" } }') +
    step('M2', 'kis.map', 'C', '{ expr: "$merge([$, { \'key\': a & \'_\' & k }])", remove: [a] }') + flow(['M1', 'M2']));
  const input = JSON.parse('{"a": 1, "__proto__": {"polluted": true}}') as Record<string, unknown>;
  const r = await d.runFlow('F', [input]);
  const out = r.output[0]!;
  assert.equal(Object.getPrototypeOf(out), Object.prototype);
  assert.deepEqual(Object.keys(out), ['__proto__', 'k', 'key']);
  assert.equal(out['k'], 2);
  assert.equal(out['key'], '1_2');
  assert.equal((out as { polluted?: unknown }).polluted, undefined);
  await d.close();
});

test('kis.map: a row the compiled path cannot decide is evaluated by JSONata, and its error dead-letters that row only', async () => {
  const d = await TestDriver.fromYaml(step('M', 'kis.map', 'C', '{ set: { total: "price * qty" } }') + flow(['M']));
  const r = await d.runFlow('F', [{ price: 2, qty: 3 }, { price: 'two', qty: 3 }]);
  assert.deepEqual(r.output, [{ price: 2, qty: 3, total: 6 }]);
  assert.deepEqual(r.deadLetters.map((x) => [x.code, x.row]), [['KIS_ERR_EXPRESSION', { price: 'two', qty: 3 }]]);
  assert.match(r.deadLetters[0]!.message, /"price \* qty" failed: T2001: The left side of the "\*" operator must evaluate to a number/);
  await d.close();
});
