// kis.window: windowed aggregates from YAML, run through the test driver on the embedded log.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { KisConfigErrors } from '../../src/kernel/errors.js';
import type { KisPool } from '../../src/core/pool.js';
import type { Row } from '../../src/kernel/types.js';
import { parseEventTime } from '../../src/functions/window.js';
import { PartitionStore } from '../../src/state/partition-store.js';
import type { KisService } from '../../src/runtime/service.js';
import { TestDriver } from '../../src/testing/driver.js';

const S = 1000;
const T0 = Date.UTC(2026, 0, 1); // 2026-01-01T00:00:00Z, a whole minute
const STREAM_TIME_KEY = '\u0000stream_time';

/** A flow F of steps given as [fid, fname, params]; funcs are Calculate. */
const config = (...steps: Array<[string, string, string]>): string =>
  steps.map(([fid, fname, params]) => `---\nkistype: func\nfid: ${fid}\nfname: ${fname}\nfmode: Calculate\noption: { default_params: ${params} }\n`).join('') +
  `---\nkistype: flow\nflow_name: F\nflows: [${steps.map(([fid]) => `{ fid: ${fid} }`).join(', ')}]\n`;
const windowFlow = (params: string): string => config(['W', 'kis.window', params]);

const stateKey = (group: unknown[], start: number): string => `${JSON.stringify(group)}\u0000${start}`;

test('tumbling event-time windows: count, sum, avg, min, max per group; out-of-order rows within the lateness count; emitted once when closed, then gone from state', async () => {
  const d = await TestDriver.fromYaml(windowFlow(`{
    group_by: user, window: { size_ms: 60000 }, time: { field: ts }, allowed_lateness_ms: 10000,
    aggregates: { n: count, revenue: { sum: amount }, mean: { avg: amount }, least: { min: amount }, most: { max: amount } } }`));
  const r1 = await d.runFlow('F', [
    { user: 'a', ts: T0 + 5 * S, amount: 10 },
    { user: 'b', ts: T0 + 20 * S, amount: 3 },
    { user: 'a', ts: T0 + 50 * S, amount: '2.5' },
    { user: 'a', ts: T0 + 65 * S, amount: 1 }, // stream time 65 s: the first minute is over but still takes rows until 70 s
    { user: 'a', ts: T0 + 30 * S, amount: 4 }, // out of order, within the lateness
    { user: 'b', ts: T0 + 69_999, amount: 7 },
  ]);
  assert.deepEqual(r1.output, []);
  assert.deepEqual(r1.rejected, []);

  const r2 = await d.runFlow('F', [
    { user: 'c', ts: T0 + 70 * S, amount: 1 }, // stream time reaches end + lateness of the first minute
    { user: 'a', ts: T0 + 59 * S, amount: 100 }, // its window has closed: late
  ]);
  assert.deepEqual(r2.output, [
    { user: 'a', window_start: T0, window_end: T0 + 60 * S, n: 3, revenue: 16.5, mean: 5.5, least: 2.5, most: 10 },
    { user: 'b', window_start: T0, window_end: T0 + 60 * S, n: 1, revenue: 3, mean: 3, least: 3, most: 3 },
  ]);
  assert.equal(r2.rejected.length, 1);
  assert.equal(r2.rejected[0]!.code, 'KIS_ERR_ROW_REJECTED');
  assert.deepEqual(r2.rejected[0]!.row, { user: 'a', ts: T0 + 59 * S, amount: 100 });
  assert.equal(r2.rejected[0]!.message, "rejected by 'W': late: event time 2026-01-01T00:00:59.000Z falls only in closed windows " +
    '(the last, [2026-01-01T00:00:00.000Z, 2026-01-01T00:01:00.000Z), closed when stream time reached 2026-01-01T00:01:10.000Z ' +
    'with allowed_lateness_ms 10000); stream time is 2026-01-01T00:01:10.000Z');
  assert.equal(d.rejected('F').length, 1, 'late rows are counted as dead letters of the flow');

  assert.deepEqual([...(await d.state('F', 'W'))].sort(), [
    [STREAM_TIME_KEY, T0 + 70 * S],
    [stateKey(['a'], T0 + 60 * S), { g: ['a'], s: T0 + 60 * S, e: T0 + 120 * S, c: 1, a: { revenue: 1, mean: 1, least: 1, most: 1 } }],
    [stateKey(['b'], T0 + 60 * S), { g: ['b'], s: T0 + 60 * S, e: T0 + 120 * S, c: 1, a: { revenue: 7, mean: 7, least: 7, most: 7 } }],
    [stateKey(['c'], T0 + 60 * S), { g: ['c'], s: T0 + 60 * S, e: T0 + 120 * S, c: 1, a: { revenue: 1, mean: 1, least: 1, most: 1 } }],
  ].sort(), 'the closed windows are deleted; the open ones and the stream time remain');

  await d.advance(10 * 60 * S);
  assert.equal(d.output('F').length, 2, 'in event time a tick cannot move stream time, so nothing closes by the clock');

  const r3 = await d.runFlow('F', [{ user: 'x', ts: T0 + 200 * S, amount: 2 }]);
  assert.deepEqual(r3.output.map((o) => [o['user'], o['window_start'], o['n']]), [['a', T0 + 60 * S, 1], ['b', T0 + 60 * S, 1], ['c', T0 + 60 * S, 1]],
    'windows that close together come out in group order');
  assert.deepEqual([...(await d.state('F', 'W')).keys()].sort(), [STREAM_TIME_KEY, stateKey(['x'], T0 + 180 * S)].sort());
  await d.close();
});

