// Every compiled expression against JSONata itself on generated rows: the same value (or both fail).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import jsonata from 'jsonata';
import { compileExpression, NEEDS_ASYNC, type CompiledExpression } from '../../src/kernel/expression.js';

/** Expressions that must compile: the demo's, the README's, the benchmark's, and edge cases. */
const COMPILED = [
  // config/ and README
  'amount > 0', 'amount >= 200', "amount > 100 and status = 'paid'", "status != 'cancelled'",
  "userid & '_' & orderid",
  // generator templates (over { seq } with $seq bound)
  "'o' & $string($seq + 1)", "'u' & $string($seq % 5 + 1)", '($seq + 1) * 10', "$seq % 2 = 0 ? 'alipay' : 'wechat'",
  // paths
  'a', 'a.b', 'a.b.c', '`my field`', '`my field`.x', '$.a', '$$.a.b', '$', 'missing', 'obj.arr',
  // comparisons
  'a = 1', 'a != 1', 'missing = 1', 'missing != 1', 'a = b', 'a != b', 'a < b', 'a <= 2', 'a > "m"', 'a >= b',
  'a = "x"', 'a = null', 'a != null', 'a = true', 'obj = obj', 'arr = [1, 2]', 'obj.b = 1',
  // boolean logic
  'a and b', 'a or b', 'a and missing', 'missing or b', 'not_a_fn or a', '(a > 1) and (b < 2) or c',
  // arithmetic
  'a + b', 'a - 1', 'a * b', 'a / b', 'a % 3', '-a', '-(a + b)', 'a + missing', '1 / 0', '0 / 0', '-0',
  // strings
  'a & b', "a & 'x' & missing", "'n=' & (a * 1.1)", 'a & obj',
  // in, conditionals, blocks
  "a in ['x', 'y', 1, true, null]", 'a in arr', 'a in b', "a ? 'yes' : 'no'", 'a ? b', 'a > 1 ? a : -a', '(a; b)', '()',
  // constructors
  "{ 'k': a, 'j': 1, 'm': missing }", "{ '1': a, 'z': b, '0': 2 }", '[a, b, arr]', '[[a], arr, []]', '[missing]',
  "{ 'x': { 'y': a.b } }", "$merge([$, { 'key': userid & '_' & orderid }])", "$merge([obj, { 'c': a }])", '$merge(obj)',
  // functions
  '$string(a)', '$string(obj)', '$number(a)', '$number(s)', '$round(a)', '$round(a, 2)', '$round(a, -1)', '$floor(a)', '$ceil(a)',
  '$abs(a)', '$substring(s, 1)', '$substring(s, -3, 2)', '$substring(s, a, b)', '$uppercase(s)', '$lowercase(a)',
  '$length(s)', '$exists(a)', '$exists(missing)', '$boolean(a)', '$boolean(obj)', '$not(a)', '$not(arr)',
  "$contains(s, 'a')", '$contains(s, a)', '$sum(arr)', '$count(arr)', '$count(missing)', '$sum(missing)',
  '$string($seq)', '$x + 1', '$sum(arr.b)',
];
/** Compiled, but their rows rarely stay on the compiled path here ($x is unbound in most rows, arr.b maps over an array). */
const RARELY_SYNC = new Set(['$x + 1', '$sum(arr.b)', '$substring(s, a, b)']);

/** Expressions left to JSONata (they must still give JSONata's answer through compileExpression). */
const FALLBACK = [
  "$fromMillis(window_start) & ' .. ' & $fromMillis(window_end)", 'arr[0]', 'arr[$ > 1]', '*.b', '**.c',
  '$map(arr, function($v) { $v * 2 })', '($x := 1; $x + a)', "$replace(s, 'a', 'b')", '$contains(s, /a/)',
  'a.b.c[0]', '[1..3]', "{ 'k': 1, 'k': 2 }", '{ a: 1 }', '$string()', 'arr^(>$)',
];

