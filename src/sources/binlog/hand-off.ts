// Rows leave the source here: one batch, or with partitions > 1 one batch per partition (by primary key),
// every batch awaited, so that the caller checkpoints only after all of them resolved.
import type { Position } from '../../kernel/types.js';
import { batchOf, type BatchHandler } from '../../core/source.js';
import { partitionOf, type ChangeRow } from './rows.js';

export async function handOff(source: string, partitions: number, handle: BatchHandler, rows: readonly ChangeRow[]): Promise<void> {
  if (rows.length === 0) return;
  if (partitions <= 1) {
    // One partition: the rows go as they are; rows of one transaction share its position.
    const positions: Position[] = [];
    let last: ChangeRow['position'] | undefined;
    let at: Position | undefined;
    for (const r of rows) {
      if (r.position !== last) {
        last = r.position;
        at = { source, partition: 0, offset: `${last.file}:${last.pos}` };
      }
      positions.push(at!);
    }
    await handle(batchOf(source, 0, rows as ChangeRow[], positions));
    return;
  }
  const byPartition = new Map<number, { rows: ChangeRow[]; positions: Position[] }>();
  for (const r of rows) {
    const p = partitionOf(r, partitions);
    let b = byPartition.get(p);
    if (!b) byPartition.set(p, (b = { rows: [], positions: [] }));
    b.rows.push(r);
    b.positions.push({ source, partition: p, offset: `${r.position.file}:${r.position.pos}` });
  }
  await Promise.all([...byPartition].map(([p, b]) => handle(batchOf(source, p, b.rows, b.positions))));
}