test('hopping windows: each row goes to every window covering it, windows never start before the epoch, and advance need not divide size', async () => {
  const d = await TestDriver.fromYaml(
    windowFlow('{ group_by: [], window: { size_ms: 10000, advance_ms: 5000 }, time: { field: t }, aggregates: { n: count, total: { sum: v } } }') +
    config(['H', 'kis.window', '{ group_by: [k], window: { size_ms: 10000, advance_ms: 4000 }, time: { field: t }, aggregates: { n: count } }'])
      .replace('flow_name: F', 'flow_name: G'));
  assert.deepEqual((await d.runFlow('F', [{ t: 3 * S, v: 1 }, { t: 7 * S, v: 2 }, { t: 12 * S, v: 4 }])).output, [
    { window_start: 0, window_end: 10 * S, n: 2, total: 3 }, // [-5 s, 5 s) is not a window: 3 s is only in [0, 10 s)
  ]);
  const late = await d.runFlow('F', [{ t: 7 * S, v: 16 }]);
  assert.deepEqual(late.rejected, [], '7 s is late for the closed [0, 10 s) but still counts in the open [5 s, 15 s)');
  const r = await d.runFlow('F', [{ t: 30 * S, v: 8 }]);
  assert.deepEqual(r.output, [
    { window_start: 5 * S, window_end: 15 * S, n: 3, total: 22 },
    { window_start: 10 * S, window_end: 20 * S, n: 1, total: 4 },
  ]);
  assert.deepEqual([...(await d.state('F', 'W')).keys()].sort(), [STREAM_TIME_KEY, stateKey([], 25 * S), stateKey([], 30 * S)].sort());

  // 9 s is in [0, 10 s), [4 s, 14 s) and [8 s, 18 s); 13 s in [4 s, 14 s), [8 s, 18 s), [12 s, 22 s) and closes [0, 10 s).
  const g1 = await d.runFlow('G', [{ k: 1, t: 9 * S }, { k: 1, t: 13 * S }]);
  assert.deepEqual(g1.output, [{ k: 1, window_start: 0, window_end: 10 * S, n: 1 }]);
  const g = await d.runFlow('G', [{ k: 2, t: 40 * S }]);
  assert.deepEqual(g.output, [
    { k: 1, window_start: 4 * S, window_end: 14 * S, n: 2 },
    { k: 1, window_start: 8 * S, window_end: 18 * S, n: 2 },
    { k: 1, window_start: 12 * S, window_end: 22 * S, n: 1 },
  ]);
  await d.close();
});

