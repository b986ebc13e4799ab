// kistype: source, type: binlog — the row changes of MySQL / MariaDB tables. One loop takes whole
// transactions from the reader, hands them on in batches (a transaction is never split), and writes the
// checkpoint only after the hand-off resolved, so a restart resumes after the last batch that was fully
// processed (at least once, whole transactions). In Kafka mode one replica reads, elected through Kafka.
import type { Kafka } from 'kafkajs';
import type { Logger } from 'pino';
import type { BinlogSourceParamsT } from '../../config/codecs.js';
import { errorMessage, isKisError, KisError } from '../../kernel/errors.js';
import { partitionForKey } from '../../kernel/partitioner.js';
import type { Position } from '../../kernel/types.js';
import { batchOf, NO_SOURCE_OBSERVER, type BatchHandler, type Source, type SourceObserver } from '../../core/source.js';
import type { Checkpoint, CheckpointStore } from './checkpoint.js';
import { LeaderElection } from '../../kafka/election.js';
import { BinlogReader, classifyBinlogError, describeStart, type StartPoint } from './reader.js';
import { partitionOf, TableFilter, type BinlogPoint, type ChangeRow, type Transaction } from './rows.js';
import { beginSnapshot, openSnapshotConnection, readSnapshot } from './snapshot.js';
import { connectionOptions, firstBinlog, mysql } from './sql.js';

export const DEFAULT_BINLOG_BATCH_ROWS = 500;
export const DEFAULT_SNAPSHOT_CHUNK_ROWS = 1000;
export const DEFAULT_CONNECT_RETRIES = 10;
/** A checkpoint that only moves past transactions of other tables is written at most this often. */
const IDLE_CHECKPOINT_MS = 1_000;

export interface BinlogElectionOptions {
  readonly kafka: Kafka;
  readonly groupId: string;
  readonly topic: string;
  readonly sessionTimeoutMs: number;
}

export interface BinlogSourceOptions {
  readonly id: string;
  /** The database, 'host:port'. */
  readonly addr: string;
  readonly params: BinlogSourceParamsT;
  /** Used to derive a server_id when params.server_id is absent. */
  readonly appId: string;
  readonly store: CheckpointStore;
  readonly logger: Logger;
  readonly observer?: SourceObserver;
  /** Kafka mode: only the elected replica reads. Absent: this process reads. */
  readonly election?: BinlogElectionOptions;
}

/** server_id: the configured one, or one derived from app_id and sid (the same on every replica of the source). */
export function serverIdOf(appId: string, sid: string, configured?: number): number {
  return configured ?? 1_000 + partitionForKey(`${appId}.${sid}`, 2 ** 31 - 2_000);
}

export function parseStart(start: string | undefined): StartPoint | 'beginning' {
  if (start === undefined || start === 'end') return { kind: 'end' };
  if (start === 'beginning') return 'beginning';
  if (start.startsWith('gtid:')) return { kind: 'gtid', set: start.slice('gtid:'.length) };
  const i = start.lastIndexOf(':');
  return { kind: 'pos', file: start.slice(0, i), pos: Number(start.slice(i + 1)) };
}

export class BinlogSource implements Source {
  readonly finite = false;
  readonly id: string;
  private readonly observer: SourceObserver;
  private readonly filter: TableFilter;
  private readonly dsn: ReturnType<typeof connectionOptions>;
  private readonly serverId: number;
  private election: LeaderElection | undefined;
  private reader: BinlogReader | undefined;
  private leading = false;
  private snapshotting = false;

  constructor(private readonly opts: BinlogSourceOptions) {
    this.id = opts.id;
    this.observer = opts.observer ?? NO_SOURCE_OBSERVER;
    this.filter = new TableFilter(opts.params.tables, opts.params.exclude ?? []);
    this.dsn = connectionOptions(opts.addr, opts.params);
    this.serverId = serverIdOf(opts.appId, opts.id, opts.params.server_id);
  }

