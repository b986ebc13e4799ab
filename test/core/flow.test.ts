// The engine through the test driver: params merge, actions, retries and dead letters, must and codecs.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as t from 'io-ts';
import { Abort, DataReuse, ForceEntryNext, JumpFunc } from '../../src/core/actions.js';
import { KisError } from '../../src/kernel/errors.js';
import type { KisPool } from '../../src/core/pool.js';
import { TestDriver } from '../../src/testing/driver.js';

function fn(fid: string, fmode = 'Calculate', extra = ''): string {
  return `---\nkistype: func\nfid: ${fid}\nfname: ${fid}\nfmode: ${fmode}\n${extra}`;
}
function flow(id: string, steps: string[]): string {
  return `---\nkistype: flow\nflow_name: ${id}\nflows:\n${steps.map((s) => `  - ${s}\n`).join('')}`;
}

async function driver(yaml: string, register: (pool: KisPool) => void): Promise<TestDriver> {
  return TestDriver.fromYaml(yaml, { register });
}

test("params: the function's default_params with the flow step's params on top", async () => {
  const seen: unknown[] = [];
  const d = await driver(
    fn('P', 'C', 'option: { default_params: { a: fa, b: fb } }\n') + flow('F', ['{ fid: P, params: { b: sb, c: sc } }']),
    (pool) => pool.faas('P', (f, rows) => { seen.push(f.params, f.param('b')); f.commitRows(rows); }),
  );
  const r = await d.runFlow('F', [{ x: 1 }]);
  assert.deepEqual(seen, [{ a: 'fa', b: 'sb', c: 'sc' }, 'sb']);
  assert.deepEqual(r.output, [{ x: 1 }]);
  await d.close();
});

test('two steps of the same function each get their own params', async () => {
  const seen: unknown[] = [];
  const d = await driver(fn('P', 'C', 'option: { default_params: { a: d } }\n') + flow('F', ['{ fid: P, params: { n: 1 } }', '{ fid: P }']),
    (pool) => pool.faas('P', (f, rows) => { seen.push(f.params); f.commitRows(rows); }));
  await d.runFlow('F', [{}]);
  assert.deepEqual(seen, [{ a: 'd', n: 1 }, { a: 'd' }]);
  await d.close();
});

test('a function that commits no rows stops the flow; ForceEntryNext goes on with none', async () => {
  const calls: string[] = [];
  const d = await driver(fn('Drop') + fn('Force') + fn('Next') + flow('Stop', ['{ fid: Drop }', '{ fid: Next }']) + flow('Go', ['{ fid: Force }', '{ fid: Next }']),
    (pool) => pool
      .faas('Drop', () => { calls.push('Drop'); })
      .faas('Force', (f) => { calls.push('Force'); f.next(ForceEntryNext); })
      .faas('Next', (f, rows) => { calls.push(`Next(${rows.length})`); f.commitRow({ done: true }); }));
  const stopped = await d.runFlow('Stop', [{ a: 1 }]);
  assert.equal(stopped.stopReason, 'no-rows');
  assert.deepEqual(stopped.output, []);
  const forced = await d.runFlow('Go', [{ a: 1 }]);
  assert.deepEqual(calls, ['Drop', 'Force', 'Next(0)']);
  assert.deepEqual(forced.output, [{ done: true }]);
  await d.close();
});

test('DataReuse passes the input on unchanged; Abort stops after the current function', async () => {
  const d = await driver(fn('Reuse') + fn('Stop') + fn('Never') + flow('F', ['{ fid: Reuse }', '{ fid: Stop }', '{ fid: Never }']),
    (pool) => pool
      .faas('Reuse', (f) => { f.commitRow({ ignored: true }); f.next(DataReuse); })
      .faas('Stop', (f, rows) => { f.commitRows(rows.map((r) => ({ ...r, stopped: true }))); f.next(Abort); })
      .faas('Never', () => { throw new Error('must not run'); }));
  const r = await d.runFlow('F', [{ id: 1 }]);
  assert.deepEqual(r.output, [{ id: 1, stopped: true }]);
  assert.equal(r.stopReason, 'abort');
  assert.deepEqual(r.deadLetters, []);
  await d.close();
});

test('JumpFunc goes to the named function with the jumping function\'s output', async () => {
  const d = await driver(fn('A') + fn('B') + fn('C') + flow('F', ['{ fid: A }', '{ fid: B }', '{ fid: C }']),
    (pool) => pool
      .faas('A', (f, rows) => { f.commitRows(rows.map((r) => ({ ...r, path: 'A' }))); f.next(JumpFunc('C')); })
      .faas('B', () => { throw new Error('skipped'); })
      .faas('C', (f, rows) => { f.commitRows(rows.map((r) => ({ ...r, path: `${String(r['path'])}C` }))); }));
  const r = await d.runFlow('F', [{ n: 1 }]);
  assert.deepEqual(r.output, [{ n: 1, path: 'AC' }]);
  await d.close();
});