test('processing-time windows take the clock, close on ticks when the clock passes end + lateness, and feed the steps after them', async () => {
  const d = await TestDriver.fromYaml(config(
    ['M', 'kis.map', '{ set: { cents: "amount * 100" } }'],
    ['W', 'kis.window', '{ group_by: user, window: { size_ms: 60000 }, time: processing, allowed_lateness_ms: 5000, aggregates: { n: count, cents: { sum: cents } } }'],
    ['P', 'kis.print', '{}'],
  ));
  // Start one second into a window, so that the real clock cannot cross a window boundary during the test.
  await d.advance(60 * S - (d.now() % (60 * S)) + S);
  const start = d.now() - (d.now() % (60 * S));
  const r = await d.runFlow('F', [{ user: 'a', amount: 1.5 }, { user: 'a', amount: 2 }, { user: 'b', amount: 1 }]);
  assert.deepEqual(r.output, []);
  await d.advance(59 * S); // past the end, not past the lateness
  assert.deepEqual(d.output('F'), []);
  await d.advance(5 * S);
  assert.deepEqual(d.output('F'), [
    { user: 'a', window_start: start, window_end: start + 60 * S, n: 2, cents: 350 },
    { user: 'b', window_start: start, window_end: start + 60 * S, n: 1, cents: 100 },
  ]);
  assert.deepEqual(d.stdout, [
    `[F/P] {"user":"a","window_start":${start},"window_end":${start + 60 * S},"n":2,"cents":350}`,
    `[F/P] {"user":"b","window_start":${start},"window_end":${start + 60 * S},"n":1,"cents":100}`,
  ], 'the tick ran the steps after the window');
  assert.deepEqual([...(await d.state('F', 'W'))], [], 'processing time keeps no stream time in state');
  const later = await d.runFlow('F', [{ user: 'a', amount: 1 }]);
  assert.deepEqual(later.rejected, [], 'in processing time no row is late');
  assert.deepEqual([...(await d.state('F', 'W')).values()].map((w) => (w as { s: number }).s), [start + 60 * S]);
  await d.close();
});

test('emit: update emits the current aggregate on every update and nothing more when the window closes', async () => {
  const d = await TestDriver.fromYaml(windowFlow('{ group_by: user, window: { size_ms: 10000 }, time: { field: ts }, emit: update, aggregates: { n: count, top: { max: v } } }'));
  const r1 = await d.runFlow('F', [{ user: 'a', ts: 1 * S, v: 1 }, { user: 'a', ts: 2 * S, v: 5 }, { user: 'b', ts: 3 * S, v: 2 }, { user: 'a', ts: 4 * S, v: 3 }]);
  assert.deepEqual(r1.output, [
    { user: 'a', window_start: 0, window_end: 10 * S, n: 1, top: 1 },
    { user: 'a', window_start: 0, window_end: 10 * S, n: 2, top: 5 },
    { user: 'b', window_start: 0, window_end: 10 * S, n: 1, top: 2 },
    { user: 'a', window_start: 0, window_end: 10 * S, n: 3, top: 5 },
  ]);
  const r2 = await d.runFlow('F', [{ user: 'a', ts: 11 * S, v: 7 }, { user: 'a', ts: 5 * S, v: 9 }]);
  assert.deepEqual(r2.output, [{ user: 'a', window_start: 10 * S, window_end: 20 * S, n: 1, top: 7 }], 'the close of [0, 10 s) emits nothing');
  assert.equal(r2.rejected.length, 1);
  assert.match(r2.rejected[0]!.message, /^rejected by 'W': late: event time 1970-01-01T00:00:05\.000Z falls only in closed windows/);
  assert.deepEqual([...(await d.state('F', 'W')).keys()].sort(), [STREAM_TIME_KEY, stateKey(['a'], 10 * S)].sort(), 'closed windows are deleted');
  await d.close();
});

test('each partition has its own windows and its own stream time', async () => {
  const d = await TestDriver.fromYaml(windowFlow('{ group_by: user_region, window: { size_ms: 10000 }, time: { field: ts }, aggregates: { n: count } }'));
  await d.runFlow('F', [{ user: 'a', region: 'eu', ts: 1 * S }], 0);
  const p1 = await d.runFlow('F', [{ user: 'a', region: 'eu', ts: 100 * S }, { user: 'a', region: 'eu', ts: 2 * S }], 1);
  assert.deepEqual(p1.output, [], "partition 1's stream time does not close partition 0's windows");
  assert.equal(p1.rejected.length, 1, 'but it makes an old row late in partition 1');
  const p0 = await d.runFlow('F', [{ user: 'a', region: 'eu', ts: 20 * S }], 0);
  assert.deepEqual(p0.output, [{ user: 'a', region: 'eu', window_start: 0, window_end: 10 * S, n: 1 }]);
  assert.deepEqual((await d.state('F', 'W', 0)).get(STREAM_TIME_KEY), 20 * S);
  assert.deepEqual([...(await d.state('F', 'W', 1)).keys()].sort(), [STREAM_TIME_KEY, stateKey(['a', 'eu'], 100 * S)].sort());
  await d.close();
});

