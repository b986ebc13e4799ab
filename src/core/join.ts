// Stream joins of a Load step: a row meets the row another flow saved under the same key. A row whose match
// has not arrived is held in the flow's keyed state (store `<fid>.<step>.held`, changelog-backed, so a crash
// does not lose it) and released, joined, when the match arrives; so either arrival order joins exactly once.
// With join_window_ms, a held row waits at most that long (then a left join emits it unmatched and an inner
// join dead-letters it), and a saved row older than that no longer matches.
// The saved side is either the connector's table of its whole topic (every replica keeps it), or, when the
// flow's input is co-partitioned with the connector's topic (Kafka sources), a keyed store of the flow's own
// partition (`<fid>.<step>.table`) fed by the same consumer: the two sides of a key meet in one partition.
import type { Position, Row } from '../kernel/types.js';
import type { KeyedState } from './state.js';

/** A row waiting for its match: the row, its source position, when it arrived. */
export interface HeldRow {
  readonly r: Row;
  readonly p: Position | null;
  readonly t: number;
}

/** A saved row in a co-partitioned table store, and when it arrived. */
export interface TableRow {
  readonly r: Row;
  readonly t: number;
}

export function heldStoreName(fid: string, step: number): string {
  return `${fid}.${step}.held`;
}

export function tableStoreName(fid: string, step: number): string {
  return `${fid}.${step}.table`;
}

export function joinRow(row: Row, saved: Row | undefined, as: string | undefined): Row {
  if (as !== undefined) return { ...row, [as]: saved ?? null };
  return saved ? { ...saved, ...row } : { ...row };
}

export interface Joined {
  readonly rows: Row[];
  readonly positions: (Position | undefined)[];
}

/** Joins what matches now; holds the rest under their key. Rows without a key come back as unjoinable. */
export function joinOrHold(
  rows: readonly Row[],
  positions: readonly (Position | undefined)[],
  keyOf: (row: Row) => string | undefined,
  lookup: (key: string) => Row | undefined,
  held: KeyedState<HeldRow[]>,
  now: number,
  as: string | undefined,
  /** Co-partitioned joins: the partition a key belongs to, to catch rows that arrived on another one. */
  home?: (key: string) => number | undefined,
  partition?: number,
): Joined & { unjoinable: Row[]; misplaced: Array<{ row: Row; home: number }>; held: number } {
  const out: Row[] = [];
  const outPos: (Position | undefined)[] = [];
  const unjoinable: Row[] = [];
  const misplaced: Array<{ row: Row; home: number }> = [];
  let n = 0;
  rows.forEach((row, i) => {
    const key = keyOf(row);
    if (key === undefined) {
      unjoinable.push(row);
      return;
    }
    const h = home?.(key);
    if (h !== undefined && h !== partition) {
      misplaced.push({ row, home: h });
      return;
    }
    const saved = lookup(key);
    if (saved) {
      out.push(joinRow(row, saved, as));
      outPos.push(positions[i]);
      return;
    }
    const list = held.get(key) ?? [];
    held.set(key, [...list, { r: row, p: positions[i] ?? null, t: now }]);
    n++;
  });
  return { rows: out, positions: outPos, unjoinable, misplaced, held: n };
}

/** The rows held for these keys, joined with what they waited for; they leave the held store. */
export function release(keys: Iterable<string>, lookup: (key: string) => Row | undefined, held: KeyedState<HeldRow[]>, as: string | undefined): Joined {
  const rows: Row[] = [];
  const positions: (Position | undefined)[] = [];
  for (const key of keys) {
    const list = held.get(key);
    if (!list) continue;
    const saved = lookup(key);
    if (!saved) continue;
    held.delete(key);
    for (const h of list) {
      rows.push(joinRow(h.r, saved, as));
      positions.push(h.p ?? undefined);
    }
  }
  return { rows, positions };
}

/** Held rows that waited `windowMs` or longer (all of them when windowMs is undefined) leave the store. */
export function expire(held: KeyedState<HeldRow[]>, now: number, windowMs: number | undefined): HeldRow[] {
  const out: HeldRow[] = [];
  const updates: Array<[string, HeldRow[]]> = [];
  for (const [key, list] of held.entries()) {
    const gone = windowMs === undefined ? list : list.filter((h) => h.t + windowMs <= now);
    if (gone.length === 0) continue;
    out.push(...gone);
    updates.push([key, gone.length === list.length ? [] : list.filter((h) => h.t + windowMs! > now)]);
  }
  for (const [key, rest] of updates) {
    if (rest.length === 0) held.delete(key);
    else held.set(key, rest);
  }
  return out;
}
