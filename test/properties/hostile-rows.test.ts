// Property-based: generated hostile input (deep, wide, huge, invalid UTF-8, binary, __proto__ / constructor
// keys, numbers past 2^53, duplicate keys, empty and whitespace lines) through the file and stdin sources,
// the built-ins (kis.print, kis.filter, kis.map, kis.window), a Save and a join. The service never throws,
// and for every flow of every run: in = out + dead-lettered (rejections included) + unmatched, exactly.
// (The same over the mock cluster is the Kafka suite's.)
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import fc from 'fast-check';
import type { Row } from '../../src/kernel/types.js';
import { silentLogger } from '../../src/observability/logger.js';
import { prepareApp } from '../../src/runtime/app.js';
import { KisService, type RunSummary } from '../../src/runtime/service.js';
import { TestDriver } from '../../src/testing/driver.js';

const nest = (levels: number, leaf: unknown): unknown => {
  let v = leaf;
  for (let i = 0; i < levels; i++) v = i % 2 === 0 ? { a: v } : [v];
  return v;
};

const SPECIAL_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf', '', ' ', 'a.b', '$'];

/** Values that cost: deep, wide, huge, odd keys, odd numbers. */
const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.integer({ min: 1, max: 200 }).map((n) => nest(n, 1)),
  fc.integer({ min: 0, max: 300 }).map((n) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, i]))),
  fc.integer({ min: 0, max: 12_000 }).map((n) => 'é'.repeat(n)),
  fc.dictionary(fc.constantFrom(...SPECIAL_KEYS), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 5 }),
  fc.constantFrom(2 ** 53 + 1, -(2 ** 63), 1e308, Number.MIN_VALUE, 0.1 + 0.2, -0),
);

const userid = fc.oneof(fc.constantFrom('u1', 'u2', 'u3'), hostileValue);
const amount = fc.oneof(fc.integer({ min: -5, max: 500 }), fc.constantFrom('12.5', 'abc', null), hostileValue);
const ts = fc.oneof(fc.integer({ min: 1_767_225_600_000, max: 1_767_229_200_000 }), fc.constantFrom('2026-01-01T00:10:00Z', 'yesterday', -1), hostileValue);

/** A row as an object: the fields the flows read (sometimes missing or wrong), plus a hostile payload. */
const hostileRow: fc.Arbitrary<Row> = fc.record(
  { id: fc.oneof(fc.integer({ min: 0, max: 30 }), fc.constantFrom('x', null)), userid, amount, ts, payload: hostileValue },
  { requiredKeys: [] },
).chain((r) => fc.dictionary(fc.constantFrom(...SPECIAL_KEYS), hostileValue, { maxKeys: 2 }).map((extra) => {
  const row: Row = { ...r };
  // Own properties named __proto__ / constructor, as JSON.parse makes them (not prototype changes).
  for (const [k, v] of Object.entries(extra)) Object.defineProperty(row, k, { value: v, enumerable: true, writable: true, configurable: true });
  return row;
}));

const utf8 = (s: string): Buffer => Buffer.from(s, 'utf8');
/** One line of a JSON-lines input, as bytes (no newline inside). */
const hostileLine: fc.Arbitrary<Buffer> = fc.oneof(
  { weight: 6, arbitrary: hostileRow.map((r) => utf8(JSON.stringify(r))) },
  fc.constantFrom('', '   ', '\t', '\r', '{', '[1,2]', '42', 'null', '"text"', '{"id":1,"id":2,"amount":3,"userid":"u1"}',
    '{"id":3,"amount":123456789012345678901234567890,"userid":"u2"}', '{"__proto__":{"amount":1},"id":4}', '{"constructor":{"prototype":{}},"id":5}').map(utf8),
  fc.integer({ min: 1, max: 20_000 }).map((n) => utf8('['.repeat(n) + ']'.repeat(n))),
  fc.integer({ min: 1, max: 3_000 }).map((n) => utf8('{"a":'.repeat(n) + '1' + '}'.repeat(n))),
  // Invalid UTF-8 inside a JSON string, and binary garbage.
  fc.uint8Array({ minLength: 1, maxLength: 40 }).map((b) => Buffer.concat([utf8('{"id":7,"userid":"u1","amount":5,"bin":"'), Buffer.from(b.filter((x) => x !== 10 && x !== 34 && x !== 92)), utf8('"}')])),
  fc.uint8Array({ minLength: 1, maxLength: 60 }).map((b) => Buffer.from(b.filter((x) => x !== 10))),
);

