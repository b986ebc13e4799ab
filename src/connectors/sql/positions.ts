// Source positions as a storage connector keeps them next to the data: the greatest position of a batch per
// (source, partition), compared the way each source orders them.
import { comparePositions } from '../../kernel/positions.js';
import type { Position } from '../../kernel/types.js';

export { comparePositions };

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
