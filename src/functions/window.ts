// kis.window: aggregates per group over tumbling or hopping windows, by event time (a row field) or by
// processing time, kept in the function's keyed state and emitted when a window closes (or on every update).
// Semantics follow Kafka Streams: windows aligned to the epoch, stream time = the largest event time seen,
// a window [start, end) closes when stream time >= end + allowed lateness (suppress(untilWindowCloses)).
import { keyFields } from '../config/model.js';
import { KisError } from '../kernel/errors.js';
import type { JsonScalar, Row } from '../kernel/types.js';
import type { FaasHandler, FlowContext } from '../core/context.js';
import type { PrepareEnv } from '../core/pool.js';
import type { KeyedState } from '../core/state.js';
import { checkParams, paramsError, paramsProblems } from './check-params.js';
import { numeric, parseEventTime } from './event-time.js';
import { aggregateSpecs, unionProblems, WindowParams } from './window-params.js';

export { parseEventTime } from './event-time.js';
export { WindowParams } from './window-params.js';

/** What the store holds per open window (JSON, written to the changelog). */
interface WindowValue {
  /** The group field values, in group_by order. */
  g: JsonScalar[];
  /** Start and end, ms since the epoch. */
  s: number;
  e: number;
  /** Rows in the window. */
  c: number;
  /** Output field -> running sum (sum, avg), least (min) or greatest (max). */
  a: Record<string, number>;
}

/** Per store: the open windows by end time, so that closing costs the windows closed, not a scan of the store. */
interface WindowIndex {
  /** Event time: the largest event time seen (also in the store). Processing time: the largest now() seen. */
  streamTime: number;
  /** The ends of open windows, ascending. */
  readonly ends: number[];
  /** Event time: the stream time found in the store when this handler first saw it, if it did not write it itself. */
  restored: number | undefined;
  readonly byEnd: Map<number, Set<string>>;
}

// State keys of windows start with '[' (a JSON array), so this one cannot collide with them.
const STREAM_TIME_KEY = '\u0000stream_time';
const MAX_WINDOWS_PER_ROW = 1000;
const RESERVED = ['window_start', 'window_end'];
// An explicit `from` without a position: a window closed by the clock came from no row of this call, and
// without it the runtime would pair the i-th output with the i-th input when their counts happen to match.
const NO_LINEAGE: Row = Object.freeze({});

function isWindowValue(v: unknown): v is WindowValue {
  if (typeof v !== 'object' || v === null) return false;
  const w = v as Partial<WindowValue>;
  return Array.isArray(w.g) && typeof w.s === 'number' && typeof w.e === 'number' && typeof w.c === 'number' &&
    typeof w.a === 'object' && w.a !== null;
}

const iso = (ms: number): string => new Date(ms).toISOString();

/** Why a row is late when the window was closed by stream time restored from the changelog, not by this run's rows. */
function restoredHint(restored: number | undefined, closedAt: number, grace: number): string {
  if (restored === undefined || closedAt > restored) return '';
  return `. The state restored from an earlier run (or another replica) has stream time ${iso(restored)}; rows older than ` +
    `${iso(restored - grace)} (stream time - allowed_lateness_ms) are late: to process old data again, use a new app_id or reset the changelog`;
}