test('rows that cannot be windowed are rejected with the reason and change nothing; times may be ISO-8601 strings and values numeric strings', async () => {
  const d = await TestDriver.fromYaml(windowFlow('{ group_by: [user], window: { size_ms: 3600000 }, time: { field: at }, aggregates: { total: { sum: amount } } }'));
  const hour = 3600 * S;
  const r = await d.runFlow('F', [
    { at: T0, amount: 1 },
    { user: { id: 1 }, at: T0, amount: 1 },
    { user: 'a', amount: 1 },
    { user: 'a', at: 'yesterday', amount: 1 },
    { user: 'a', at: -5, amount: 1 },
    { user: 'a', at: T0 + 50 * hour, amount: 'ten' }, // would move stream time far ahead if it counted
    { user: 'a', at: T0 + 50 * hour },
    { user: 'a', at: '2026-01-01T08:30:00+08:00', amount: 1 }, // 00:30 UTC
    { user: 'a', at: '2026-01-01 00:45:00', amount: '2.25' }, // no offset: UTC
    { user: 'a', at: '2026-01-01T00:59:59.999Z', amount: 0.75 },
    { user: 'a', at: T0 + 10, amount: true },
  ]);
  assert.deepEqual(r.rejected.map((x) => x.message.replace("rejected by 'W': ", '')), [
    'lacks group_by field user',
    'group_by field user is a mapping, not a scalar',
    'time field at is missing',
    'time field at is "yesterday", neither milliseconds since the epoch nor an ISO-8601 time',
    'time field at is -5, before 1970 (windows start at the epoch)',
    'field amount (aggregate total: sum) is "ten", not a number',
    'field amount (aggregate total: sum) is missing',
    'field amount (aggregate total: sum) is true, not a number',
  ]);
  assert.deepEqual([...(await d.state('F', 'W'))].sort(), [
    [STREAM_TIME_KEY, T0 + hour - 1],
    [stateKey(['a'], T0), { g: ['a'], s: T0, e: T0 + hour, c: 3, a: { total: 4 } }],
  ].sort());
  const out = await d.runFlow('F', [{ user: 'a', at: '2026-01-01T01:00:00Z', amount: 0 }]);
  assert.deepEqual(out.output, [{ user: 'a', window_start: T0, window_end: T0 + hour, total: 4 }]);
  await d.close();
});

test('event times: milliseconds or ISO-8601, with or without an offset, fractions kept to the millisecond', () => {
  assert.equal(parseEventTime(T0 + 0.7), T0);
  assert.equal(parseEventTime('2026-01-01'), T0);
  assert.equal(parseEventTime('2026-01-01T00:00'), T0);
  assert.equal(parseEventTime('2026-01-01t01:00:00.123456z'), T0 + 3600 * S + 123);
  assert.equal(parseEventTime('2026-01-01T09:00:00+0900'), T0);
  assert.equal(parseEventTime('2025-12-31T19:00:00-05'), T0);
  assert.equal(parseEventTime('2026-02-30T00:00:00Z'), 'is "2026-02-30T00:00:00Z", not a valid ISO-8601 time');
  assert.equal(parseEventTime(Number.NaN), 'is NaN, not a time');
  assert.equal(parseEventTime('1767225600000'), 'is "1767225600000", neither milliseconds since the epoch nor an ISO-8601 time');
  assert.equal(parseEventTime(null), 'is missing');
});