test('an endless JumpFunc loop is stopped and its rows dead-lettered; a jump to an unknown fid too', async () => {
  const d = await driver(fn('Loop') + fn('Bad') + flow('L', ['{ fid: Loop }']) + flow('U', ['{ fid: Bad }']),
    (pool) => pool
      .faas('Loop', (f, rows) => { f.commitRows(rows); f.next(JumpFunc('Loop')); })
      .faas('Bad', (f, rows) => { f.commitRows(rows); f.next(JumpFunc('Nowhere')); }));
  const loop = await d.runFlow('L', [{ k: 1 }]);
  assert.equal(loop.deadLetters.length, 1);
  assert.equal(loop.deadLetters[0]!.code, 'KIS_ERR_JUMP_LOOP');
  assert.deepEqual(loop.deadLetters[0]!.row, { k: 1 });
  const unknown = await d.runFlow('U', [{ k: 2 }]);
  assert.equal(unknown.deadLetters[0]!.code, 'KIS_ERR_JUMP_UNKNOWN');
  assert.match(unknown.deadLetters[0]!.message, /jumped to 'Nowhere', which is not a step of flow 'U'/);
  await d.close();
});

test('retries: a retriable failure is retried retry_times times, then the rows go to the dead-letter sink with code, function and position', async () => {
  let calls = 0;
  const d = await driver(fn('Flaky', 'C', 'option: { retry_times: 2, retry_duration: 1 }\n') + flow('F', ['{ fid: Flaky }']),
    (pool) => pool.faas('Flaky', () => { calls++; throw new Error('backend down'); }));
  const r = await d.runFlow('F', [{ id: 'a' }, { id: 'b' }]);
  // 3 attempts of the call, then one attempt of each half to find the failing rows (both fail).
  assert.equal(calls, 5);
  assert.equal(r.stopReason, 'failed');
  assert.deepEqual(r.deadLetters.map((x) => [x.row, x.code, x.fn, x.attempts, x.position?.offset]), [
    [{ id: 'a' }, 'KIS_ERR_FUNCTION_FAILED', 'Flaky', 3, '0'],
    [{ id: 'b' }, 'KIS_ERR_FUNCTION_FAILED', 'Flaky', 3, '1'],
  ]);
  assert.match(r.deadLetters[0]!.message, /backend down/);
  // the dead letters are on the flow's dead-letter topic too, with their headers
  const dlq = d.topic('F.dlq');
  assert.equal(dlq.length, 2);
  assert.equal(dlq[0]!.headers['kis-error-code'], 'KIS_ERR_FUNCTION_FAILED');
  assert.equal(dlq[0]!.headers['kis-fn'], 'Flaky');
  assert.equal(dlq[0]!.headers['kis-offset'], '0');
  await d.close();
});

test('retries: a success on a later attempt loses nothing and duplicates nothing', async () => {
  let calls = 0;
  const d = await driver(fn('Flaky', 'C', 'option: { retry_times: 3, retry_duration: 1 }\n') + flow('F', ['{ fid: Flaky }']),
    (pool) => pool.faas('Flaky', (f, rows) => { f.commitRows(rows); if (++calls < 3) throw new Error('transient'); }));
  const r = await d.runFlow('F', [{ id: 1 }, { id: 2 }]);
  assert.equal(calls, 3);
  assert.deepEqual(r.output, [{ id: 1 }, { id: 2 }]);
  assert.deepEqual(r.deadLetters, []);
  await d.close();
});

test('a non-retriable error is not retried', async () => {
  let calls = 0;
  const d = await driver(fn('Strict', 'C', 'option: { retry_times: 5, retry_duration: 1 }\n') + flow('F', ['{ fid: Strict }']),
    (pool) => pool.faas('Strict', () => { calls++; throw new KisError('KIS_ERR_FUNCTION_FAILED', 'bad data', { retriable: false }); }));
  const r = await d.runFlow('F', [{ id: 1 }]);
  assert.equal(calls, 1);
  assert.equal(r.deadLetters.length, 1);
  assert.equal(r.deadLetters[0]!.attempts, 1);
  await d.close();
});

