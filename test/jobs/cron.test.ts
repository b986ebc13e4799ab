// The cron parser against hand-computed fire times, including DST changes in Europe/Berlin and America/New_York.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CronError, fireTimes, parseCron } from '../../src/config/jobs/cron.js';

const iso = (t: number | undefined): string => (t === undefined ? 'none' : new Date(t).toISOString().replace('.000', ''));
function seq(expr: string, tz: string, from: string, n: number): string[] {
  const c = parseCron(expr, tz);
  const out: string[] = [];
  let t: number | undefined = Date.parse(from);
  for (let i = 0; i < n && t !== undefined; i++) out.push(iso((t = c.next(t))));
  return out;
}

test('seconds, steps, ranges, lists and names', () => {
  assert.deepEqual(seq('*/15 * * * * *', 'UTC', '2024-01-01T00:00:00Z', 3), ['2024-01-01T00:00:15Z', '2024-01-01T00:00:30Z', '2024-01-01T00:00:45Z']);
  assert.deepEqual(seq('0 0 9-17/4 * * MON-FRI', 'UTC', '2024-01-05T16:00:00Z', 3), ['2024-01-05T17:00:00Z', '2024-01-08T09:00:00Z', '2024-01-08T13:00:00Z'], 'Friday 17:00, then Monday');
  assert.deepEqual(seq('30 5 1,13 * JAN,jul ?', 'UTC', '2024-01-31T01:05:30Z', 3), ['2024-01-31T13:05:30Z', '2024-07-01T01:05:30Z', '2024-07-01T13:05:30Z']);
  assert.deepEqual(seq('0 0 0 * * 7', 'UTC', '2024-01-01T00:00:00Z', 2), ['2024-01-07T00:00:00Z', '2024-01-14T00:00:00Z'], '7 is Sunday too');
  assert.deepEqual(seq('0 0 12 5/10 * ?', 'UTC', '2024-02-20T00:00:00Z', 3), ['2024-02-25T12:00:00Z', '2024-03-05T12:00:00Z', '2024-03-15T12:00:00Z']);
});

test('last day of month (L), last weekday (5L), leap years, Vixie OR of both day fields', () => {
  assert.deepEqual(seq('0 0 0 L * ?', 'UTC', '2023-12-31T00:00:00Z', 3), ['2024-01-31T00:00:00Z', '2024-02-29T00:00:00Z', '2024-03-31T00:00:00Z']);
  assert.deepEqual(seq('0 0 0 ? * 5L', 'UTC', '2024-01-01T00:00:00Z', 2), ['2024-01-26T00:00:00Z', '2024-02-23T00:00:00Z']);
  assert.deepEqual(seq('0 0 0 29 2 ?', 'UTC', '2024-03-01T00:00:00Z', 1), ['2028-02-29T00:00:00Z']);
  assert.deepEqual(seq('0 0 0 13 * FRI', 'UTC', '2024-09-01T00:00:00Z', 3), ['2024-09-06T00:00:00Z', '2024-09-13T00:00:00Z', '2024-09-20T00:00:00Z']);
});

test('Europe/Berlin: the spring-forward gap shifts 02:30 to 03:30 CEST once; the autumn overlap fires a fixed time once', () => {
  // 2024-03-31 02:00 CET -> 03:00 CEST (01:00 UTC). 02:30 does not exist that night.
  assert.deepEqual(seq('0 30 2 * * *', 'Europe/Berlin', '2024-03-30T00:00:00Z', 3), ['2024-03-30T01:30:00Z', '2024-03-31T01:30:00Z', '2024-04-01T00:30:00Z']);
  // 2024-10-27 03:00 CEST -> 02:00 CET (01:00 UTC): 02:30 happens twice; a fixed-time job fires at the first.
  assert.deepEqual(seq('0 30 2 * * *', 'Europe/Berlin', '2024-10-26T12:00:00Z', 2), ['2024-10-27T00:30:00Z', '2024-10-28T01:30:00Z']);
  // Restarted during the repeated hour (02:10 CET, second pass): the 02:30 of that night already fired.
  assert.deepEqual(seq('0 30 2 * * *', 'Europe/Berlin', '2024-10-27T01:10:00Z', 1), ['2024-10-28T01:30:00Z']);
});