test('bad params stop the build with KIS_ERR_CONFIG_SCHEMA naming the field', async () => {
  const fails = async (params: string, message: RegExp): Promise<void> => {
    await assert.rejects(TestDriver.fromYaml(windowFlow(params)), (err: unknown) => {
      assert.ok(err instanceof KisConfigErrors, String(err));
      assert.equal(err.errors.length, 1);
      assert.equal(err.errors[0]!.code, 'KIS_ERR_CONFIG_SCHEMA');
      assert.match(err.errors[0]!.message, message);
      return true;
    });
  };
  const ok = 'group_by: user, window: { size_ms: 60000 }, time: { field: ts }';
  await fails(`{ ${ok}, aggregates: {}, lateness_ms: 5 }`,
    /flow 'F' step 1 \('W'\): bad params: unknown key 'lateness_ms' \(allowed here: group_by, window, time, aggregates, allowed_lateness_ms, emit\)$/);
  await fails(`{ ${ok} }`, /bad params: aggregates: expected .*, found undefined$/);
  await fails('{ group_by: user, window: { size_ms: 60000, advance: 1000 }, time: processing, aggregates: {} }',
    /bad params: unknown key 'advance' \(allowed here: size_ms, advance_ms\)$/);
  await fails('{ group_by: user, window: { size_ms: 0 }, time: processing, aggregates: {} }', /bad params: window\.size_ms: expected PositiveInt, found 0$/);
  await fails(`{ ${ok}, aggregates: {}, allowed_lateness_ms: -1 }`, /bad params: allowed_lateness_ms: expected NonNegativeInt, found -1$/);
  await fails(`{ ${ok}, aggregates: {}, emit: final }`, /bad params: emit: expected "close" \| "update", found "final"$/);
  await fails('{ group_by: user, window: { size_ms: 60000 }, time: event, aggregates: { n: cnt, s: { sum: a, avg: a } } }',
    /bad params: time: expected processing or \{ field: <name> \}, found "event"; aggregates\.n: expected count, \{ sum: <field> \}, .* found "cnt"; aggregates\.s: expected count, .* found \{"sum":"a","avg":"a"\}$/);
  await fails('{ group_by: user, window: { size_ms: 60000, advance_ms: 90000 }, time: processing, aggregates: {} }',
    /kis\.window params\.window\.advance_ms \(90000\) may not exceed params\.window\.size_ms \(60000\)$/);
  await fails('{ group_by: user, window: { size_ms: 60000, advance_ms: 10 }, time: processing, aggregates: {} }',
    /kis\.window params\.window: size_ms 60000 \/ advance_ms 10 puts each row in 6000 windows; at most 1000$/);
  await fails(`{ ${ok}, aggregates: { user: count } }`, /kis\.window params\.aggregates\.user: the output field 'user' is already a group_by field$/);
  await fails(`{ ${ok}, aggregates: { window_end: { max: ts } } }`, /kis\.window params\.aggregates\.window_end: the output field 'window_end' is already the window bound$/);
  await fails(`{ ${ok}, aggregates: { '': count } }`, /kis\.window params\.aggregates has an empty output field name$/);
  await fails('{ group_by: [user, user], window: { size_ms: 60000 }, time: processing, aggregates: {} }', /kis\.window params\.group_by names field 'user' twice$/);
});

test('a restored store gives the same output as one that never stopped: the index of open windows is rebuilt, stream time is kept', async () => {
  const params = '{ group_by: user, window: { size_ms: 60000 }, time: { field: ts }, aggregates: { n: count, total: { sum: v } } }';
  const batch1: Row[] = [{ user: 'a', ts: 5 * S, v: 1 }, { user: 'b', ts: 70 * S, v: 2 }, { user: 'a', ts: 80 * S, v: 3 }];
  const batch2: Row[] = [{ user: 'a', ts: 30 * S, v: 100 }, { user: 'c', ts: 90 * S, v: 4 }, { user: 'a', ts: 125 * S, v: 5 }];

  const reference = await TestDriver.fromYaml(windowFlow(params));
  await reference.runFlow('F', batch1);
  const expected = await reference.runFlow('F', batch2);
  const expectedState = [...(await reference.state('F', 'W'))];
  await reference.close();

  const d = await TestDriver.fromYaml(windowFlow(params));
  const first = await d.runFlow('F', batch1);
  assert.deepEqual(first.output, [{ user: 'a', window_start: 0, window_end: 60 * S, n: 1, total: 1 }]);
  // Let the partition's state go, as on a rebalance: the next batch restores it from the changelog.
  const service = (d as unknown as { service: KisService }).service;
  service.state.drop('F', 0);
  const second = await d.runFlow('F', batch2);
  assert.deepEqual(second.output, expected.output);
  assert.deepEqual(second.output, [
    { user: 'a', window_start: 60 * S, window_end: 120 * S, n: 1, total: 3 },
    { user: 'b', window_start: 60 * S, window_end: 120 * S, n: 1, total: 2 },
    { user: 'c', window_start: 60 * S, window_end: 120 * S, n: 1, total: 4 },
  ]);
  assert.deepEqual(second.rejected.map((x) => x.row), [{ user: 'a', ts: 30 * S, v: 100 }], 'late by the stream time kept in state');
  assert.deepEqual(second.rejected.map((x) => x.message), expected.rejected.map((x) => x.message));
  assert.deepEqual([...(await d.state('F', 'W'))], expectedState);
  await d.close();
});

