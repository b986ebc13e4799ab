// kis.window's params: the codec (the single spec of its YAML, in the reference) and the checks io-ts
// cannot state (one key per aggregate, a union reported once).
import * as t from 'io-ts';
import { closed } from '../config/closed.js';
import { NonEmptyString, NonNegativeInt, PositiveInt } from '../config/codecs.js';
import type { ParamsProblem } from './check-params.js';

const WindowSpec = closed('KisWindowSpec', { size_ms: PositiveInt }, { advance_ms: PositiveInt },
  'The windows, aligned to the epoch as in Kafka Streams: [k × advance_ms, k × advance_ms + size_ms), never starting before 1970.', {
    size_ms: 'Length of a window in milliseconds.',
    advance_ms: 'Distance between the starts of consecutive windows. Absent or equal to size_ms: tumbling windows (each row in one window). ' +
      'Smaller: hopping windows (each row in every window that covers it, up to ceil(size_ms / advance_ms), at most 1000). It need not divide size_ms and may not exceed it.',
  });

const EventTime = closed('KisWindowEventTime', { field: NonEmptyString }, {}, 'Event time, read from a field of each row.', {
  field: 'The field with the time: milliseconds since the epoch (a number), or an ISO-8601 string (read as UTC when it has no offset). A row whose time is missing or unreadable is rejected.',
});

// One closed mapping rather than a union of four, so that the reference documents it as one table;
// prepare() checks that exactly one key is given.
const FieldAggregate = closed('KisWindowFieldAggregate', {}, {
  sum: NonEmptyString,
  avg: NonEmptyString,
  min: NonEmptyString,
  max: NonEmptyString,
}, 'An aggregate of a numeric field over the window: exactly one of these keys, naming the field.', {
  sum: 'The sum of the field.',
  avg: 'The mean of the field.',
  min: 'The least value of the field.',
  max: 'The greatest value of the field.',
});
export const Aggregate = t.union([t.literal('count'), FieldAggregate], 'KisWindowAggregate');

export const WindowParams = closed('KisWindowParams', {
  group_by: t.union([NonEmptyString, t.array(NonEmptyString)]),
  window: WindowSpec,
  time: t.union([t.literal('processing'), EventTime]),
  aggregates: t.record(t.string, Aggregate),
}, {
  allowed_lateness_ms: NonNegativeInt,
  emit: t.keyof({ close: null, update: null }),
}, 'kis.window: aggregates rows per group over tumbling or hopping windows, by event time or processing time. ' +
  'Each output row holds the group fields, window_start and window_end (ms since the epoch) and the aggregates. ' +
  'Open windows live in the function\'s keyed state (declared by the built-in; option.state sets its bounds) and survive restarts.', {
  group_by: "The fields that make a group, in the connectors' style: 'userid_region' or a list ([] for one group per partition). A row missing one is rejected.",
  window: 'size_ms, and advance_ms for hopping windows.',
  time: 'processing (the clock when the row is processed), or { field: name } for event time. ' +
    'Stream time is the largest event time seen in the partition (kept in state across restarts); in processing mode, the clock.',
  aggregates: 'Output field -> count, { sum: field }, { avg: field }, { min: field } or { max: field }. ' +
    'The fields must hold numbers (or numeric strings); a row with another value there is rejected.',
  allowed_lateness_ms: 'How long after its end a window still takes rows (default 0): it closes when stream time reaches end + allowed_lateness_ms. ' +
    'A row whose windows are all closed is rejected as late (KIS_ERR_ROW_REJECTED, reason "late: …").',
  emit: 'close (default): one row per window, when it closes (Kafka Streams suppress(untilWindowCloses)). ' +
    'update: a row with the current aggregate each time a row updates a window, and nothing more at close (the last update is the final value).',
});

export type Op = 'count' | 'sum' | 'avg' | 'min' | 'max';
export interface AggregateSpec {
  readonly name: string;
  readonly op: Op;
  /** The input field (all but count). */
  readonly field: string | undefined;
}

const OPS: readonly string[] = ['sum', 'avg', 'min', 'max'];

export function aggregateSpecs(aggregates: Readonly<Record<string, t.TypeOf<typeof Aggregate>>>): AggregateSpec[] {
  return Object.entries(aggregates).map(([name, a]): AggregateSpec => {
    if (a === 'count') return { name, op: 'count', field: undefined };
    const [op, field] = Object.entries(a)[0]! as [Exclude<Op, 'count'>, string];
    return { name, op, field };
  });
}

// io-ts reports a union's failure once per member, which buries the point: these two unions get one line each.
export function unionProblems(params: Readonly<Record<string, unknown>>): ParamsProblem[] {
  const out: ParamsProblem[] = [];
  const { time, aggregates } = params;
  const isMapping = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  const single = (v: unknown, keys: readonly string[]): boolean => {
    if (!isMapping(v)) return false;
    const ks = Object.keys(v);
    return ks.length === 1 && keys.includes(ks[0]!) && typeof v[ks[0]!] === 'string' && v[ks[0]!] !== '';
  };
  if (time !== undefined && time !== 'processing' && !single(time, ['field'])) {
    out.push({ path: 'time', message: `time: expected processing or { field: <name> }, found ${JSON.stringify(time)}` });
  }
  if (isMapping(aggregates)) {
    for (const [name, a] of Object.entries(aggregates)) {
      if (a === 'count' || single(a, OPS)) continue;
      out.push({
        path: `aggregates.${name}`,
        message: `aggregates.${name}: expected count, { sum: <field> }, { avg: <field> }, { min: <field> } or { max: <field> }, found ${JSON.stringify(a)}`,
      });
    }
  }
  return out;
}
