// snapshot: initial, driven: the binlog position and the table list are checkpointed before the first
// SELECT, then each chunk (snapshot.ts) is handed on and checkpointed with its progress before the next is
// asked for, so a crash resumes after the last chunk handed on.
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
    for await (const chunk of chunks) {
      if (signal.aborted) return undefined;
      await o.handOff(chunk.rows);
      current = { ...current, snapshot: chunk.progress, updated_at: new Date().toISOString() };
      await o.save(current);
    }
    logger.info({ source: o.source, rows: current.snapshot?.rows }, 'snapshot: finished; streaming the binlog from where it began');
    return current;
  } catch (err) {
    throw classifyBinlogError(err, o.errorContext);
  } finally {
    await conn.end().catch(() => undefined);
  }
}