test('lineage: an update comes from the row that made it; a window closed by a row comes from that row; one closed by the clock from none', async () => {
  // A step after the window that shows where each of its input rows came from.
  const register = (pool: KisPool): void => {
    pool.faas('whence', (flow, rows) => {
      for (const r of rows) flow.commitRow({ ...r, offset: flow.recordOf(r)?.offset ?? null });
    });
  };
  const d = await TestDriver.fromYaml(`
kistype: func
fid: W
fname: kis.window
fmode: Calculate
option: { default_params: { group_by: user, window: { size_ms: 10000 }, time: { field: ts }, aggregates: { n: count } } }
---
kistype: func
fid: U
fname: kis.window
fmode: Calculate
option: { default_params: { group_by: user, window: { size_ms: 10000 }, time: { field: ts }, emit: update, aggregates: { n: count } } }
---
kistype: func
fid: L
fname: whence
fmode: Calculate
---
kistype: flow
flow_name: F
flows: [{ fid: W }, { fid: L }]
---
kistype: flow
flow_name: G
flows: [{ fid: U }, { fid: L }]
`, { register });
  await d.runFlow('F', [{ user: 'a', ts: 1 * S }]); // offset 0
  const closed = await d.runFlow('F', [{ user: 'b', ts: 11 * S }, { user: 'c', ts: 12 * S }]); // offsets 1, 2
  assert.deepEqual(closed.output, [{ user: 'a', window_start: 0, window_end: 10 * S, n: 1, offset: '1' }]);
  const updates = await d.runFlow('G', [{ user: 'a', ts: 1 * S }, { user: 'a', ts: 2 * S }]); // offsets 3, 4
  assert.deepEqual(updates.output.map((o) => [o['n'], o['offset']]), [[1, '3'], [2, '4']]);

  const p = await TestDriver.fromYaml(
    config(['W', 'kis.window', '{ group_by: user, window: { size_ms: 1000 }, time: processing, aggregates: { n: count } }'], ['L', 'whence', '{}']), { register });
  await p.runFlow('F', [{ user: 'a' }]);
  await p.advance(2 * S);
  assert.deepEqual(p.output('F').map((o) => [o['user'], o['offset']]), [['a', null]]);
  await p.close();
  await d.close();
});

test("the README's kis.window example runs as documented", async () => {
  const readme = await readFile(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('### Windowed aggregates: `kis.window`'));
  const yaml = /```yaml\n([^]*?)```/.exec(section)?.[1];
  assert.ok(yaml, 'the section has a YAML example');
  const d = await TestDriver.fromYaml(`${yaml}---\nkistype: flow\nflow_name: F\nflows: [{ fid: RevenuePerMinute }]\n`);
  await d.runFlow('F', [
    { userid: 'u1', created_at: '2026-01-01T00:00:05Z', amount: 10 },
    { userid: 'u1', created_at: '2026-01-01T00:01:05Z', amount: 1 },
    { userid: 'u1', created_at: '2026-01-01T00:00:50Z', amount: '2.5' },
    { userid: 'u1', created_at: '2026-01-01T00:00:30Z', amount: 4 },
  ]);
  const r = await d.runFlow('F', [{ userid: 'u2', created_at: '2026-01-01T00:01:10Z', amount: 1 }]);
  assert.deepEqual(r.output, [
    { userid: 'u1', window_start: T0, window_end: T0 + 60 * S, orders: 3, revenue: 16.5, avg_order: 5.5, smallest: 2.5, largest: 10 },
  ]);
  await d.close();
});

