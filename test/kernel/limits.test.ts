// Row limits and safe dead-letter JSON: the walker never recurses (a row 100,000 levels deep), each bound
// is exact at its edge, and any row has a JSON text for the dead-letter writers.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkRowLimits, DEFAULT_ROW_LIMITS } from '../../src/kernel/limits.js';
import { preview, safeJson } from '../../src/kernel/safe-json.js';
import type { Row } from '../../src/kernel/types.js';
import { TestDriver } from '../../src/testing/driver.js';

function deep(levels: number): Row {
  let row: Row = { leaf: 1 };
  for (let i = 1; i < levels; i++) row = { a: row };
  return row;
}

test('max_depth: exact at the edge, and a row 100,000 levels deep is measured without recursion', () => {
  const limits = { ...DEFAULT_ROW_LIMITS, maxDepth: 5 };
  assert.equal(checkRowLimits(deep(5), limits), undefined);
  assert.equal(checkRowLimits(deep(6), limits)?.limit, 'max_depth');
  assert.equal(checkRowLimits({ l: [[[[1]]]] }, limits), undefined);
  assert.equal(checkRowLimits({ l: [[[[[1]]]]] }, limits)?.limit, 'max_depth');
  const breach = checkRowLimits(deep(100_000), DEFAULT_ROW_LIMITS);
  assert.deepEqual([breach?.limit, breach?.max], ['max_depth', 64]);
  assert.match(breach!.message, /nested deeper than limits\.max_depth \(64 levels\)/);
});

