// Lineage travels as arrays aligned with each step's rows: a committed row takes the position of its `from`
// (found in the call's input whatever the order), a row of the input committed without `from` keeps its
// own, a new row without `from` pairs with the input row of its index when the counts match.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { FaasHandler } from '../../src/core/context.js';
import { KisError } from '../../src/kernel/errors.js';
import type { Row } from '../../src/kernel/types.js';
import { TestDriver } from '../../src/testing/driver.js';

const rows = (n: number): Row[] => Array.from({ length: n }, (_, i) => ({ id: i }));

/** A flow of Fn, then a step that dead-letters every row it gets: the dead letters show each row's position. */
async function positionsAfter(fn: FaasHandler, n = 6): Promise<Array<[unknown, string | undefined]>> {
  const d = await TestDriver.fromYaml('kistype: func\nfid: Fn\nfmode: C\n---\nkistype: func\nfid: Fail\nfmode: C\n---\n' +
    'kistype: flow\nflow_name: F\nflows: [{ fid: Fn }, { fid: Fail }]\n', {
    register: (pool) => pool
      .faas('Fn', fn)
      .faas('Fail', () => { throw new KisError('KIS_ERR_FUNCTION_FAILED', 'stop here', { retriable: false }); }),
  });
  try {
    const r = await d.runFlow('F', rows(n));
    // Bisection isolates every row (each fails alone), so each dead letter is one row with its own position.
    return r.deadLetters.filter((x) => x.fn === 'Fail').map((x) => [x.row['id'] ?? x.row['copy'], x.position?.offset]);
  } finally {
    await d.close();
  }
}

test('rows committed in reverse order with `from` keep the positions of their own source rows', async () => {
  const got = await positionsAfter((f, rs) => { for (let i = rs.length - 1; i >= 0; i--) f.commitRow({ ...rs[i]! }, rs[i]); });
  assert.deepEqual(got.sort((a, b) => Number(a[0]) - Number(b[0])), [[0, '0'], [1, '1'], [2, '2'], [3, '3'], [4, '4'], [5, '5']]);
});

test('input rows committed without `from`, in another order and fewer of them, keep their own positions', async () => {
  const got = await positionsAfter((f, rs) => { for (const i of [4, 1, 5, 0]) f.commitRow(rs[i]!); });
  assert.deepEqual(got.sort((a, b) => Number(a[0]) - Number(b[0])), [[0, '0'], [1, '1'], [4, '4'], [5, '5']]);
});

test('several rows from one input row (an expand), and rows from rows far apart, all take their source position', async () => {
  const got = await positionsAfter((f, rs) => {
    for (const r of rs) {
      f.commitRow({ id: `${String(r['id'])}a` }, r);
      f.commitRow({ id: `${String(r['id'])}b` }, r);
    }
    f.commitRow({ id: 'last-from-first' }, rs[0]);
  }, 3);
  assert.deepEqual(got, [['0a', '0'], ['0b', '0'], ['1a', '1'], ['1b', '1'], ['2a', '2'], ['2b', '2'], ['last-from-first', '0']]);
});

test('new rows without `from` pair index by index only when the call commits as many rows as it got', async () => {
  const same = await positionsAfter((f, rs) => { for (const r of rs) f.commitRow({ copy: r['id'] }); }, 3);
  assert.deepEqual(same, [[0, '0'], [1, '1'], [2, '2']]);
  const fewer = await positionsAfter((f, rs) => { f.commitRow({ copy: rs[1]!['id'] }); }, 3);
  assert.deepEqual(fewer, [[1, undefined]]);
});

test('recordOf finds a row of the input anywhere in it, and a `from` that is no row of this batch gives no position', async () => {
  const seen: Array<string | undefined> = [];
  const stranger: Row = { id: 'not in the batch' };
  const got = await positionsAfter((f, rs) => {
    for (const i of [3, 0, 2]) seen.push(f.recordOf(rs[i]!)?.offset);
    seen.push(f.recordOf(stranger)?.offset);
    f.commitRow({ copy: 'x' }, stranger);
  }, 4);
  assert.deepEqual(seen, ['3', '0', '2', undefined]);
  assert.deepEqual(got, [['x', undefined]]);
});
