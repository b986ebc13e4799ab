// kistype: source, type: binlog — the row changes of MySQL / MariaDB tables. One loop takes whole
// transactions from the reader, hands them on in batches (a transaction is never split), and writes the
// checkpoint only after the hand-off resolved, so a restart resumes after the last batch that was fully
// processed (at least once, whole transactions). In Kafka mode one replica reads, elected through Kafka.
import type { Kafka } from 'kafkajs';
import type { Logger } from 'pino';
import type { BinlogSourceParamsT } from '../../config/codecs.js';
import { errorMessage, hasCode, isKisError, KisError } from '../../kernel/errors.js';
import { partitionForKey } from '../../kernel/partitioner.js';
import type { Position } from '../../kernel/types.js';
import { batchOf, NO_SOURCE_OBSERVER, type BatchHandler, type Source, type SourceObserver } from '../../core/source.js';
import type { Checkpoint, CheckpointStore } from './checkpoint.js';
import { LeaderElection } from '../../kafka/election.js';
import { BinlogReader, classifyBinlogError, describeStart, type StartPoint } from './reader.js';
import { partitionOf, TableFilter, type BinlogPoint, type ChangeRow, type Transaction } from './rows.js';
import { beginSnapshot, openSnapshotConnection, readSnapshot } from './snapshot.js';
import { connectionOptions, firstBinlog, masterStatus, mysql, type SqlConnection } from './sql.js';
import { dropChanged, expandRequest, readChunk, snapshotUnfinished, type IncrementalProgress, type PendingChunk, type SnapshotRequest } from './incremental.js';
import { comparePoints, LagTracker, reached } from './progress.js';