test('nothing is silently dropped: every input row is output, rejected or dead-lettered', async () => {
  const d = await driver(
    fn('V', 'Verify', 'source: { name: orders, must: [id, amount] }\n') + fn('C', 'C', 'option: { retry_times: 1, retry_duration: 1 }\n') +
      flow('F', ['{ fid: V }', '{ fid: C }']),
    (pool) => pool
      .faas('V', (f, rows) => { for (const r of rows) { if (Number(r['amount']) < 0) f.reject(r, 'negative amount'); else f.commitRow(r); } })
      .faas('C', (f, rows) => { if (rows.some((r) => r['id'] === 'boom')) throw new Error('boom'); f.commitRows(rows); }));
  const input = [
    { id: 1, amount: 5 }, { id: 2 }, { id: 3, amount: -1 }, { id: 4, amount: 7 }, { amount: 1 },
  ];
  const r = await d.runFlow('F', input);
  assert.deepEqual(r.output, [{ id: 1, amount: 5 }, { id: 4, amount: 7 }]);
  assert.deepEqual(r.rejected.map((x) => [x.row, x.code]), [
    [{ id: 2 }, 'KIS_ERR_ROW_MISSING_FIELD'],
    [{ amount: 1 }, 'KIS_ERR_ROW_MISSING_FIELD'],
    [{ id: 3, amount: -1 }, 'KIS_ERR_ROW_REJECTED'],
  ]);
  assert.match(r.rejected[0]!.message, /lacks required field amount/);
  assert.match(r.rejected[2]!.message, /negative amount/);
  const r2 = await d.runFlow('F', [{ id: 'boom', amount: 1 }, { id: 6, amount: 1 }]);
  assert.equal(r2.output.length + r2.deadLetters.length, 2);
  assert.equal(r.output.length + r.rejected.length, input.length);
  await d.close();
});

test("rows that fail a function's io-ts codec are rejected before it runs", async () => {
  const got: unknown[] = [];
  const d = await driver(fn('Typed') + flow('F', ['{ fid: Typed }']),
    (pool) => pool.faas('Typed', (f, rows) => { got.push(...rows); f.commitRows(rows); }, { rowCodec: t.type({ n: t.number }) }));
  const r = await d.runFlow('F', [{ n: 1 }, { n: 'one' }]);
  assert.deepEqual(got, [{ n: 1 }]);
  assert.deepEqual(r.rejected.map((x) => [x.row, x.code]), [[{ n: 'one' }, 'KIS_ERR_ROW_CODEC']]);
  assert.match(r.rejected[0]!.message, /at n/);
  await d.close();
});

test('per-batch cache and metadata are shared by the functions of one run and gone after it', async () => {
  const seen: unknown[] = [];
  const d = await driver(fn('W') + fn('R') + flow('F', ['{ fid: W }', '{ fid: R }']),
    (pool) => pool
      .faas('W', (f, rows) => { seen.push(f.getCacheData('k') ?? 'empty'); f.setCacheData('k', rows.length); f.setMetaData('m', 'meta'); f.commitRows(rows); })
      .faas('R', (f, rows) => { seen.push(f.getCacheData('k'), f.getMetaData('m')); f.commitRows(rows); }));
  await d.runFlow('F', [{}, {}]);
  await d.runFlow('F', [{}]);
  assert.deepEqual(seen, ['empty', 2, 'meta', 'empty', 1, 'meta']);
  await d.close();
});

test('a disabled flow (status: 0) is never run', async () => {
  let calls = 0;
  const d = await driver(fn('P') + '---\nkistype: flow\nflow_name: Off\nstatus: 0\nflows: [{ fid: P }]\n',
    (pool) => pool.faas('P', () => { calls++; }));
  const r = await d.runFlow('Off', [{ a: 1 }]);
  assert.equal(calls, 0);
  assert.deepEqual(r.output, []);
  await d.close();
});

test('fork(): a flow and its fork run batches at the same time without sharing run state', async () => {
  const d = await driver(fn('Slow') + flow('F', ['{ fid: Slow }']),
    (pool) => pool.faas('Slow', async (f, rows) => {
      f.setCacheData('n', rows.length);
      await new Promise((r) => setTimeout(r, 5));
      f.commitRows(rows.map((r) => ({ ...r, n: f.getCacheData('n') })));
    }));
  const { KisService } = await import('../../src/runtime/service.js');
  const { silentLogger } = await import('../../src/observability/logger.js');
  const svc = KisService.create(d.app.config, { pool: d.app.pool, logger: silentLogger(), withoutSources: true });
  const f = svc.flows.get('F')!;
  const g = f.fork();
  assert.notEqual(f, g);
  const [a, b] = await Promise.all([f.run([{ id: 'a' }]), g.run([{ id: 'b' }, { id: 'c' }])]);
  assert.deepEqual(a.output, [{ id: 'a', n: 1 }]);
  assert.deepEqual(b.output, [{ id: 'b', n: 2 }, { id: 'c', n: 2 }]);
  await svc.close();
  await d.close();
});

