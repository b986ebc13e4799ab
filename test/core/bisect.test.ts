// One failing row no longer sends its whole call to the dead-letter topic: the call's rows are retried in
// halves, only the rows that fail alone are dead-lettered, the others go on (in order, once).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DataReuse } from '../../src/core/actions.js';
import { MAX_BISECT_CALLS } from '../../src/core/bisect.js';
import type { KisPool } from '../../src/core/pool.js';
import { KisError } from '../../src/kernel/errors.js';
import type { Row } from '../../src/kernel/types.js';
import { TestDriver } from '../../src/testing/driver.js';

const rows = (n: number, bad: readonly number[]): Row[] => Array.from({ length: n }, (_, i) => ({ id: i, ...(bad.includes(i) ? { bad: true } : {}) }));

async function driver(fmode: string, register: (pool: KisPool) => void, extra = ''): Promise<TestDriver> {
  return TestDriver.fromYaml(`kistype: func\nfid: Fn\nfmode: ${fmode}\n${extra}---\nkistype: flow\nflow_name: F\nflows: [{ fid: Fn }, { fid: Out }]\n` +
    '---\nkistype: func\nfid: Out\nfname: kis.print\nfmode: E\n', { register });
}

test('one bad row among six: five go on in order, the bad one is dead-lettered with its own error', async () => {
  let calls = 0;
  const d = await driver('C', (pool) => pool.faas('Fn', (f, rs) => {
    calls++;
    for (const r of rs) {
      if (r['bad']) throw new Error(`cannot handle row ${String(r['id'])}`);
      f.commitRow({ ...r, ok: true }, r);
    }
  }), 'option: { retry_times: 1, retry_duration: 1 }\n');
  const r = await d.runFlow('F', rows(6, [3]));
  assert.deepEqual(r.output.map((x) => x['id']), [0, 1, 2, 4, 5]);
  assert.equal(r.stopReason, 'end');
  assert.equal(r.deadLetters.length, 1);
  const dl = r.deadLetters[0]!;
  assert.deepEqual([dl.row, dl.code, dl.fn, dl.position?.offset, dl.attempts], [{ id: 3, bad: true }, 'KIS_ERR_FUNCTION_FAILED', 'Fn', '3', 3]);
  assert.match(dl.message, /cannot handle row 3 \(this row fails alone; the other rows of its call went on\)/);
  // 2 attempts of the whole call, then [0-2] ok, [3-5] fails, [3-4] fails, [3] fails, [4] ok, [5] ok.
  assert.equal(calls, 8);
  assert.equal(d.stdout.length, 5, 'the next step saw the five good rows');
  await d.close();
});

test('two bad rows among nine, in different halves: exactly those two are dead-lettered', async () => {
  const d = await driver('C', (pool) => pool.faas('Fn', (f, rs) => {
    if (rs.some((r) => r['bad'])) throw new KisError('KIS_ERR_FUNCTION_FAILED', 'bad in batch', { retriable: false });
    f.commitRows(rs);
  }));
  const r = await d.runFlow('F', rows(9, [1, 7]));
  assert.deepEqual(r.output.map((x) => x['id']), [0, 2, 3, 4, 5, 6, 8]);
  assert.deepEqual(r.deadLetters.map((x) => x.row['id']), [1, 7]);
  await d.close();
});

test('a Save step: the good rows of a failing call are saved through the connector, the bad row is not', async () => {
  const d = await TestDriver.fromYaml(`kistype: func\nfid: S\nfmode: Save\noption: { cid: orders }\n---\n` +
    'kistype: conn\ncid: orders\ntype: kafka\nkey: id\nsave: [S]\n---\nkistype: flow\nflow_name: F\nflows: [{ fid: S }]\n', {
    register: (pool) => pool.faas('S', (f, rs) => {
      for (const r of rs) { if (r['bad']) throw new Error('refused'); f.commitRow(r, r); }
    }),
  });
  const r = await d.runFlow('F', rows(4, [2]));
  assert.deepEqual(r.output.map((x) => x['id']), [0, 1, 3]);
  assert.deepEqual(d.topic('orders').map((rec) => (rec.value as Row)['id']).sort(), [0, 1, 3]);
  assert.deepEqual(r.deadLetters.map((x) => x.row['id']), [2]);
  await d.close();
});