  async run(handle: BatchHandler, signal: AbortSignal): Promise<void> {
    try {
      if (this.opts.election) {
        const e = this.opts.election;
        this.election = new LeaderElection({
          source: this.id,
          kafka: e.kafka,
          groupId: e.groupId,
          topic: e.topic,
          logger: this.opts.logger,
          sessionTimeoutMs: e.sessionTimeoutMs,
          onChange: (leader) => {
            this.observer.binlogLeader?.(this.id, leader);
            if (leader) this.observer.rebalanced(this.id);
          },
        });
        await this.election.run((s) => this.lead(handle, s), signal);
      } else {
        await this.lead(handle, signal);
      }
    } finally {
      await this.opts.store.close();
    }
  }

  waiting(): string[] {
    if (this.election && !this.election.hasJoined) return [`source '${this.id}': has not joined the binlog election group ${this.opts.election!.groupId} yet`];
    if (this.snapshotting) return [`source '${this.id}': initial snapshot in progress`];
    if (this.leading && !this.reader?.connected) return [`source '${this.id}': not connected to the binlog on ${this.opts.addr} yet`];
    return [];
  }

  /** Reads the binlog (after the snapshot, if one is due) until `signal` aborts. */
  private async lead(handle: BatchHandler, signal: AbortSignal): Promise<void> {
    const { logger, store, params } = this.opts;
    this.leading = true;
    try {
      let cp = await store.load();
      if (cp) logger.info({ source: this.id, checkpoint: store.where, file: cp.file, pos: cp.pos, gtid: cp.gtid, snapshot: cp.snapshot ? (cp.snapshot.finished ? 'finished' : 'in progress') : 'none' }, 'binlog: resuming from the checkpoint');
      if (params.snapshot === 'initial' && (!cp || (cp.snapshot && !cp.snapshot.finished))) {
        this.snapshotting = true;
        try {
          cp = await this.snapshot(handle, cp, signal);
        } finally {
          this.snapshotting = false;
        }
        if (!cp || signal.aborted) return;
      }
      const start = cp ? { kind: 'pos' as const, file: cp.file, pos: cp.pos } : await this.configuredStart();
      if (!cp) logger.info({ source: this.id, start: describeStart(start) }, 'binlog: no checkpoint; starting at the configured start');
      await this.stream(handle, start, cp, signal);
    } finally {
      this.leading = false;
    }
  }

  private async configuredStart(): Promise<StartPoint> {
    const s = parseStart(this.opts.params.start);
    if (s !== 'beginning') return s;
    const conn = await mysql.createConnection({ ...this.dsn }).catch((err: unknown) => {
      throw classifyBinlogError(err, this.errorContext(s === 'beginning' ? { kind: 'end' } : s));
    });
    try {
      return { kind: 'pos', file: await firstBinlog(conn), pos: 4 };
    } catch (err) {
      throw classifyBinlogError(err, this.errorContext({ kind: 'end' }));
    } finally {
      await conn.end().catch(() => undefined);
    }
  }

  private errorContext(from: StartPoint) {
    return { source: this.id, addr: this.opts.addr, user: this.opts.params.user, from, checkpoint: this.opts.store.where };
  }

  private async save(cp: Checkpoint): Promise<void> {
    const t0 = performance.now();
    try {
      await this.opts.store.save(cp);
    } catch (err) {
      throw isKisError(err) ? err : new KisError('KIS_ERR_SOURCE', `source '${this.id}': cannot write the binlog checkpoint to ${this.opts.store.where}: ${errorMessage(err)}`, { cause: err });
    }
    this.observer.committed(this.id, performance.now() - t0);
  }

