// Re-snapshots of a running source (requestSnapshot, the signal table), the bookkeeping half: the requests
// not finished (the first is being read), the chunk waiting for its high watermark, the SQL connection the
// chunks are read on, and the retry of chunks that fail. The stream (stream.ts) decides when a chunk is
// read and when it goes out; this keeps what survives in the checkpoint.
import type { ConnectionOptions } from 'mysql2';
import type { Logger } from 'pino';
import { errorMessage } from '../../kernel/errors.js';
import type { SourceObserver } from '../../core/source.js';
import { expandRequest, type IncrementalProgress, type PendingChunk, type SnapshotRequest } from './incremental.js';
import { comparePoints, reached } from './progress.js';
import type { BinlogPoint, ChangeRow, TableFilter } from './rows.js';
import { openSnapshotConnection } from './snapshot.js';
import { masterStatus, type SqlConnection } from './sql.js';

/** A chunk that cannot be read is tried again this many times at most, then the request is given up. */
const MAX_CHUNK_FAILURES = 10;

export interface ResnapshotOptions {
  readonly source: string;
  readonly dsn: ConnectionOptions;
  readonly filter: TableFilter;
  readonly logger: Logger;
  readonly observer: SourceObserver;
  readonly handOff: (rows: readonly ChangeRow[]) => Promise<void>;
}

export class Resnapshots {
  /** The re-snapshots requested and not finished, the first being read; kept in every checkpoint. */
  readonly list: IncrementalProgress[];
  /** The chunk read and waiting for the stream to pass its high watermark. */
  pending: PendingChunk | undefined;
  private sql: SqlConnection | undefined;
  private failures = 0;
  private retryAt = 0;

  constructor(private readonly o: ResnapshotOptions, initial: readonly IncrementalProgress[]) {
    this.list = [...initial];
  }

  async db(): Promise<SqlConnection> {
    return (this.sql ??= await openSnapshotConnection(this.o.dsn));
  }

  async dropDb(): Promise<void> {
    const c = this.sql;
    this.sql = undefined;
    await c?.end().catch(() => undefined);
  }

  /** A chunk may be read now: none waits, a request does, and a failed chunk's back-off is over. */
  readable(now: number): boolean {
    return !this.pending && this.list.length > 0 && now >= this.retryAt;
  }

  /** Expands the request and adds it; undefined for a signal read again (same id). Checkpointed by the caller. */
  async accept(req: SnapshotRequest): Promise<IncrementalProgress | undefined> {
    if (req.id !== undefined && this.list.some((p) => p.id === req.id)) return undefined;
    const p = await expandRequest(await this.db(), this.o.source, this.o.filter, req);
    this.list.push(p);
    this.o.logger.info({ source: this.o.source, snapshot: p.id, tables: p.tables, where: p.where }, 'snapshot: re-snapshot requested; read in chunks interleaved with the stream');
    return p;
  }

  /** A chunk was read: failures start again from zero; none left means the first request is done. */
  read(chunk: PendingChunk | undefined): void {
    this.pending = chunk;
    this.failures = 0;
    if (!chunk) this.list.shift();
  }

  /** Hands the waiting chunk on and records its progress; the caller checkpoints after. */
  async emit(chunk: PendingChunk): Promise<void> {
    await this.o.handOff([...chunk.rows.values()]);
    if (chunk.progress.table === null) {
      this.list.shift();
      this.o.observer.binlogRepair?.(this.o.source, 'incremental_snapshot', chunk.progress.rows);
      this.o.logger.info({ source: this.o.source, snapshot: chunk.progress.id, tables: chunk.progress.tables, rows: chunk.progress.rows }, 'snapshot: re-snapshot finished');
    } else {
      this.list[0] = chunk.progress;
    }
    this.pending = undefined;
  }

  /** With nothing queued: has the reader received everything up to the chunk's high watermark? */
  async reached(chunk: PendingChunk, received: BinlogPoint | undefined, queueEmpty: () => boolean): Promise<boolean> {
    if (received && comparePoints(received, chunk.high) >= 0) return true;
    const server = await masterStatus(await this.db());
    return queueEmpty() && reached(received, server) && comparePoints(server, chunk.high) >= 0;
  }

  /**
   * A chunk that cannot be read (server away, a condition that no longer works) is tried again after a
   * back-off; true when the request was given up instead (the caller checkpoints it gone).
   */
  async failed(p: IncrementalProgress, err: unknown): Promise<boolean> {
    await this.dropDb();
    this.failures++;
    if (this.failures >= MAX_CHUNK_FAILURES) {
      this.list.shift();
      this.failures = 0;
      this.o.logger.error({ source: this.o.source, snapshot: p.id, table: p.table, err: errorMessage(err) }, 'snapshot: re-snapshot given up after 10 failed chunks; request it again');
      return true;
    }
    this.o.logger.warn({ source: this.o.source, snapshot: p.id, table: p.table, attempt: this.failures, err: errorMessage(err) }, 'snapshot: chunk failed; trying again');
    this.retryAt = Date.now() + Math.min(10_000, 250 * 2 ** this.failures);
    return false;
  }
}
