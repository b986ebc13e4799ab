// The built-in functions, usable from YAML with no code.
import assert from 'node:assert/strict';
import { readFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { TestDriver } from '../../src/testing/driver.js';

const step = (fid: string, fname: string, fmode: string, params = '{}') =>
  `---\nkistype: func\nfid: ${fid}\nfname: ${fname}\nfmode: ${fmode}\noption: { default_params: ${params} }\n`;
const flow = (steps: string[]) => `---\nkistype: flow\nflow_name: F\nflows: [${steps.map((s) => `{ fid: ${s} }`).join(', ')}]\n`;

test('kis.print writes each row with its flow, function and params, and passes the rows on', async () => {
  const d = await TestDriver.fromYaml(step('P', 'kis.print', 'C', '{ args1: value1 }') + flow(['P']));
  const r = await d.runFlow('F', [{ id: 1, name: '张三' }]);
  assert.deepEqual(d.stdout, ['[F/P args1=value1] {"id":1,"name":"张三"}']);
  assert.deepEqual(r.output, [{ id: 1, name: '张三' }]);
  await d.close();
});

test('kis.filter keeps rows where the expression is true: as Verify it rejects the others, as Calculate it drops them', async () => {
  const d = await TestDriver.fromYaml(
    step('V', 'kis.filter', 'Verify', '{ where: "amount > 100 and status = \'paid\'" }') +
    step('C', 'kis.filter', 'C', '{ where: "amount > 100" }') +
    `---\nkistype: flow\nflow_name: FV\nflows: [{ fid: V }]\n---\nkistype: flow\nflow_name: FC\nflows: [{ fid: C }]\n`);
  const rows = [{ amount: 150, status: 'paid' }, { amount: 150, status: 'new' }, { amount: 5, status: 'paid' }];
  const v = await d.runFlow('FV', rows);
  assert.deepEqual(v.output, [{ amount: 150, status: 'paid' }]);
  assert.deepEqual(v.rejected.map((x) => x.row), [{ amount: 150, status: 'new' }, { amount: 5, status: 'paid' }]);
  assert.match(v.rejected[0]!.message, /where "amount > 100 and status = 'paid'" is false/);
  const c = await d.runFlow('FC', rows);
  assert.deepEqual(c.output, [{ amount: 150, status: 'paid' }, { amount: 150, status: 'new' }]);
  assert.deepEqual(c.rejected, []);
  await d.close();
});

test('kis.map: expr builds the row, set adds fields, remove drops them', async () => {
  const d = await TestDriver.fromYaml(
    step('M1', 'kis.map', 'C', '{ set: { total: "price * qty", tag: "\'x\' & $string(qty)" }, remove: [price] }') +
    step('M2', 'kis.map', 'C', '{ expr: "{ \'sku\': sku, \'n\': qty }" }') +
    `---\nkistype: flow\nflow_name: A\nflows: [{ fid: M1 }]\n---\nkistype: flow\nflow_name: B\nflows: [{ fid: M2 }]\n`);
  assert.deepEqual((await d.runFlow('A', [{ sku: 'k', price: 2.5, qty: 4 }])).output, [{ sku: 'k', qty: 4, total: 10, tag: 'x4' }]);
  const b = await d.runFlow('B', [{ sku: 'k', qty: 3, junk: true }, 'not used' as never].slice(0, 1));
  assert.deepEqual(b.output, [{ sku: 'k', n: 3 }]);
  await d.close();
});

test('kis.map rejects a row whose expr yields no object, naming the expression', async () => {
  const d = await TestDriver.fromYaml(step('M', 'kis.map', 'C', '{ expr: "missing" }') + flow(['M']));
  const r = await d.runFlow('F', [{ a: 1 }]);
  assert.deepEqual(r.output, []);
  assert.equal(r.rejected.length, 1);
  assert.match(r.rejected[0]!.message, /params\.expr "missing" gave nothing, not an object/);
  await d.close();
});

test('kis.sink appends JSON lines to a file (flushed on close) and passes rows on; to: none (or null) discards', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'kisflow-sink-'));
  try {
    const out = path.join(dir, 'sub', 'out.jsonl');
    const d = await TestDriver.fromYaml(
      step('S', 'kis.sink', 'Expand', `{ to: file, path: "${out}" }`) + step('N', 'kis.sink', 'Expand', '{ to: null }') + step('N2', 'kis.sink', 'Expand', '{ to: none }') + flow(['S', 'N', 'N2']));
    const r = await d.runFlow('F', [{ a: 1 }, { b: '二' }]);
    assert.deepEqual(d.stdout, [], 'none and null write nowhere');
    await d.close();
    assert.deepEqual(r.output, [{ a: 1 }, { b: '二' }]);
    assert.equal(await readFile(out, 'utf8'), '{"a":1}\n{"b":"二"}\n');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('built-in params and expressions are checked when the flow is built', async () => {
  await assert.rejects(TestDriver.fromYaml(step('F1', 'kis.filter', 'C', '{ wher: "a > 1" }') + flow(['F1'])),
    /flow 'F' step 1 \('F1'\): bad params: unknown key 'wher' \(did you mean 'where'\? allowed here: where\)/);
  await assert.rejects(TestDriver.fromYaml(step('F1', 'kis.filter', 'C', '{ where: "a >" }') + flow(['F1'])),
    /params\.where: expression "a >" does not compile/);
  await assert.rejects(TestDriver.fromYaml(step('S1', 'kis.sink', 'Expand', '{ to: file }') + flow(['S1'])),
    /kis\.sink with to: file needs params\.path/);
  await assert.rejects(TestDriver.fromYaml(step('M1', 'kis.map', 'C', '{}') + flow(['M1'])),
    /kis\.map needs at least one of params\.expr, params\.set, params\.remove/);
});

test('an expression that fails at run time dead-letters its rows with the reason', async () => {
  const d = await TestDriver.fromYaml(step('F1', 'kis.filter', 'C', '{ where: "$number(code) > 1" }') + flow(['F1']));
  const r = await d.runFlow('F', [{ code: 'abc' }]);
  assert.equal(r.deadLetters.length, 1);
  assert.equal(r.deadLetters[0]!.code, 'KIS_ERR_EXPRESSION');
  await d.close();
});

test('labels: kis.print with label heads its lines [label k=v]; kis.sink to stdout with label prefixes [label]', async () => {
  const d = await TestDriver.fromYaml(`kistype: func
fid: P
fname: kis.print
fmode: C
---
kistype: func
fid: S
fname: kis.sink
fmode: E
---
kistype: flow
flow_name: F
flows: [{ fid: P, params: { label: orders, note: x } }, { fid: P }, { fid: S, params: { to: stdout, label: joined } }]
`);
  await d.runFlow('F', [{ a: 1 }]);
  assert.deepEqual(d.stdout, ['[orders note=x] {"a":1}', '[F/P] {"a":1}', '[joined] {"a":1}']);
  await d.close();
});
