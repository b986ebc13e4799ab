// Source positions as a storage connector keeps them next to the data: the greatest position of a batch per
// (source, partition), compared the way each source orders them.
import type { Position } from '../../kernel/types.js';

const DECIMAL = /^\d+$/;

function digitsOnly(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) { const c = s.charCodeAt(i); if (c < 48 || c > 57) return false; }
  return true;
}

/**
 * Orders two positions of the same source partition: negative when a is before b, 0 when equal.
 * Kafka offsets and sequence numbers are decimal strings (compared as whole numbers of any size: offsets pass 2^53);
 * binlog positions `file:pos` compare by file name, then pos as a number; anything else as text.
 */
export function comparePositions(a: string, b: string): number {
  if (a === b) return 0;
  if (digitsOnly(a) && digitsOnly(b)) {
    // Numeric order without BigInt (this runs for every row): the longer number is greater, once leading zeros are gone.
    const x = a.charCodeAt(0) === 48 ? a.replace(/^0+(?=\d)/, '') : a;
    const y = b.charCodeAt(0) === 48 ? b.replace(/^0+(?=\d)/, '') : b;
    if (x.length !== y.length) return x.length < y.length ? -1 : 1;
    return x < y ? -1 : x > y ? 1 : 0;
  }
  const ia = a.lastIndexOf(':');
  const ib = b.lastIndexOf(':');
  if (ia > 0 && ib > 0) {
    const fa = a.slice(0, ia);
    const fb = b.slice(0, ib);
    if (fa !== fb) return fa < fb ? -1 : 1;
    const pa = a.slice(ia + 1);
    const pb = b.slice(ib + 1);
    if (DECIMAL.test(pa) && DECIMAL.test(pb)) return comparePositions(pa, pb);
  }
  return a < b ? -1 : 1;
}

/** The greatest position per (source, partition) in a batch; rows without a position contribute none. */
export interface PartitionPosition {
  readonly source: string;
  readonly partition: number;
  readonly position: string;
}

export function greatestPositions(positions: readonly (Position | undefined)[]): PartitionPosition[] {
  const best = new Map<string, { source: string; partition: number; position: string }>();
  // A batch is mostly one partition's run of rows: the entry of the previous row is tried before the map.
  let last: { source: string; partition: number; position: string } | undefined;
  for (const p of positions) {
    if (p === undefined) continue;
    let cur = last !== undefined && last.source === p.source && last.partition === p.partition ? last : undefined;
    if (cur === undefined) {
      const id = `${p.source}\u0000${p.partition}`;
      cur = best.get(id);
      if (cur === undefined) { cur = { source: p.source, partition: p.partition, position: p.offset }; best.set(id, cur); }
    }
    if (comparePositions(p.offset, cur.position) > 0) cur.position = p.offset;
    last = cur;
  }
  return [...best.values()];
}

/** Default name of the table the SQL connectors keep positions in. */
export const DEFAULT_POSITIONS_TABLE = 'kisflow_positions';