test('DataReuse after a bisection hands on only the rows whose parts passed', async () => {
  const d = await driver('C', (pool) => pool.faas('Fn', (f, rs) => {
    if (rs.some((r) => r['bad'])) throw new Error('no');
    f.next(DataReuse);
  }));
  const r = await d.runFlow('F', rows(4, [0]));
  assert.deepEqual(r.output.map((x) => x['id']), [1, 2, 3]);
  assert.deepEqual(r.deadLetters.map((x) => x.row['id']), [0]);
  await d.close();
});

test('a retriable connector error (the dependency is down) is not bisected: the call is dead-lettered whole', async () => {
  let calls = 0;
  const d = await driver('C', (pool) => pool.faas('Fn', () => {
    calls++;
    throw new KisError('KIS_ERR_CONNECTOR', 'broker unreachable', { retriable: true });
  }), 'option: { retry_times: 1, retry_duration: 1 }\n');
  const r = await d.runFlow('F', rows(8, []));
  assert.equal(calls, 2);
  assert.equal(r.deadLetters.length, 8);
  assert.equal(r.stopReason, 'failed');
  await d.close();
});

test('a call that fails on every row costs a bounded number of attempts', async () => {
  let calls = 0;
  const d = await driver('C', (pool) => pool.faas('Fn', () => { calls++; throw new Error('always'); }));
  const r = await d.runFlow('F', rows(500, []));
  assert.equal(r.deadLetters.length, 500);
  assert.ok(calls <= 1 + MAX_BISECT_CALLS, `${calls} calls`);
  await d.close();
});

test('a connector error whose cause the client marks non-retriable (a record too large) is one row\'s: it is bisected', async () => {
  const d = await driver('C', (pool) => pool.faas('Fn', (f, rs) => {
    if (rs.some((r) => r['bad'])) {
      const cause = Object.assign(new Error('The request included a message larger than the max message size the server will accept'), { retriable: false });
      throw new KisError('KIS_ERR_CONNECTOR', 'save to topic t failed', { cause, retriable: true });
    }
    f.commitRows(rs);
  }));
  const r = await d.runFlow('F', rows(6, [4]));
  assert.deepEqual(r.output.map((x) => x['id']), [0, 1, 2, 3, 5]);
  assert.deepEqual(r.deadLetters.map((x) => [x.row['id'], x.code]), [[4, 'KIS_ERR_CONNECTOR']]);
  await d.close();
});

test('after a bisection, new rows a function builds without `from` keep the positions of the rows they came from', async () => {
  const d = await TestDriver.fromYaml('kistype: func\nfid: Fn\nfmode: C\n---\nkistype: func\nfid: Fail\nfmode: C\n---\n' +
    'kistype: flow\nflow_name: F\nflows: [{ fid: Fn }, { fid: Fail }]\n', {
    register: (pool) => pool
      .faas('Fn', (f, rs) => {
        if (rs.some((r) => r['bad'])) throw new Error('no');
        for (const r of rs) f.commitRow({ copy: r['id'] }); // no `from`: paired by position
      })
      .faas('Fail', () => { throw new KisError('KIS_ERR_FUNCTION_FAILED', 'later', { retriable: false }); }),
  });
  const r = await d.runFlow('F', rows(4, [1]));
  // Fn: row 1 dead-lettered; Fail dead-letters the three copies, each with the offset of its own source row.
  assert.deepEqual(r.deadLetters.map((x) => [x.fn, x.position?.offset, x.row['copy'] ?? x.row['id']]), [
    ['Fn', '1', 1], ['Fail', '0', 0], ['Fail', '2', 2], ['Fail', '3', 3],
  ]);
  await d.close();
});