test('max_bytes: the UTF-8 length of the JSON, exact at the edge (multi-byte characters and escapes included)', () => {
  const limits = { ...DEFAULT_ROW_LIMITS, maxBytes: 100 };
  const sized = (s: string): Row => ({ s });
  const fits = sized('x'.repeat(100 - '{"s":""}'.length));
  assert.equal(Buffer.byteLength(JSON.stringify(fits)), 100);
  assert.equal(checkRowLimits(fits, limits), undefined);
  assert.equal(checkRowLimits(sized('x'.repeat(93)), limits)?.limit, 'max_bytes');
  // 30 × '€' is 90 bytes in UTF-8: 98 in all fits; 31 is 101 bytes.
  assert.equal(checkRowLimits(sized('€'.repeat(30)), limits), undefined);
  const over = checkRowLimits(sized('€'.repeat(31)), limits);
  assert.match(over!.message, /row's JSON is 101 bytes, past limits\.max_bytes \(100\)/);
  assert.equal(checkRowLimits(sized('\u0001'.repeat(15)), limits), undefined); // 15 × \u0001 escaped = 90 bytes, + 8
  assert.equal(checkRowLimits(sized('\u0001'.repeat(16)), limits)?.limit, 'max_bytes');
  assert.equal(checkRowLimits({ s: 'x'.repeat(10_000_000) }, DEFAULT_ROW_LIMITS)?.limit, 'max_bytes');
});

test('max_keys: keys of every mapping together', () => {
  const limits = { ...DEFAULT_ROW_LIMITS, maxKeys: 4 };
  assert.equal(checkRowLimits({ a: 1, b: { c: 1, d: 1 } }, limits), undefined);
  assert.equal(checkRowLimits({ a: 1, b: { c: 1, d: 1, e: 1 } }, limits)?.limit, 'max_keys');
  assert.equal(checkRowLimits({ list: [{ a: 1 }, { a: 1 }, { a: 1 }, { a: 1 }, { a: 1 }] }, limits)?.limit, 'max_keys');
});

test('safeJson: plain JSON when it can; a placeholder (valid JSON, within the budget) when it cannot', () => {
  assert.deepEqual(safeJson({ a: 1, s: 'é' }, 100), { text: '{"a":1,"s":"é"}', truncated: false });
  assert.deepEqual(safeJson({ n: 2n ** 64n }, 100), { text: '{"n":"18446744073709551616"}', truncated: false });
  const deepText = safeJson(deep(100_000), 4096);
  assert.equal(deepText.truncated, true);
  const parsed = JSON.parse(deepText.text) as Record<string, unknown>;
  assert.match(String(parsed['kis_placeholder']), /nested deeper than 512 levels/);
  assert.ok(String(parsed['preview']).startsWith('{"a":{"a":{"a":'));
  assert.ok(Buffer.byteLength(deepText.text) <= 4096);
  const cyclic: Row = { x: 1 };
  cyclic['self'] = cyclic;
  const c = safeJson(cyclic, 4096);
  assert.equal(c.truncated, true);
  assert.match(String((JSON.parse(c.text) as Row)['kis_placeholder']), /refers to itself/);
  const big = safeJson({ s: 'x'.repeat(5000) }, 2000);
  assert.equal(big.truncated, true);
  assert.ok(Buffer.byteLength(big.text) <= 2000, `${Buffer.byteLength(big.text)} bytes`);
  assert.match(String((JSON.parse(big.text) as Row)['kis_placeholder']), /more than 2000 bytes/);
});

test('preview: the start of the JSON, without recursion, cycles marked', () => {
  assert.equal(preview({ a: [1, 'x', null, true] }, 100), '{"a":[1,"x",null,true]}');
  const cyclic: Row = { k: 1 };
  cyclic['me'] = cyclic;
  assert.equal(preview(cyclic, 100), '{"k":1,"me":"[Circular]"}');
  assert.equal(preview(deep(100_000), 20).length, 20);
});

test('through a flow: rows past the limits are dead-lettered where they enter, with the bound named; the others go on', async () => {
  const d = await TestDriver.fromYaml('kistype: global\nlimits: { max_depth: 4, max_bytes: 200, max_keys: 6 }\n---\n' +
    'kistype: func\nfid: P\nfname: kis.print\nfmode: E\n---\nkistype: flow\nflow_name: F\nflows: [{ fid: P }]\n');
  const r = await d.runFlow('F', [{ id: 1 }, deep(5), { s: 'x'.repeat(300) }, { a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7 }, { id: 2 }]);
  assert.deepEqual(r.output, [{ id: 1 }, { id: 2 }]);
  assert.equal(d.stdout.length, 2, 'kis.print never saw the rows past the limits');
  assert.deepEqual(r.deadLetters.map((x) => [x.code, x.fn, x.position?.offset]), [
    ['KIS_ERR_ROW_LIMIT', '', '1'], ['KIS_ERR_ROW_LIMIT', '', '2'], ['KIS_ERR_ROW_LIMIT', '', '3'],
  ]);
  assert.match(r.deadLetters[0]!.message, /limits\.max_depth \(4 levels\)/);
  assert.match(r.deadLetters[1]!.message, /limits\.max_bytes \(200\)/);
  assert.match(r.deadLetters[2]!.message, /limits\.max_keys \(6\)/);
  // The dead letter carries a placeholder with a preview, not the row past the limits.
  assert.match(String(r.deadLetters[1]!.row['kis_placeholder']), /max_bytes/);
  assert.ok(String(r.deadLetters[1]!.row['preview']).startsWith('{"s":"xxx'));
  await d.close();
});

test('with the defaults, a row 100,000 levels deep costs one dead letter, and its six neighbours go on', async () => {
  const d = await TestDriver.fromYaml('kistype: func\nfid: P\nfname: kis.print\nfmode: E\n---\nkistype: flow\nflow_name: F\nflows: [{ fid: P }]\n');
  const good = Array.from({ length: 6 }, (_, i) => ({ order: i }));
  const r = await d.runFlow('F', [...good.slice(0, 3), deep(100_000), ...good.slice(3)]);
  assert.deepEqual(r.output, good);
  assert.deepEqual(r.deadLetters.map((x) => x.code), ['KIS_ERR_ROW_LIMIT']);
  assert.equal(d.topic('F.dlq').length, 1);
  await d.close();
});

test('truncateUtf8: raw text cut to the byte budget, never past it', async () => {
  const { truncateUtf8 } = await import('../../src/kernel/safe-json.js');
  assert.deepEqual(truncateUtf8('short', 100), { text: 'short', truncated: false });
  const cut = truncateUtf8('€'.repeat(1000), 100);
  assert.equal(cut.truncated, true);
  assert.ok(Buffer.byteLength(cut.text) <= 100);
  assert.ok(cut.text.startsWith('€€€'));
});

test("the issue's poison pill: the demo with a row nested 100,000 levels deep in its orders still joins 17 payments", async () => {
  const { cp, mkdtemp, rm, appendFile } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const path = await import('node:path');
  const dir = await mkdtemp(path.join(tmpdir(), 'kisflow-poison-'));
  try {
    await cp(path.resolve('config'), dir, { recursive: true });
    const n = 100_000;
    await appendFile(path.join(dir, 'data', 'orders.jsonl'), '{"userid":"u1","orderid":"o99","amount":5,"deep":' + '{"a":'.repeat(n) + '1' + '}'.repeat(n) + '}\n');
    const d = await TestDriver.fromDir(dir, { env: { ...process.env, KAFKA_BROKERS: '', KISFLOW_DEMO_SINK: 'none' } });
    const summary = await d.runSources();
    assert.equal(summary.rowsOut['PayFlow'], 17);
    const limited = d.deadLetters('MyFlow1').filter((x) => x.code === 'KIS_ERR_ROW_LIMIT');
    assert.equal(limited.length, 1);
    assert.match(limited[0]!.message, /limits\.max_depth \(64 levels\)/);
    assert.equal(d.deadLetters('MyFlow1').length, 4, 'the three bad rows of the demo, and the poison pill');
    await d.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('rows of scalars and mappings of scalars (a change row) are measured as the general walk measures them', () => {
  const change = (after: Row | null, s = 'x'): Row => ({ op: 'c', schema: 'shop', table: 'orders', pk: { id: 7 }, before: null, after, position: { file: 'binlog.000001', pos: 4, gtid: '0-1-9' }, ts_ms: 1, s });
  const after = { id: 7, userid: 'u1', amount: '12.50', status: 'paid', note: null, flag: true };
  const size = (r: Row): number => Buffer.byteLength(JSON.stringify(r));
  // Exact at the edge of max_bytes, as a flat row is.
  const base = change(after, '');
  const room = 300 - size(base);
  assert.equal(checkRowLimits(change(after, 'y'.repeat(room)), { ...DEFAULT_ROW_LIMITS, maxBytes: 300 }), undefined);
  assert.equal(checkRowLimits(change(after, 'y'.repeat(room + 1)), { ...DEFAULT_ROW_LIMITS, maxBytes: 300 })?.limit, 'max_bytes');
  assert.equal(checkRowLimits(change({ ...after, note: '€'.repeat(room) }), { ...DEFAULT_ROW_LIMITS, maxBytes: 300 })?.limit, 'max_bytes');
  // Keys of the inner mappings count: 9 at the top, 1 in pk, 6 in after, 3 in position.
  assert.equal(checkRowLimits(change(after), { ...DEFAULT_ROW_LIMITS, maxKeys: 19 }), undefined);
  assert.equal(checkRowLimits(change(after), { ...DEFAULT_ROW_LIMITS, maxKeys: 18 })?.limit, 'max_keys');
  // Two levels need max_depth 2; a third level, a list or a date inside goes to the general walk and is measured there.
  assert.equal(checkRowLimits(change(after), { ...DEFAULT_ROW_LIMITS, maxDepth: 2 }), undefined);
  assert.equal(checkRowLimits(change(after), { ...DEFAULT_ROW_LIMITS, maxDepth: 1 })?.limit, 'max_depth');
  assert.equal(checkRowLimits(change({ ...after, deeper: { a: 1 } }), { ...DEFAULT_ROW_LIMITS, maxDepth: 2 })?.limit, 'max_depth');
  assert.equal(checkRowLimits(change({ ...after, at: new Date(0) }), { ...DEFAULT_ROW_LIMITS, maxBytes: size(change({ ...after, at: new Date(0) })) }), undefined);
  assert.equal(checkRowLimits(change({ ...after, at: new Date(0) }), { ...DEFAULT_ROW_LIMITS, maxBytes: size(change({ ...after, at: new Date(0) })) - 1 })?.limit, 'max_bytes');
});
