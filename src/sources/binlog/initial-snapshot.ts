// snapshot: initial, driven: the binlog position and the table list are checkpointed before the first
// SELECT, then each chunk (snapshot.ts) is handed on and then checkpointed with its progress, so a crash
// resumes after the last chunk handed on.
import type { ConnectionOptions } from 'mysql2';
import type { Logger } from 'pino';
import type { Checkpoint } from './checkpoint.js';
import { classifyBinlogError, type ErrorContext } from './reader.js';
import type { BinlogPoint, ChangeRow, TableFilter } from './rows.js';
import { beginSnapshot, openSnapshotConnection, readSnapshot } from './snapshot.js';

export interface InitialSnapshotOptions {
  readonly source: string;
  readonly dsn: ConnectionOptions;
  readonly filter: TableFilter;
  readonly chunkRows: number;
  readonly logger: Logger;
  readonly errorContext: ErrorContext;
  readonly handOff: (rows: readonly ChangeRow[]) => Promise<void>;
  readonly save: (cp: Checkpoint) => Promise<void>;
}

/** Reads the tables (from `cp`'s progress when one is under way); the checkpoint to stream from, or undefined when aborted. */
export async function initialSnapshot(o: InitialSnapshotOptions, cp: Checkpoint | undefined, signal: AbortSignal): Promise<Checkpoint | undefined> {
  const { logger } = o;
  const conn = await openSnapshotConnection(o.dsn).catch((err: unknown) => { throw classifyBinlogError(err, o.errorContext); });
  try {
    let start: BinlogPoint;
    let current: Checkpoint;
    if (!cp?.snapshot) {
      const begun = await beginSnapshot(conn, o.filter);
      start = begun.start;
      current = { source: o.source, file: start.file, pos: start.pos, gtid: start.gtid, ts_ms: 0, updated_at: new Date().toISOString(), snapshot: begun.progress };
      await o.save(current);
      logger.info({ source: o.source, tables: begun.progress.tables, from: `${start.file}:${start.pos}` }, 'snapshot: begins; the binlog will be read from this position afterwards');
    } else {
      start = { file: cp.file, pos: cp.pos, gtid: cp.gtid };
      current = cp;
      logger.info({ source: o.source, table: cp.snapshot.table, after: cp.snapshot.after, rows: cp.snapshot.rows }, 'snapshot: resumes after the last checkpointed chunk');
    }
    const chunks = readSnapshot(conn, start, current.snapshot!, { source: o.source, dsn: o.dsn, filter: o.filter, chunkRows: o.chunkRows, logger });
    // Pipelined, one chunk deep: the next chunk is read while this one is handed on, and a chunk's checkpoint
    // is written while the next is handed on (in order, each after its own chunk's hand-off resolved).
    let next = chunks.next();
    let saving: Promise<void> = Promise.resolve();
    try {
      for (;;) {
        const got = await next;
        if (got.done) break;
        if (signal.aborted) return undefined;
        next = chunks.next();
        next.catch(() => undefined); // awaited at the top of the loop; an abort leaves it to the connection's end
        await o.handOff(got.value.rows);
        await saving;
        current = { ...current, snapshot: got.value.progress, updated_at: new Date().toISOString() };
        saving = o.save(current);
        saving.catch(() => undefined);
      }
    } finally {
      await saving;
    }
    logger.info({ source: o.source, rows: current.snapshot?.rows }, 'snapshot: finished; streaming the binlog from where it began');
    return current;
  } catch (err) {
    throw classifyBinlogError(err, o.errorContext);
  } finally {
    await conn.end().catch(() => undefined);
  }
}