const NAMES = ['a', 'b', 'c', 's', 'n', 'obj', 'arr', 'userid', 'orderid', 'amount', 'status', 'my field', 'seq', 'window_start'];

const scalar = fc.oneof(
  fc.integer({ min: -1000, max: 1000 }),
  fc.double(),                                   // includes NaN, ±Infinity, -0 and huge values
  fc.constantFrom(0, -0, 1, 2, 3, 1.005, 0.1, 1e21, -1e-7, 2.5, 3.5, Number.MAX_SAFE_INTEGER + 2),
  fc.constantFrom('', 'a', 'x', 'm', 'paid', 'cancelled', '10', '0x1f', ' 1', '1e3', 'Ab', '二三', '😀ab'),
  fc.string({ maxLength: 6 }),
  fc.boolean(),
  fc.constant(null),
);
const value: fc.Arbitrary<unknown> = fc.letrec<{ v: unknown }>((tie) => ({
  v: fc.oneof({ depthSize: 'small', withCrossShrink: true },
    scalar,
    scalar,
    fc.array(tie('v'), { maxLength: 3 }),
    fc.dictionary(fc.constantFrom('b', 'c', 'x', 'arr'), tie('v'), { maxKeys: 3 })),
})).v;
const row = fc.dictionary(fc.constantFrom(...NAMES), value, { maxKeys: NAMES.length });
// Flat rows of plain scalars, as most real rows are: these must mostly stay on the compiled path.
const flatRow = fc.dictionary(fc.constantFrom(...NAMES), fc.oneof(fc.integer({ min: -5, max: 5 }), fc.constantFrom('a', 'x', 'paid'), fc.boolean()), { maxKeys: NAMES.length });

type Outcome = { ok: true; value: unknown } | { ok: false };

const parsed = new Map<string, jsonata.Expression>();
const compiledCache = new Map<string, CompiledExpression>();
const parse = (text: string): jsonata.Expression => parsed.get(text) ?? parsed.set(text, jsonata(text)).get(text)!;
const compile = (text: string): CompiledExpression => compiledCache.get(text) ?? compiledCache.set(text, compileExpression(text, 'test')).get(text)!;

async function viaJsonata(text: string, input: unknown, bindings?: Record<string, unknown>): Promise<Outcome> {
  try {
    return { ok: true, value: await parse(text).evaluate(input, bindings) };
  } catch {
    return { ok: false };
  }
}

/** Structure, key order and exact numbers (-0, NaN); not prototypes (JSONata's objects have none) or a sequence's flags. */
function canon(v: unknown): unknown {
  if (typeof v === 'number') return Object.is(v, -0) ? '<-0>' : Number.isNaN(v) ? '<NaN>' : v;
  if (Array.isArray(v)) return { array: Array.from(v, canon) };
  if (typeof v === 'object' && v !== null) return { object: Object.keys(v).map((k) => [k, canon((v as Record<string, unknown>)[k])]) };
  return v === undefined ? '<undefined>' : v;
}

interface Tally { sync: number; total: number }

async function agree(text: string, input: Record<string, unknown>, tally: Tally): Promise<void> {
  const bindings = { seq: input['seq'] ?? 7, x: input['n'] };
  const compiled = compile(text);
  const expected = await viaJsonata(text, input, bindings);
  tally.total++;
  const sync = compiled.evaluateSync(input, bindings);
  if (sync !== NEEDS_ASYNC) {
    tally.sync++;
    assert.ok(expected.ok, `${text} on ${JSON.stringify(input)}: JSONata fails, the compiled path gave ${JSON.stringify(canon(sync))}`);
    assert.deepEqual(canon(sync), canon(expected.value), `${text} on ${JSON.stringify(input)}`);
  }
  let got: Outcome;
  try {
    got = { ok: true, value: await compiled.evaluate(input, bindings) };
  } catch {
    got = { ok: false };
  }
  assert.equal(got.ok, expected.ok, `${text} on ${JSON.stringify(input)}: fails on one side only`);
  if (got.ok && expected.ok) assert.deepEqual(canon(got.value), canon(expected.value), `${text} on ${JSON.stringify(input)}`);
}