const FLOWS = `kistype: global
limits: { max_depth: 12, max_bytes: 6000, max_keys: 120 }
---
kistype: func
fid: Print
fname: kis.print
fmode: Calculate
---
kistype: func
fid: Verify
fname: kis.filter
fmode: Verify
option: { default_params: { where: "$type(amount) = 'number' and amount > 0" } }
---
kistype: func
fid: Map
fname: kis.map
fmode: Calculate
option: { default_params: { set: { double: "amount * 2", who: "$string(userid)" }, remove: [payload] } }
---
kistype: func
fid: Out
fname: kis.sink
fmode: Expand
option: { default_params: { to: none } }
---
kistype: func
fid: Window
fname: kis.window
fmode: Calculate
option: { default_params: { group_by: userid, window: { size_ms: 60000 }, time: { field: ts }, emit: update, allowed_lateness_ms: 600000, aggregates: { n: count, total: { sum: amount } } } }
---
kistype: func
fid: Save
fmode: Save
option: { cid: orders }
---
kistype: func
fid: Join
fmode: Load
option: { cid: orders }
---
kistype: conn
cid: orders
type: kafka
key: id
save: [Save]
load: [Join]
---
kistype: flow
flow_name: Plain
flows: [{ fid: Print }, { fid: Verify }, { fid: Map }, { fid: Out }]
---
kistype: flow
flow_name: Win
flows: [{ fid: Verify }, { fid: Window }, { fid: Out }]
---
kistype: flow
flow_name: Saver
flows: [{ fid: Save }]
---
kistype: flow
flow_name: Joined
flows: [{ fid: Join, params: { join: inner, join_as: order } }, { fid: Print }]
`;
const FLOW_IDS = ['Plain', 'Win', 'Saver', 'Joined'];

function source(type: 'file' | 'stdin'): string {
  const params = type === 'file' ? '{ path: in.jsonl, batch_size: 7 }' : '{ batch_size: 7, max_wait_ms: 20 }';
  return `---\nkistype: source\nsid: in\ntype: ${type}\nparams: ${params}\nflows: [${FLOW_IDS.join(', ')}]\n`;
}

/** in = out + dead-lettered + unmatched, for every flow the source feeds (unmatched: the join flow's). */
function assertBalanced(s: RunSummary, input: Buffer): void {
  const rowsIn = s.rowsIn['in'] ?? 0;
  // Every line that is not blank is a row or an undecodable record (the sources end a line at \n, \r\n or a lone \r).
  const lines = input.toString('utf8').split(/\r\n|\n|\r/).filter((l) => l.trim() !== '').length;
  assert.equal(rowsIn, lines, `${rowsIn} rows in from ${lines} lines that are not blank`);
  for (const f of FLOW_IDS) {
    const out = s.rowsOut[f] ?? 0;
    const dead = s.deadLetters[f] ?? 0;
    const unmatched = f === 'Joined' ? s.unmatched : 0;
    assert.equal(out + dead + unmatched, rowsIn, `flow ${f}: in ${rowsIn} = out ${out} + dead-lettered ${dead} + unmatched ${unmatched}`);
  }
}