export const DEFAULT_BINLOG_BATCH_ROWS = 500;
export const DEFAULT_SNAPSHOT_CHUNK_ROWS = 1000;
export const DEFAULT_CONNECT_RETRIES = 10;
/** A checkpoint that only moves past transactions of other tables is written at most this often. */
const IDLE_CHECKPOINT_MS = 1_000;
/** How often the server's position is probed for the lag. */
const LAG_PROBE_MS = 1_000;

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
  private streaming = false;
  private requests: Array<{ req: SnapshotRequest; resolve: (p: IncrementalProgress) => void; reject: (e: unknown) => void }> = [];
  private wakeStream: (() => void) | undefined;
  private incremental: IncrementalProgress[] = [];

  constructor(private readonly opts: BinlogSourceOptions) {
    this.id = opts.id;
    this.observer = opts.observer ?? NO_SOURCE_OBSERVER;
    // The signal table is read from the binlog but never snapshotted nor handed on, even when a pattern matches it.
    const signal = opts.params.signal_table;
    this.filter = new TableFilter(opts.params.tables, [...(opts.params.exclude ?? []), ...(signal ? [signal] : [])]);
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
      let heals = 0;
      for (;;) {
        // An unfinished snapshot resumes whatever started it (snapshot: initial, or a lost position healed).
        if ((params.snapshot === 'initial' && !cp) || snapshotUnfinished(cp?.snapshot)) {
          cp = await this.snapshotting_(() => this.snapshot(handle, cp, signal));
          if (!cp || signal.aborted) return;
        }
        const start = cp ? { kind: 'pos' as const, file: cp.file, pos: cp.pos } : await this.configuredStart();
        if (!cp) logger.info({ source: this.id, start: describeStart(start) }, 'binlog: no checkpoint; starting at the configured start');
        try {
          await this.stream(handle, start, cp, signal);
          return;
        } catch (err) {
          // Three heals in a row without streaming in between: something else is wrong; stop with the error.
          if (!hasCode(err, 'KIS_ERR_BINLOG_POSITION') || params.on_position_lost !== 'resnapshot' || signal.aborted || heals >= 3) throw err;
          heals++;
          logger.error({ source: this.id, from: describeStart(start), err: errorMessage(err) },
            'binlog: the position is gone from the server; re-reading the tables and going on from the current position (on_position_lost: resnapshot)');
          cp = await this.snapshotting_(() => this.snapshot(handle, undefined, signal));
          if (!cp || signal.aborted) return;
          this.observer.binlogRepair?.(this.id, 'resnapshot', cp.snapshot?.rows ?? 0);
          logger.warn({ source: this.id, rows: cp.snapshot?.rows, from: `${cp.file}:${cp.pos}` }, 'binlog: healed a lost position by a new snapshot');
        }
      }
    } finally {
      this.leading = false;
    }
  }

  private async snapshotting_<T>(fn: () => Promise<T>): Promise<T> {
    this.snapshotting = true;
    try {
      return await fn();
    } finally {
      this.snapshotting = false;
    }
  }

  /**
   * Asks the running source to read these tables again (op r), interleaved with the live stream without
   * losing or reordering changes of a key; resolves once the request is checkpointed (it survives a crash).
   * Only the replica that reads the binlog takes requests; other processes insert into the signal table.
   */
  requestSnapshot(req: SnapshotRequest): Promise<IncrementalProgress> {
    if (!this.streaming) {
      return Promise.reject(new KisError('KIS_ERR_REPAIR_REQUEST',
        `source '${this.id}': this process is not reading the binlog now (another replica is, or it has not started); ` +
        (this.opts.params.signal_table ? `insert the request into ${this.opts.params.signal_table} instead` : 'set params.signal_table to request snapshots from any process')));
    }
    return new Promise<IncrementalProgress>((resolve, reject) => {
      this.requests.push({ req, resolve, reject });
      this.wakeStream?.();
    });
  }

  /** The re-snapshots requested and not finished, the first being read (empty when none). */
  get pendingSnapshots(): readonly IncrementalProgress[] {
    return this.incremental;
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
    const chunkRows = params.snapshot_chunk_rows ?? DEFAULT_SNAPSHOT_CHUNK_ROWS;
    const high = Math.max(10 * maxRows, 5_000);
    const signalTable = params.signal_table;
    const queue: Transaction[] = [];
    let queuedRows = 0;
    let wake: (() => void) | undefined;
    const poke = (): void => {
      const w = wake;
      wake = undefined;
      w?.();
    };
    let resolvedStart: BinlogPoint | undefined;
    // The reader also reads the signal table; its rows are taken out before the hand-off.
    const readerFilter = signalTable ? new TableFilter([...params.tables, signalTable], params.exclude ?? []) : this.filter;
    const reader = new BinlogReader({
      source: this.id,
      addr: this.opts.addr,
      dsn: this.dsn,
      serverId: this.serverId,
      filter: readerFilter,
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
      onGtidResume: () => this.observer.binlogRepair?.(this.id, 'gtid_resume', 0),
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
    this.incremental = [...(initial?.incremental ?? [])];
    const extra = (): Partial<Checkpoint> => ({ ...snapshotDone, ...(this.incremental.length > 0 ? { incremental: [...this.incremental] } : {}) });
    /** A checkpoint at the same position with the re-snapshot progress of now. */
    const current = (c: Checkpoint): Checkpoint => {
      const { incremental: _old, ...base } = c;
      return { ...base, ...extra(), updated_at: new Date().toISOString() };
    };
    let pending: PendingChunk | undefined;
    let sql: SqlConnection | undefined;
    const db = async (): Promise<SqlConnection> => (sql ??= await openSnapshotConnection(this.dsn));

    // Lag: probed against the server every second, besides what waits in the queue (see progress.ts).
    const lag = new LagTracker();
    let inFlightTs: number | undefined;
    const reportLag = (): void => {
      lag.advance(reader.position);
      this.observer.binlogLag?.(this.id, lag.seconds(Date.now(), inFlightTs ?? queue[0]?.tsMs), queue.length);
    };
    let probeConn: SqlConnection | undefined;
    let probing = false;
    let ended = false;
    const probe = async (): Promise<void> => {
      if (probing || ended) return;
      probing = true;
      try {
        probeConn ??= await openSnapshotConnection(this.dsn);
        if (ended) throw new Error('stopped');
        const at = Date.now();
        const server = await masterStatus(probeConn);
        lag.probed(server, reader.position, at);
      } catch {
        lag.probeFailed(Date.now());
        const c = probeConn;
        probeConn = undefined;
        await c?.end().catch(() => undefined);
      } finally {
        probing = false;
      }
      if (ended) {
        // The stream ended while this probe ran: its connection is closed here, not left open.
        const c = probeConn;
        probeConn = undefined;
        await c?.end().catch(() => undefined);
        return;
      }
      reportLag();
    };
    const probeTimer = setInterval(() => void probe(), LAG_PROBE_MS);
    probeTimer.unref();

    const saveNow = async (next: Checkpoint): Promise<void> => {
      await saving;
      saving = this.save(next);
      saving.catch(() => undefined); // awaited before the next write or at the end; never unhandled meanwhile
      cp = next;
      unsaved = undefined;
      savedAt = Date.now();
    };
    /** Requests (from requestSnapshot or the signal table) expanded and added; checkpointed by the caller. */
    const accept = async (req: SnapshotRequest): Promise<IncrementalProgress | undefined> => {
      if (req.id !== undefined && this.incremental.some((p) => p.id === req.id)) return undefined; // a signal read again
      const p = await expandRequest(await db(), this.id, this.filter, req);
      this.incremental.push(p);
      logger.info({ source: this.id, snapshot: p.id, tables: p.tables, where: p.where }, 'snapshot: re-snapshot requested; read in chunks interleaved with the stream');
      return p;
    };
    const emitChunk = async (chunk: PendingChunk): Promise<void> => {
      await this.handOff(handle, [...chunk.rows.values()]);
      const done = chunk.progress.table === null;
      if (done) {
        this.incremental.shift();
        this.observer.binlogRepair?.(this.id, 'incremental_snapshot', chunk.progress.rows);
        logger.info({ source: this.id, snapshot: chunk.progress.id, tables: chunk.progress.tables, rows: chunk.progress.rows }, 'snapshot: re-snapshot finished');
      } else {
        this.incremental[0] = chunk.progress;
      }
      pending = undefined;
      if (cp) await saveNow(current(cp));
    };
    /** With nothing queued: has the reader received everything up to the chunk's high watermark? */
    const chunkReached = async (chunk: PendingChunk): Promise<boolean> => {
      if (reader.position && comparePoints(reader.position, chunk.high) >= 0) return true;
      const server = await masterStatus(await db());
      return queue.length === 0 && reached(reader.position, server) && comparePoints(server, chunk.high) >= 0;
    };

    let chunkFailures = 0;
    let chunkRetryAt = 0;
    const dropDb = async (): Promise<void> => {
      const c = sql;
      sql = undefined;
      await c?.end().catch(() => undefined);
    };
    /** A chunk that cannot be read (server away, a condition that no longer works) is tried again, 10 times at most. */
    const chunkFailed = async (p: IncrementalProgress, err: unknown): Promise<void> => {
      await dropDb();
      chunkFailures++;
      if (chunkFailures >= 10) {
        this.incremental.shift();
        chunkFailures = 0;
        logger.error({ source: this.id, snapshot: p.id, table: p.table, err: errorMessage(err) }, 'snapshot: re-snapshot given up after 10 failed chunks; request it again');
        if (cp) await saveNow(current(cp));
        return;
      }
      logger.warn({ source: this.id, snapshot: p.id, table: p.table, attempt: chunkFailures, err: errorMessage(err) }, 'snapshot: chunk failed; trying again');
      chunkRetryAt = Date.now() + Math.min(10_000, 250 * 2 ** chunkFailures);
    };

    this.streaming = true;
    this.wakeStream = poke;
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
        if (this.requests.length > 0 && cp) {
          const taken = this.requests.splice(0);
          const accepted: Array<[typeof taken[number], IncrementalProgress | undefined]> = [];
          for (const r of taken) {
            try {
              accepted.push([r, await accept(r.req)]);
            } catch (err) {
              r.reject(err);
            }
          }
          if (accepted.length > 0) {
            await saveNow(current(cp));
            await saving;
            for (const [r, p] of accepted) r.resolve(p ?? this.incremental.find((x) => x.id === r.req.id)!);
          }
        }
        if (!pending && this.incremental.length > 0 && cp && queuedRows < high / 2 && Date.now() >= chunkRetryAt) {
          const first = this.incremental[0]!;
          try {
            pending = await readChunk(await db(), first, chunkRows, (h) => ({ file: h.file, pos: h.pos, gtid: reader.position?.gtid ?? '' }));
            chunkFailures = 0;
            if (!pending) {
              this.incremental.shift();
              await saveNow(current(cp));
            }
          } catch (err) {
            await chunkFailed(first, err);
          }
          continue;
        }
        if (queue.length === 0) {
          let due = false;
          try {
            due = pending !== undefined && await chunkReached(pending);
          } catch (err) {
            // The stream goes on; the chunk goes out before the next transaction after its watermark.
            logger.warn({ source: this.id, err: errorMessage(err) }, 'snapshot: cannot ask the server for its position; waiting for the stream');
            await dropDb();
          }
          if (due) {
            await emitChunk(pending!);
            continue;
          }
          await saving;
          if (unsaved && Date.now() - savedAt >= IDLE_CHECKPOINT_MS) {
            await this.save(unsaved);
            cp = unsaved;
            unsaved = undefined;
            savedAt = Date.now();
          }
          reportLag();
          await new Promise<void>((resolve) => {
            // Checked again here, synchronously: a transaction that arrived during the awaits above poked nobody.
            if (queue.length > 0 || readerDone || signal.aborted || (!cp && resolvedStart) || (this.requests.length > 0 && cp)) {
              resolve();
              return;
            }
            const timer = setTimeout(poke, pending ? 50 : unsaved ? IDLE_CHECKPOINT_MS : 5_000);
            wake = () => {
              clearTimeout(timer);
              resolve();
            };
          });
          continue;
        }
        const taken: Transaction[] = [];
        let rows: ChangeRow[] = [];
        const signals: ChangeRow[] = [];
        while (queue.length > 0 && (taken.length === 0 || rows.length + queue[0]!.rows.length <= maxRows)) {
          // A chunk waiting for its high watermark goes out before the first transaction after it.
          if (pending && comparePoints(queue[0]!.end, pending.high) > 0) break;
          const t = queue.shift()!;
          taken.push(t);
          queuedRows -= t.rows.length;
          if (pending && comparePoints(t.end, pending.low) > 0) dropChanged(pending, t.rows);
          let tRows = t.rows;
          if (signalTable && tRows.some((r) => `${r.schema}.${r.table}` === signalTable)) {
            for (const r of tRows) if (`${r.schema}.${r.table}` === signalTable && r.op === 'c') signals.push(r);
            tRows = tRows.filter((r) => `${r.schema}.${r.table}` !== signalTable);
          }
          // Appended in place: concat would copy the batch once per transaction, quadratic for single-row ones.
          if (taken.length === 1) rows = tRows;
          else {
            if (taken.length === 2) rows = rows.slice();
            for (const r of tRows) rows.push(r);
          }
        }
        if (taken.length === 0) {
          await emitChunk(pending!);
          continue;
        }
        inFlightTs = taken[0]!.tsMs;
        await this.handOff(handle, rows);
        inFlightTs = undefined;
        for (const sg of signals) await this.signal(sg, accept);
        const last = taken[taken.length - 1]!;
        const next: Checkpoint = { source: this.id, file: last.end.file, pos: last.end.pos, gtid: last.end.gtid, ts_ms: last.tsMs, updated_at: new Date().toISOString(), ...extra() };
        if (rows.length > 0 || signals.length > 0 || Date.now() - savedAt >= IDLE_CHECKPOINT_MS) {
          // The checkpoint of this batch is written while the next batch is processed (as the kafka source
          // commits offsets): in order, one at a time, and always after its own batch's hand-off resolved.
          await saveNow(next);
        } else {
          unsaved = next;
        }
        reportLag();
        if (queuedRows < high / 2) reader.resume();
      }
    } finally {
      this.streaming = false;
      this.wakeStream = undefined;
      for (const r of this.requests.splice(0)) r.reject(new KisError('KIS_ERR_REPAIR_REQUEST', `source '${this.id}': the source stopped before taking the snapshot request`));
      clearInterval(probeTimer);
      ended = true;
      signal.removeEventListener('abort', onAbort);
      readerAbort.abort();
      await readerRun;
      this.reader = undefined;
      await sql?.end().catch(() => undefined);
      if (!probing) await probeConn?.end().catch(() => undefined);
      const lastSave = await saving.then(() => true, () => false);
      if (unsaved && lastSave) await this.save(current(unsaved)).catch(() => undefined);
    }
  }

  /** A row inserted into the signal table: { id, type: 'snapshot', data: '{"tables": [...], "where": "..."}' }. */
  private async signal(row: ChangeRow, accept: (req: SnapshotRequest) => Promise<IncrementalProgress | undefined>): Promise<void> {
    const a = row.after ?? {};
    const id = a['id'] === undefined || a['id'] === null ? undefined : String(a['id']);
    const type = String(a['type'] ?? '');
    try {
      if (type !== 'snapshot' && type !== 'execute-snapshot') throw new KisError('KIS_ERR_REPAIR_REQUEST', `unknown signal type '${type}' (expected snapshot)`);
      const raw = a['data'];
      const data = (typeof raw === 'string' ? JSON.parse(raw) : raw ?? {}) as { tables?: unknown; 'data-collections'?: unknown; where?: unknown };
      const tables = data.tables ?? data['data-collections'];
      if (!Array.isArray(tables) || !tables.every((x) => typeof x === 'string')) throw new KisError('KIS_ERR_REPAIR_REQUEST', 'expected data {"tables": ["schema.table", ...], "where": "..."}');
      if (data.where !== undefined && typeof data.where !== 'string') throw new KisError('KIS_ERR_REPAIR_REQUEST', 'expected where to be a string');
      await accept({ tables, ...(typeof data.where === 'string' ? { where: data.where } : {}), ...(id !== undefined ? { id } : {}) });
    } catch (err) {
      // A bad signal is the requester's mistake: logged and counted nowhere else; the stream goes on.
      this.opts.logger.error({ source: this.id, signal: id, type, err: errorMessage(err) }, 'snapshot signal refused');
    }
  }
}