  /** Hands rows on: one batch, or with partitions > 1 one batch per partition (by primary key), all awaited. */
  private async handOff(handle: BatchHandler, rows: readonly ChangeRow[]): Promise<void> {
    if (rows.length === 0) return;
    const partitions = this.opts.params.partitions ?? 1;
    if (partitions <= 1) {
      // One partition: the rows go as they are; rows of one transaction share its position.
      const positions: Position[] = [];
      let last: ChangeRow['position'] | undefined;
      let at: Position | undefined;
      for (const r of rows) {
        if (r.position !== last) {
          last = r.position;
          at = { source: this.id, partition: 0, offset: `${last.file}:${last.pos}` };
        }
        positions.push(at!);
      }
      await handle(batchOf(this.id, 0, rows as ChangeRow[], positions));
      return;
    }
    const byPartition = new Map<number, { rows: ChangeRow[]; positions: Position[] }>();
    for (const r of rows) {
      const p = partitionOf(r, partitions);
      let b = byPartition.get(p);
      if (!b) byPartition.set(p, (b = { rows: [], positions: [] }));
      b.rows.push(r);
      b.positions.push({ source: this.id, partition: p, offset: `${r.position.file}:${r.position.pos}` });
    }
    await Promise.all([...byPartition].map(([p, b]) => handle(batchOf(this.id, p, b.rows, b.positions))));
  }

  private async snapshot(handle: BatchHandler, cp: Checkpoint | undefined, signal: AbortSignal): Promise<Checkpoint | undefined> {
    const { logger, params } = this.opts;
    const ctx = this.errorContext({ kind: 'end' });
    const conn = await openSnapshotConnection(this.dsn).catch((err: unknown) => { throw classifyBinlogError(err, ctx); });
    try {
      let start: BinlogPoint;
      let current: Checkpoint;
      if (!cp?.snapshot) {
        const begun = await beginSnapshot(conn, this.filter);
        start = begun.start;
        current = { source: this.id, file: start.file, pos: start.pos, gtid: start.gtid, ts_ms: 0, updated_at: new Date().toISOString(), snapshot: begun.progress };
        await this.save(current);
        logger.info({ source: this.id, tables: begun.progress.tables, from: `${start.file}:${start.pos}` }, 'snapshot: begins; the binlog will be read from this position afterwards');
      } else {
        start = { file: cp.file, pos: cp.pos, gtid: cp.gtid };
        current = cp;
        logger.info({ source: this.id, table: cp.snapshot.table, after: cp.snapshot.after, rows: cp.snapshot.rows }, 'snapshot: resumes after the last checkpointed chunk');
      }
      const chunks = readSnapshot(conn, start, current.snapshot!, {
        source: this.id, dsn: this.dsn, filter: this.filter, chunkRows: params.snapshot_chunk_rows ?? DEFAULT_SNAPSHOT_CHUNK_ROWS, logger,
      });
      for await (const chunk of chunks) {
        if (signal.aborted) return undefined;
        await this.handOff(handle, chunk.rows);
        current = { ...current, snapshot: chunk.progress, updated_at: new Date().toISOString() };
        await this.save(current);
      }
      logger.info({ source: this.id, rows: current.snapshot?.rows }, 'snapshot: finished; streaming the binlog from where it began');
      return current;
    } catch (err) {
      throw classifyBinlogError(err, ctx);
    } finally {
      await conn.end().catch(() => undefined);
    }
  }