test('the compiler covers the expressions real filters, maps and templates use', () => {
  const missed = COMPILED.filter((t) => !compileExpression(t, 'test').compiled);
  assert.deepEqual(missed, []);
  const compiledAnyway = FALLBACK.filter((t) => compileExpression(t, 'test').compiled);
  assert.deepEqual(compiledAnyway, []);
});

test('every compiled expression gives what JSONata gives, or fails where JSONata fails, on generated rows', async () => {
  for (const text of [...COMPILED, ...FALLBACK]) {
    const tally: Tally = { sync: 0, total: 0 };
    for (const [rows, numRuns] of [[row, 150], [flatRow, 50]] as const) {
      const out = await fc.check(fc.asyncProperty(rows, (r) => agree(text, r, tally)), { numRuns });
      if (out.failed) assert.fail(`${text}: ${String(out.errorInstance)}`);
    }
    if (COMPILED.includes(text) && !RARELY_SYNC.has(text)) {
      assert.ok(tally.sync > tally.total / 4, `${text}: only ${tally.sync} of ${tally.total} rows on the compiled path`);
    }
  }
});

test('edge cases JSONata decides in its own way', async () => {
  const cases: Array<[string, Record<string, unknown>]> = [
    ['missing = 1', {}], ['missing != 1', {}], ['a < 1', {}], ["a < 'x'", { a: 1 }], ['a + 1', { a: 'x' }],
    ['a + 1', { a: Number.POSITIVE_INFINITY }], ['a > 0', { a: Number.NaN }], ['a = a', { a: Number.NaN }],
    ["a & ''", { a: 0.1 + 0.2 }], ["a & ''", { a: -0 }], ["a & ''", { a: 1e21 }], ['a and true', { a: {} }],
    ['a and true', { a: [0, ''] }], ['a and true', { a: [[], 1] }], ['a ? 1 : 2', { a: Number.NaN }],
    ['$round(a)', { a: 2.5 }], ['$round(a)', { a: -0.4 }], ['$round(a, 2)', { a: 1.005 }], ['$number(s)', { s: ' 1' }],
    ['$number(s)', { s: '0x1f' }], ['$number(s)', { s: '1e400' }], ['$substring(s, -3, 2)', { s: '😀abc' }],
    ['a.b', { a: [{ b: 1 }, { b: 2 }] }], ['a', { a: [] }], ['a.b', { a: 'str' }], ['a in b', { a: 1, b: 1 }],
    ['$merge([$, { "k": 1 }])', { __proto__: null, k: 0 }], ['`__proto__`', JSON.parse('{"__proto__": 5}') as Record<string, unknown>],
    ["{ 'a': x }", JSON.parse('{"x": {"__proto__": 1}}') as Record<string, unknown>],
  ];
  const tally: Tally = { sync: 0, total: 0 };
  for (const [text, input] of cases) await agree(text, input, tally);
  assert.ok(tally.sync > 0);
});

test('a compiled expression returns no promise and evaluate still resolves', async () => {
  const e = compileExpression("amount > 100 and status = 'paid'", 'test');
  assert.equal(e.evaluateSync({ amount: 150, status: 'paid' }), true);
  assert.equal(e.evaluateSync({ amount: 50, status: 'paid' }), false);
  assert.equal(e.evaluateSync({ amount: '150', status: 'paid' }), NEEDS_ASYNC); // T2009 is JSONata's to raise
  await assert.rejects(e.evaluate({ amount: '150', status: 'paid' }), (err: Error) => /T2009|failed/.test(err.message));
  const slow = compileExpression('arr[0]', 'test');
  assert.equal(slow.compiled, false);
  assert.equal(slow.evaluateSync({ arr: [1] }), NEEDS_ASYNC);
  assert.equal(await slow.evaluate({ arr: [1] }), 1);
});