test('closing windows does not scan the store: it is read whole once per partition, to build the index of open windows', async () => {
  const d = await TestDriver.fromYaml(windowFlow('{ group_by: user, window: { size_ms: 1000 }, time: { field: ts }, aggregates: { n: count } }'));
  const entries = PartitionStore.prototype.entries;
  let scans = 0;
  PartitionStore.prototype.entries = function (this: PartitionStore) {
    scans++;
    return entries.call(this);
  };
  try {
    let out = 0;
    for (let i = 0; i < 20; i++) {
      const rows = Array.from({ length: 50 }, (_, u) => ({ user: `u${u}`, ts: i * S + u }));
      out += (await d.runFlow('F', rows, i % 2)).output.length;
      await d.advance(S);
    }
    assert.equal(out, 18 * 50, 'every window but the last one of each partition closed');
    assert.equal(scans, 2, 'one scan per partition');
  } finally {
    PartitionStore.prototype.entries = entries;
  }
  await d.close();
});

test('option.state bounds the windows: ttl_ms drops a window that got no row for that long, never the stream time', async () => {
  const d = await TestDriver.fromYaml(`
kistype: func
fid: W
fname: kis.window
fmode: Calculate
option:
  state: { ttl_ms: 5000 }
  default_params: { group_by: user, window: { size_ms: 60000 }, time: { field: ts }, aggregates: { n: count } }
---
kistype: flow
flow_name: F
flows: [{ fid: W }]
`);
  await d.runFlow('F', [{ user: 'a', ts: 61 * S }, { user: 'b', ts: 5 * S }]); // b is late: stream time is 61 s
  await d.advance(6 * S);
  assert.deepEqual([...(await d.state('F', 'W'))], [[STREAM_TIME_KEY, 61 * S]], "a's window expired unemitted; stream time stays");
  const r = await d.runFlow('F', [{ user: 'c', ts: 30 * S }, { user: 'c', ts: 200 * S }]);
  assert.equal(r.rejected.length, 1, 'a row for an already closed window is still late');
  assert.deepEqual(r.output, [], 'the expired window is not emitted');
  await d.close();
});

test('when a finite input ends, the windows still open are emitted once (end()), and nothing is emitted twice', async () => {
  const d = await TestDriver.fromYaml(windowFlow(`{ group_by: user, window: { size_ms: 60000 }, time: { field: ts }, aggregates: { n: count } }`));
  await d.runFlow('F', [
    { user: 'a', ts: T0 + 5 * S },
    { user: 'a', ts: T0 + 65 * S }, // closes the first minute of a
    { user: 'b', ts: T0 + 70 * S },
  ]);
  assert.deepEqual(d.output('F'), [{ user: 'a', window_start: T0, window_end: T0 + 60 * S, n: 1 }]);
  await d.end();
  assert.deepEqual(d.output('F').slice(1), [
    { user: 'a', window_start: T0 + 60 * S, window_end: T0 + 120 * S, n: 1 },
    { user: 'b', window_start: T0 + 60 * S, window_end: T0 + 120 * S, n: 1 },
  ]);
  assert.deepEqual([...(await d.state('F', 'W')).keys()], [STREAM_TIME_KEY], 'only the stream time is left');
  await d.end();
  assert.equal(d.output('F').length, 3);
  await d.close();
});

test('a row late because of stream time restored from an earlier run says so, with the remedy; late rows of this run do not', async () => {
  const params = '{ group_by: user, window: { size_ms: 60000 }, time: { field: ts }, allowed_lateness_ms: 5000, aggregates: { n: count } }';
  const d = await TestDriver.fromYaml(windowFlow(params));
  // What a changelog restore leaves: stream time from an earlier run of the same app_id, before any row of this run.
  const service = (d as unknown as { service: KisService }).service;
  await service.state.ready('F', 0);
  service.state.store('F', 'W', 0).set(STREAM_TIME_KEY, T0 + 3600 * S);
  const r = await d.runFlow('F', [{ user: 'a', ts: T0 + 10 * S }]);
  assert.equal(r.rejected.length, 1);
  assert.match(r.rejected[0]!.message, /^rejected by 'W': late: .*The state restored from an earlier run \(or another replica\) has stream time 2026-01-01T01:00:00\.000Z; rows older than 2026-01-01T00:59:55\.000Z \(stream time - allowed_lateness_ms\) are late: to process old data again, use a new app_id or reset the changelog$/);
  // Rows of this run move stream time on; a row late only by this run's own rows gets no such hint.
  await d.runFlow('F', [{ user: 'a', ts: T0 + 7200 * S }]);
  const late = await d.runFlow('F', [{ user: 'a', ts: T0 + 3700 * S }]);
  assert.equal(late.rejected.length, 1);
  assert.doesNotMatch(late.rejected[0]!.message, /restored/);
  await d.close();
});