test('registering a function name twice is an error with a message', async () => {
  await assert.rejects(
    TestDriver.fromYaml(fn('P') + flow('F', ['{ fid: P }']), { register: (pool) => pool.faas('P', () => {}).faas('P', () => {}) }),
    /function 'P' is registered twice/,
  );
  await assert.rejects(
    TestDriver.fromYaml(fn('P') + flow('F', ['{ fid: P }']), { register: (pool) => { pool.faas('kis.print', () => {}); } }),
    /'kis.print' is registered twice \(it is a built-in name; pick another\)/,
  );
});

test('a function with no implementation stops start-up, naming the file and fname', async () => {
  await assert.rejects(TestDriver.fromYaml({ 'f.yml': 'kistype: func\nfid: A\nfname: NotThere\nfmode: C\n' }), (err: Error) => {
    assert.match(err.message, /f\.yml doc 1 at fname \(line 3, col 8\): no implementation named 'NotThere' for Calculate function 'A'/);
    return true;
  });
});

test('a connector of a type no registered type serves needs a CaaS call; with one, Save goes through it', async () => {
  const seed = 'kistype: func\nfid: S\nfmode: Save\noption: { cid: r }\n---\nkistype: conn\ncid: r\ntype: memcache\nkey: id\n' + flow('F', ['{ fid: S }']);
  await assert.rejects(TestDriver.fromYaml(seed), /connector 'r' of type memcache, which no registered connector type serves \(types: kafka, redis, mysql, postgres, sqlite\); register the type from a function module/);
  const saved: unknown[] = [];
  const d = await TestDriver.fromYaml(seed, { register: (pool) => pool.caas('r', 'S', (conn, _f, rows) => { saved.push(conn.type, ...rows); }) });
  const r = await d.runFlow('F', [{ id: 1 }, { nokey: true }]);
  assert.deepEqual(saved, ['memcache', { id: 1 }]);
  assert.deepEqual(r.output, [{ id: 1 }]);
  assert.deepEqual(r.rejected.map((x) => x.row), [{ nokey: true }]);
  assert.match(r.rejected[0]!.message, /lacks key field id of connector 'r'/);
  await d.close();
});

test("a flow's dead_letter.topic is where its dead letters go", async () => {
  const d = await TestDriver.fromYaml(fn('V', 'Verify', 'source: { name: x, must: [id] }\n') +
    '---\nkistype: flow\nflow_name: F\ndead_letter: { topic: shop.bad-rows }\nflows: [{ fid: V }]\n',
  { register: (pool) => pool.faas('V', (f, rows) => f.commitRows(rows)) });
  await d.runFlow('F', [{ id: 1 }, { noid: 2 }]);
  assert.deepEqual(d.topic('shop.bad-rows').map((r) => [r.value, r.headers['kis-error-code']]), [[{ noid: 2 }, 'KIS_ERR_ROW_MISSING_FIELD']]);
  assert.deepEqual(d.topic('F.dlq'), []);
  await d.close();
});

test('Save: rows lacking the key are rejected and every saved record keeps the lineage of its own input row', async () => {
  const seed = 'kistype: func\nfid: M\nfname: Copy\nfmode: Calculate\n---\nkistype: func\nfid: S\nfmode: Save\noption: { cid: out }\n' +
    '---\nkistype: conn\ncid: out\ntype: kafka\nkey: id\nparams: { topic: saved }\n' + flow('F', ['{ fid: M }', '{ fid: S }']);
  // Copy makes new rows, so each saved row's position comes through `from`, which Save's compaction must keep paired.
  const d = await TestDriver.fromYaml(seed, { register: (pool) => pool.faas('Copy', (f, rows) => { for (const r of rows) f.commitRow({ ...r, copied: true }, r); }) });
  const r = await d.runFlow('F', [{ id: 'a' }, { nokey: 1 }, { id: 'c' }, { id: null }, { id: 'e' }]);
  assert.deepEqual(r.output, [{ id: 'a', copied: true }, { id: 'c', copied: true }, { id: 'e', copied: true }]);
  assert.deepEqual(r.rejected.map((x) => [x.row, x.position?.offset]), [[{ nokey: 1, copied: true }, '1'], [{ id: null, copied: true }, '3']]);
  const saved = d.topic('saved');
  assert.deepEqual(saved.map((rec) => [rec.key, rec.headers['kis-lineage']?.split(':')[1]]), [['a', '0'], ['c', '2'], ['e', '4']]);
  await d.close();
});