export const windowAggregate = (params: Readonly<Record<string, unknown>>, env: PrepareEnv): FaasHandler => {
  const own = unionProblems(params);
  const problems = [...own, ...paramsProblems(WindowParams, params)
    .filter((x) => !own.some((o) => x.path === o.path || x.path.startsWith(o.path + '.')))];
  if (problems.length > 0) throw paramsError(env.where, problems);
  const p = checkParams(WindowParams, params, env.where);
  const bad = (msg: string): KisError => new KisError('KIS_ERR_CONFIG_SCHEMA', `${env.where}: kis.window ${msg}`);

  const groupFields = keyFields(p.group_by);
  const dup = groupFields.find((f, i) => groupFields.indexOf(f) !== i);
  if (dup !== undefined) throw bad(`params.group_by names field '${dup}' twice`);
  const size = p.window.size_ms;
  const advance = p.window.advance_ms ?? size;
  if (advance > size) throw bad(`params.window.advance_ms (${advance}) may not exceed params.window.size_ms (${size})`);
  if (Math.ceil(size / advance) > MAX_WINDOWS_PER_ROW) {
    throw bad(`params.window: size_ms ${size} / advance_ms ${advance} puts each row in ${Math.ceil(size / advance)} windows; at most ${MAX_WINDOWS_PER_ROW}`);
  }
  const aggs = aggregateSpecs(p.aggregates);
  for (const a of aggs) {
    if (a.name === '') throw bad('params.aggregates has an empty output field name');
    if (RESERVED.includes(a.name) || groupFields.includes(a.name)) {
      throw bad(`params.aggregates.${a.name}: the output field '${a.name}' is already ${RESERVED.includes(a.name) ? 'the window bound' : 'a group_by field'}`);
    }
  }
  const valued = aggs.filter((a) => a.field !== undefined);
  const timeField = p.time === 'processing' ? undefined : p.time.field;
  const grace = p.allowed_lateness_ms ?? 0;
  const emitUpdates = p.emit === 'update';

  // Per store (one per partition), rebuilt from the store when missing: after a restore, or a rebuild of the service.
  const indexes = new WeakMap<KeyedState<unknown>, WindowIndex>();
  // Stream time this handler wrote, per partition: a store rebuilt with it (a rebalance) was not restored from elsewhere.
  const written = new Map<number, number>();

  const track = (idx: WindowIndex, key: string, end: number): void => {
    let keys = idx.byEnd.get(end);
    if (!keys) {
      keys = new Set();
      idx.byEnd.set(end, keys);
      let lo = 0;
      let hi = idx.ends.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (idx.ends[mid]! < end) lo = mid + 1;
        else hi = mid;
      }
      idx.ends.splice(lo, 0, end);
    }
    keys.add(key);
  };

  const indexOf = (state: KeyedState<unknown>, partition: number): WindowIndex => {
    let idx = indexes.get(state);
    if (idx) return idx;
    idx = { streamTime: -Infinity, ends: [], byEnd: new Map(), restored: undefined };
    for (const [key, v] of state.entries()) {
      if (key === STREAM_TIME_KEY) {
        if (typeof v === 'number' && timeField !== undefined) {
          idx.streamTime = v;
          if (written.get(partition) !== v) idx.restored = v;
        }
      } else if (isWindowValue(v)) {
        track(idx, key, v.e);
      }
    }
    indexes.set(state, idx);
    return idx;
  };

  const outputRow = (w: WindowValue): Row => {
    const row: Row = {};
    groupFields.forEach((f, i) => { row[f] = w.g[i]; });
    row['window_start'] = w.s;
    row['window_end'] = w.e;
    for (const a of aggs) {
      const acc = w.a[a.name];
      row[a.name] = a.op === 'count' ? w.c : a.op === 'avg' ? (acc ?? 0) / w.c : acc;
    }
    return row;
  };

  /** Closes (emits, with emit: close, and deletes) every window with end + allowed lateness <= stream time, by end, then key. */
  const closeUpTo = (flow: FlowContext, state: KeyedState<unknown>, idx: WindowIndex, from: Row): void => {
    while (idx.ends.length > 0 && idx.ends[0]! + grace <= idx.streamTime) {
      const end = idx.ends.shift()!;
      const keys = [...idx.byEnd.get(end)!].sort();
      idx.byEnd.delete(end);
      for (const key of keys) {
        const w = state.get(key);
        if (!isWindowValue(w)) continue; // expired (ttl_ms) or evicted (max_keys) while open
        if (!emitUpdates) flow.commitRow(outputRow(w), from);
        state.delete(key);
      }
    }
  };

  /** The group values of a row, or why it has none. */
  const groupOf = (row: Row): JsonScalar[] | string => {
    const g: JsonScalar[] = [];
    for (const f of groupFields) {
      const v = row[f];
      if (v === undefined || v === null) return `lacks group_by field ${f}`;
      if (typeof v === 'object') return `group_by field ${f} is ${Array.isArray(v) ? 'a list' : 'a mapping'}, not a scalar`;
      g.push(v as JsonScalar);
    }
    return g;
  };

  /** The values the aggregates read, or why the row cannot be aggregated. */
  const valuesOf = (row: Row): number[] | string => {
    const vals: number[] = [];
    for (const a of valued) {
      const v = row[a.field!];
      const n = numeric(v);
      if (n === undefined) {
        return `field ${a.field} (aggregate ${a.name}: ${a.op}) ${v === undefined || v === null ? 'is missing' : `is ${JSON.stringify(v)}, not a number`}`;
      }
      vals.push(n);
    }
    return vals;
  };

  /** Adds a row to every window of time `ts` that is still open; false when all of them are closed. */
  const add = (flow: FlowContext, state: KeyedState<unknown>, idx: WindowIndex, row: Row, g: JsonScalar[], vals: number[], ts: number): boolean => {
    const gKey = JSON.stringify(g);
    let added = false;
    const starts: number[] = [];
    for (let s = Math.floor(ts / advance) * advance; s > ts - size && s >= 0; s -= advance) starts.push(s);
    for (const s of starts.reverse()) {
      const e = s + size;
      if (e + grace <= idx.streamTime) continue; // closed: late for this window
      const key = `${gKey}\u0000${s}`;
      const prior = state.get(key);
      const w: WindowValue = isWindowValue(prior) ? prior : { g, s, e, c: 0, a: {} };
      w.c++;
      valued.forEach((a, i) => {
        const v = vals[i]!;
        const acc = w.a[a.name];
        w.a[a.name] = acc === undefined ? v : a.op === 'min' ? Math.min(acc, v) : a.op === 'max' ? Math.max(acc, v) : acc + v;
      });
      state.set(key, w);
      track(idx, key, w.e);
      added = true;
      if (emitUpdates) flow.commitRow(outputRow(w), row);
    }
    return added;
  };

  return (flow, rows) => {
    const state = flow.state<unknown>();
    const idx = indexOf(state, flow.partition);
    if (flow.inputEnded) {
      // A finite input ended: every window still open closes now, as if stream time had passed them all.
      const streamTime = idx.streamTime;
      idx.streamTime = Infinity;
      closeUpTo(flow, state, idx, NO_LINEAGE);
      idx.streamTime = streamTime;
      return;
    }
    if (timeField === undefined) {
      idx.streamTime = Math.max(idx.streamTime, flow.now());
      closeUpTo(flow, state, idx, NO_LINEAGE);
      for (const row of rows) {
        const g = groupOf(row);
        if (typeof g === 'string') { flow.reject(row, g); continue; }
        const vals = valuesOf(row);
        if (typeof vals === 'string') { flow.reject(row, vals); continue; }
        add(flow, state, idx, row, g, vals, idx.streamTime);
      }
      return;
    }
    // Event time: what the store holds may already be closed (allowed lateness lowered since the last run).
    closeUpTo(flow, state, idx, NO_LINEAGE);
    const before = idx.streamTime;
    for (const row of rows) {
      const g = groupOf(row);
      if (typeof g === 'string') { flow.reject(row, g); continue; }
      const ts = parseEventTime(row[timeField]);
      if (typeof ts === 'string') { flow.reject(row, `time field ${timeField} ${ts}`); continue; }
      const vals = valuesOf(row);
      if (typeof vals === 'string') { flow.reject(row, vals); continue; }
      if (ts > idx.streamTime) {
        idx.streamTime = ts;
        closeUpTo(flow, state, idx, row);
      }
      if (!add(flow, state, idx, row, g, vals, ts)) {
        const s = Math.floor(ts / advance) * advance;
        flow.reject(row, `late: event time ${iso(ts)} falls only in closed windows (the last, [${iso(s)}, ${iso(s + size)}), ` +
          `closed when stream time reached ${iso(s + size + grace)} with allowed_lateness_ms ${grace}); stream time is ${iso(idx.streamTime)}` +
          restoredHint(idx.restored, s + size + grace, grace));
      }
    }
    if (idx.streamTime > before) {
      state.set(STREAM_TIME_KEY, idx.streamTime, { ttlMs: null }); // never expires: losing it would reopen closed windows to late rows
      written.set(flow.partition, idx.streamTime);
    }
  };
};