  private async stream(handle: BatchHandler, start: StartPoint, initial: Checkpoint | undefined, signal: AbortSignal): Promise<void> {
    const { params, logger, store } = this.opts;
    const maxRows = params.max_batch_rows ?? DEFAULT_BINLOG_BATCH_ROWS;
    const high = Math.max(10 * maxRows, 5_000);
    const queue: Transaction[] = [];
    let queuedRows = 0;
    let wake: (() => void) | undefined;
    const poke = (): void => {
      const w = wake;
      wake = undefined;
      w?.();
    };
    let resolvedStart: BinlogPoint | undefined;
    const reader = new BinlogReader({
      source: this.id,
      addr: this.opts.addr,
      dsn: this.dsn,
      serverId: this.serverId,
      filter: this.filter,
      logger,
      retries: params.connect_retries ?? DEFAULT_CONNECT_RETRIES,
      checkpointWhere: store.where,
      onTransaction: (t) => {
        queue.push(t);
        queuedRows += t.rows.length;
        if (queuedRows > high) reader.pause();
        poke();
      },
      onResolvedStart: (p) => {
        resolvedStart = p;
        poke();
      },
    });
    this.reader = reader;
    const readerAbort = new AbortController();
    let readerError: unknown;
    let readerDone = false;
    const readerRun = reader.run(start, readerAbort.signal, initial?.gtid ?? '').then(
      () => { readerDone = true; poke(); },
      (err: unknown) => { readerError = err; readerDone = true; poke(); },
    );
    const onAbort = (): void => poke();
    signal.addEventListener('abort', onAbort);
    let cp = initial;
    let unsaved: Checkpoint | undefined;
    let savedAt = 0;
    let saving: Promise<void> = Promise.resolve();
    // A finished snapshot stays on record in every later checkpoint (what it read, when the stream took over).
    const snapshotDone = initial?.snapshot ? { snapshot: initial.snapshot } : {};
    try {
      while (!signal.aborted) {
        if (readerError) throw readerError;
        if (readerDone) return;
        if (!cp && resolvedStart) {
          // A start at the end of the binlog is pinned at once: a crash before the first change must not skip what follows.
          cp = { source: this.id, ...resolvedStart, ts_ms: 0, updated_at: new Date().toISOString() };
          await this.save(cp);
          savedAt = Date.now();
        }
        if (queue.length === 0) {
          await saving;
          if (unsaved && Date.now() - savedAt >= IDLE_CHECKPOINT_MS) {
            await this.save(unsaved);
            cp = unsaved;
            unsaved = undefined;
            savedAt = Date.now();
          }
          await new Promise<void>((resolve) => {
            // Checked again here, synchronously: a transaction that arrived during the awaits above poked nobody.
            if (queue.length > 0 || readerDone || signal.aborted || (!cp && resolvedStart)) {
              resolve();
              return;
            }
            const timer = setTimeout(poke, unsaved ? IDLE_CHECKPOINT_MS : 5_000);
            wake = () => {
              clearTimeout(timer);
              resolve();
            };
          });
          continue;
        }
        const taken: Transaction[] = [];
        let rows: ChangeRow[] = [];
        while (queue.length > 0 && (taken.length === 0 || rows.length + queue[0]!.rows.length <= maxRows)) {
          const t = queue.shift()!;
          taken.push(t);
          // Appended in place: concat would copy the batch once per transaction, quadratic for single-row ones.
          if (taken.length === 1) rows = t.rows;
          else {
            if (taken.length === 2) rows = rows.slice();
            for (const r of t.rows) rows.push(r);
          }
        }
        queuedRows -= rows.length;
        await this.handOff(handle, rows);
        const last = taken[taken.length - 1]!;
        const next: Checkpoint = { source: this.id, file: last.end.file, pos: last.end.pos, gtid: last.end.gtid, ts_ms: last.tsMs, updated_at: new Date().toISOString(), ...snapshotDone };
        if (rows.length > 0 || Date.now() - savedAt >= IDLE_CHECKPOINT_MS) {
          // The checkpoint of this batch is written while the next batch is processed (as the kafka source
          // commits offsets): in order, one at a time, and always after its own batch's hand-off resolved.
          await saving;
          saving = this.save(next);
          saving.catch(() => undefined); // awaited before the next write or at the end; never unhandled meanwhile
          cp = next;
          unsaved = undefined;
          savedAt = Date.now();
        } else {
          unsaved = next;
        }
        this.observer.binlogLag?.(this.id, Math.max(0, (Date.now() - last.tsMs) / 1000), queue.length);
        if (queuedRows < high / 2) reader.resume();
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
      readerAbort.abort();
      await readerRun;
      this.reader = undefined;
      const lastSave = await saving.then(() => true, () => false);
      if (unsaved && lastSave) await this.save(unsaved).catch(() => undefined);
    }
  }
}