test('Europe/Berlin: interval jobs (hour *) keep their rhythm through both DST changes', () => {
  assert.deepEqual(seq('0 */30 * * * *', 'Europe/Berlin', '2024-03-31T00:15:00Z', 4), ['2024-03-31T00:30:00Z', '2024-03-31T01:00:00Z', '2024-03-31T01:30:00Z', '2024-03-31T02:00:00Z']);
  assert.deepEqual(seq('0 */30 * * * *', 'Europe/Berlin', '2024-10-27T00:15:00Z', 5),
    ['2024-10-27T00:30:00Z', '2024-10-27T01:00:00Z', '2024-10-27T01:30:00Z', '2024-10-27T02:00:00Z', '2024-10-27T02:30:00Z']);
  // Every second through the autumn change: 7200 + 1 distinct instants in two wall hours.
  const c = parseCron('* * * * * *', 'Europe/Berlin');
  const ticks = fireTimes(c, Date.parse('2024-10-27T00:00:00Z') - 1000, Date.parse('2024-10-27T02:00:00Z'), 10_000);
  assert.equal(ticks.length, 7201);
  assert.equal(new Set(ticks).size, 7201);
});

test('America/New_York: 02:30 daily around the March and November changes', () => {
  // 2024-03-10 02:00 EST -> 03:00 EDT: 02:30 becomes 03:30 EDT (07:30 UTC).
  assert.deepEqual(seq('0 30 2 * * *', 'America/New_York', '2024-03-09T12:00:00Z', 3), ['2024-03-10T07:30:00Z', '2024-03-11T06:30:00Z', '2024-03-12T06:30:00Z']);
  // 2024-11-03 02:00 EDT -> 01:00 EST: 01:30 happens twice, fired once (05:30 UTC, EDT).
  assert.deepEqual(seq('0 30 1 * * *', 'America/New_York', '2024-11-02T12:00:00Z', 2), ['2024-11-03T05:30:00Z', '2024-11-04T06:30:00Z']);
});

test('errors name the field and the reason', () => {
  const bad: Array<[string, string, RegExp]> = [
    ['0 0 * * *', 'expression', /expected 6 fields.*found 5/],
    ['61 * * * * *', 'second', /second field: 61 is out of range 0-59/],
    ['0 0 25 * * *', 'hour', /hour field: 25 is out of range 0-23/],
    ['0 0 0 * FOO *', 'month', /month field: 'FOO' is not a number or JAN-DEC/],
    ['0 0 0 * * MON-XYZ', 'day-of-week', /day-of-week field: 'XYZ'/],
    ['0 */0 * * * *', 'minute', /step '0' must be a whole number > 0/],
    ['0 0 0 10-5 * *', 'day-of-month', /range 10-5 runs backwards/],
    ['0 0 0 31 2 ?', 'day-of-month', /no allowed month has day 31/],
    ['? 0 0 * * *', 'second', /'\?' is only allowed in day-of-month and day-of-week/],
  ];
  for (const [expr, field, msg] of bad) {
    assert.throws(() => parseCron(expr), (e: unknown) => e instanceof CronError && e.field === field && msg.test(e.message), expr);
  }
  assert.throws(() => parseCron('* * * * * *', 'Mars/Olympus'), (e: unknown) => e instanceof CronError && e.field === 'tz');
});

test('next() is fast: a million seconds of an every-second cron in well under a second per 100k', () => {
  const c = parseCron('* * * * * *', 'Europe/Berlin');
  let t = Date.parse('2024-01-01T00:00:00Z');
  const start = process.hrtime.bigint();
  for (let i = 0; i < 100_000; i++) t = c.next(t)!;
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  assert.equal(t, Date.parse('2024-01-01T00:00:00Z') + 100_000_000);
  assert.ok(ms < 5_000, `100k next() took ${ms} ms`);
});