async function withDir<T>(files: Record<string, string | Buffer>, work: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(path.join(tmpdir(), 'kisflow-props-'));
  try {
    for (const [name, content] of Object.entries(files)) await writeFile(path.join(dir, name), content);
    return await work(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const lines = fc.array(hostileLine, { minLength: 0, maxLength: 25 });
const joinLines = (ls: readonly Buffer[]): Buffer => Buffer.concat(ls.flatMap((l) => [l, utf8('\n')]));

test('file source: hostile JSON lines never stop the service, and every row is accounted for', async () => {
  // What the generated input reached, over all runs: the property is only as good as the paths it covers.
  const codes = new Set<string>();
  const out: Record<string, number> = {};
  await fc.assert(fc.asyncProperty(lines, async (ls) => {
    await withDir({ 'c.yml': FLOWS + source('file'), 'in.jsonl': joinLines(ls) }, async (dir) => {
      const d = await TestDriver.fromDir(dir);
      try {
        const summary = await d.runSources();
        assertBalanced(summary, joinLines(ls));
        for (const dl of d.deadLetters()) codes.add(dl.code);
        for (const [f, n] of Object.entries(summary.rowsOut)) out[f] = (out[f] ?? 0) + n;
      } finally {
        await d.close();
      }
    });
  }), { numRuns: 40, seed: 15 });
  for (const code of ['KIS_ERR_ROW_DECODE', 'KIS_ERR_ROW_LIMIT', 'KIS_ERR_ROW_REJECTED', 'KIS_ERR_ROW_MISSING_FIELD']) assert.ok(codes.has(code), `no ${code} in ${[...codes].join(', ')}`);
  for (const f of FLOW_IDS) assert.ok((out[f] ?? 0) > 0, `flow ${f} never output a row: ${JSON.stringify(out)}`);
});

test('stdin source: hostile JSON lines never stop the service, and every row is accounted for', async () => {
  await fc.assert(fc.asyncProperty(lines, fc.integer({ min: 1, max: 64 }), async (ls, chunk) => {
    await withDir({ 'c.yml': FLOWS + source('stdin') }, async (dir) => {
      const app = await prepareApp(dir);
      // Bytes arrive in arbitrary chunks, splitting lines and UTF-8 sequences.
      const bytes = joinLines(ls);
      const chunks: Buffer[] = [];
      for (let i = 0; i < bytes.length; i += chunk) chunks.push(bytes.subarray(i, i + chunk));
      const service = KisService.create(app.config, { pool: app.pool, logger: silentLogger(), stdin: Readable.from(chunks), stdout: { write: (_t, cb) => { cb(); return true; } } });
      assertBalanced(await service.run(), bytes);
    });
  }), { numRuns: 30, seed: 15 });
});

test('the test driver: hostile row objects (own __proto__ keys, BigInt, deep, wide) through every flow', async () => {
  await withDir({ 'c.yml': FLOWS + '---\nkistype: source\nsid: in\ntype: stdin\nflows: [Plain, Win, Saver, Joined]\n' }, async (dir) => {
    const d = await TestDriver.fromDir(dir);
    try {
      let fed = 0;
      const rowWithBigInt = fc.tuple(hostileRow, fc.option(fc.bigInt(), { nil: undefined })).map(([r, b]) => (b === undefined ? r : { ...r, big: b }));
      await fc.assert(fc.asyncProperty(fc.array(rowWithBigInt, { maxLength: 15 }), async (rows) => {
        await d.pipe('in', rows);
        fed += rows.length;
        for (const f of FLOW_IDS.filter((x) => x !== 'Joined')) {
          assert.equal(d.output(f).length + d.deadLetters(f).length, fed, `flow ${f}`);
        }
      }), { numRuns: 60, seed: 15 });
      // Held join rows: at the end, each is joined, dead-lettered or unmatched.
      await d.end();
      assert.equal(d.output('Joined').length + d.deadLetters('Joined').length + d.unmatched, fed, 'flow Joined');
    } finally {
      await d.close();
    }
  });
});
