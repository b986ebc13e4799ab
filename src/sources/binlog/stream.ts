// The binlog stream of a source, one run: the reader (reader.ts) queues whole transactions; this loop takes
// them in batches of up to max_batch_rows (a transaction is never split), hands each batch on, and writes its
// checkpoint only after the hand-off resolved, while the next batch is processed. Re-snapshot chunks are
// interleaved (resnapshots.ts), signal-table rows taken out, and the lag reported.
import type { ConnectionOptions } from 'mysql2';
import type { Logger } from 'pino';
import type { BinlogSourceParamsT } from '../../config/codecs.js';
import { errorMessage, KisError } from '../../kernel/errors.js';
import type { SourceObserver } from '../../core/source.js';
import type { Checkpoint } from './checkpoint.js';
import { dropChanged, readChunk, type IncrementalProgress, type SnapshotRequest } from './incremental.js';
import { LagProbe } from './lag-probe.js';
import { comparePoints } from './progress.js';
import { BinlogReader, type StartPoint } from './reader.js';
import { Resnapshots } from './resnapshots.js';
import { TableFilter, type BinlogPoint, type ChangeRow, type Transaction } from './rows.js';
import { DEFAULT_BINLOG_BATCH_ROWS, DEFAULT_CONNECT_RETRIES, DEFAULT_SNAPSHOT_CHUNK_ROWS } from './settings.js';
import { signalOf, signalRequest } from './signal.js';

/** A checkpoint that only moves past transactions of other tables is written at most this often. */
const IDLE_CHECKPOINT_MS = 1_000;

/** A re-snapshot request waiting for the loop, from requestSnapshot. */
export interface QueuedRequest {
  readonly req: SnapshotRequest;
  readonly resolve: (p: IncrementalProgress) => void;
  readonly reject: (e: unknown) => void;
}

export interface StreamOptions {
  readonly source: string;
  readonly addr: string;
  readonly params: BinlogSourceParamsT;
  readonly dsn: ConnectionOptions;
  readonly serverId: number;
  readonly filter: TableFilter;
  readonly logger: Logger;
  readonly observer: SourceObserver;
  readonly checkpointWhere: string;
  /** Requests from requestSnapshot; the loop takes them out. */
  readonly requests: QueuedRequest[];
  readonly handOff: (rows: readonly ChangeRow[]) => Promise<void>;
  readonly save: (cp: Checkpoint) => Promise<void>;
}

export class BinlogStream {
  readonly reader: BinlogReader;
  readonly resnapshots: Resnapshots;
  /** True while the loop runs and takes re-snapshot requests. */
  streaming = false;
  private readonly maxRows: number;
  private readonly chunkRows: number;
  private readonly high: number;
  private readonly queue: Transaction[] = [];
  private queuedRows = 0;
  private wake: (() => void) | undefined;
  private resolvedStart: BinlogPoint | undefined;
  private cp: Checkpoint | undefined;
  private unsaved: Checkpoint | undefined;
  private savedAt = 0;
  private saving: Promise<void> = Promise.resolve();
  private inFlightTs: number | undefined;
  // A finished snapshot stays on record in every later checkpoint (what it read, when the stream took over).
  private readonly snapshotDone: Partial<Checkpoint>;

  constructor(private readonly o: StreamOptions, initial: Checkpoint | undefined) {
    const { params } = o;
    this.maxRows = params.max_batch_rows ?? DEFAULT_BINLOG_BATCH_ROWS;
    this.chunkRows = params.snapshot_chunk_rows ?? DEFAULT_SNAPSHOT_CHUNK_ROWS;
    this.high = Math.max(10 * this.maxRows, 5_000);
    this.cp = initial;
    this.snapshotDone = initial?.snapshot ? { snapshot: initial.snapshot } : {};
    this.resnapshots = new Resnapshots({ source: o.source, dsn: o.dsn, filter: o.filter, logger: o.logger, observer: o.observer, handOff: o.handOff }, initial?.incremental ?? []);
    // The reader also reads the signal table; its rows are taken out before the hand-off.
    const signalTable = params.signal_table;
    const readerFilter = signalTable ? new TableFilter([...params.tables, signalTable], params.exclude ?? []) : o.filter;
    this.reader = new BinlogReader({
      source: o.source,
      addr: o.addr,
      dsn: o.dsn,
      serverId: o.serverId,
      filter: readerFilter,
      logger: o.logger,
      retries: params.connect_retries ?? DEFAULT_CONNECT_RETRIES,
      checkpointWhere: o.checkpointWhere,
      onTransaction: (t) => {
        this.queue.push(t);
        this.queuedRows += t.rows.length;
        if (this.queuedRows > this.high) this.reader.pause();
        this.poke();
      },
      onResolvedStart: (p) => {
        this.resolvedStart = p;
        this.poke();
      },
      onGtidResume: () => o.observer.binlogRepair?.(o.source, 'gtid_resume', 0),
    });
  }

  /** Wakes the loop: a transaction, a request or the end arrived. */
  readonly poke = (): void => {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  };

  /** Streams from `start` until `signal` aborts or the reader ends; throws the reader's error. */
  async run(start: StartPoint, signal: AbortSignal): Promise<void> {
    const { o, reader } = this;
    const readerAbort = new AbortController();
    let readerError: unknown;
    let readerDone = false;
    const readerRun = reader.run(start, readerAbort.signal, this.cp?.gtid ?? '').then(
      () => { readerDone = true; this.poke(); },
      (err: unknown) => { readerError = err; readerDone = true; this.poke(); },
    );
    const onAbort = (): void => this.poke();
    signal.addEventListener('abort', onAbort);
    // Lag: probed against the server every second, besides what waits in the queue (see progress.ts).
    const probe = new LagProbe(o.dsn, () => reader.position, () => this.reportLag(probe));
    this.streaming = true;
    try {
      while (!signal.aborted) {
        if (readerError) throw readerError;
        if (readerDone) return;
        if (!this.cp && this.resolvedStart) {
          // A start at the end of the binlog is pinned at once: a crash before the first change must not skip what follows.
          this.cp = { source: o.source, ...this.resolvedStart, ts_ms: 0, updated_at: new Date().toISOString() };
          await o.save(this.cp);
          this.savedAt = Date.now();
        }
        if (o.requests.length > 0 && this.cp) await this.takeRequests(this.cp);
        if (this.cp && this.queuedRows < this.high / 2 && this.resnapshots.readable(Date.now())) {
          await this.readChunk(this.cp);
          continue;
        }
        if (this.queue.length === 0) {
          if (await this.chunkDue()) {
            await this.emitChunk();
            continue;
          }
          await this.idle(probe, () => readerDone || signal.aborted);
          continue;
        }
        await this.batch(probe);
      }
    } finally {
      this.streaming = false;
      for (const r of o.requests.splice(0)) r.reject(new KisError('KIS_ERR_REPAIR_REQUEST', `source '${o.source}': the source stopped before taking the snapshot request`));
      probe.stop();
      signal.removeEventListener('abort', onAbort);
      readerAbort.abort();
      await readerRun;
      await this.resnapshots.dropDb();
      await probe.close();
      const lastSave = await this.saving.then(() => true, () => false);
      if (this.unsaved && lastSave) await o.save(this.current(this.unsaved)).catch(() => undefined);
    }
  }

  private reportLag(probe: LagProbe): void {
    probe.lag.advance(this.reader.position);
    this.o.observer.binlogLag?.(this.o.source, probe.lag.seconds(Date.now(), this.inFlightTs ?? this.queue[0]?.tsMs), this.queue.length);
  }

  private extra(): Partial<Checkpoint> {
    const list = this.resnapshots.list;
    return { ...this.snapshotDone, ...(list.length > 0 ? { incremental: [...list] } : {}) };
  }

  /** A checkpoint at the same position with the re-snapshot progress of now. */
  private current(c: Checkpoint): Checkpoint {
    const { incremental: _old, ...base } = c;
    return { ...base, ...this.extra(), updated_at: new Date().toISOString() };
  }

  private async saveNow(next: Checkpoint): Promise<void> {
    await this.saving;
    this.saving = this.o.save(next);
    this.saving.catch(() => undefined); // awaited before the next write or at the end; never unhandled meanwhile
    this.cp = next;
    this.unsaved = undefined;
    this.savedAt = Date.now();
  }

  /** Requests from requestSnapshot, accepted and checkpointed before their callers hear back. */
  private async takeRequests(cp: Checkpoint): Promise<void> {
    const taken = this.o.requests.splice(0);
    const accepted: Array<[QueuedRequest, IncrementalProgress | undefined]> = [];
    for (const r of taken) {
      try {
        accepted.push([r, await this.resnapshots.accept(r.req)]);
      } catch (err) {
        r.reject(err);
      }
    }
    if (accepted.length > 0) {
      await this.saveNow(this.current(cp));
      await this.saving;
      for (const [r, p] of accepted) r.resolve(p ?? this.resnapshots.list.find((x) => x.id === r.req.id)!);
    }
  }

  private async readChunk(cp: Checkpoint): Promise<void> {
    const first = this.resnapshots.list[0]!;
    try {
      const chunk = await readChunk(await this.resnapshots.db(), first, this.chunkRows, (h) => ({ file: h.file, pos: h.pos, gtid: this.reader.position?.gtid ?? '' }));
      this.resnapshots.read(chunk);
      if (!chunk) await this.saveNow(this.current(cp));
    } catch (err) {
      if (await this.resnapshots.failed(first, err)) await this.saveNow(this.current(cp));
    }
  }

  /** With nothing queued: a waiting chunk whose high watermark the reader has passed goes out now. */
  private async chunkDue(): Promise<boolean> {
    const pending = this.resnapshots.pending;
    if (!pending) return false;
    try {
      return await this.resnapshots.reached(pending, this.reader.position, () => this.queue.length === 0);
    } catch (err) {
      // The stream goes on; the chunk goes out before the next transaction after its watermark.
      this.o.logger.warn({ source: this.o.source, err: errorMessage(err) }, 'snapshot: cannot ask the server for its position; waiting for the stream');
      await this.resnapshots.dropDb();
      return false;
    }
  }

  private async emitChunk(): Promise<void> {
    await this.resnapshots.emit(this.resnapshots.pending!);
    if (this.cp) await this.saveNow(this.current(this.cp));
  }

  /** Nothing queued: write a held-back checkpoint when due, report the lag, and wait for a poke or a timer. */
  private async idle(probe: LagProbe, ended: () => boolean): Promise<void> {
    await this.saving;
    if (this.unsaved && Date.now() - this.savedAt >= IDLE_CHECKPOINT_MS) {
      await this.o.save(this.unsaved);
      this.cp = this.unsaved;
      this.unsaved = undefined;
      this.savedAt = Date.now();
    }
    this.reportLag(probe);
    await new Promise<void>((resolve) => {
      // Checked again here, synchronously: a transaction that arrived during the awaits above poked nobody.
      if (this.queue.length > 0 || ended() || (!this.cp && this.resolvedStart) || (this.o.requests.length > 0 && this.cp)) {
        resolve();
        return;
      }
      const timer = setTimeout(this.poke, this.resnapshots.pending ? 50 : this.unsaved ? IDLE_CHECKPOINT_MS : 5_000);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  /** Takes whole transactions up to max_batch_rows, hands them on, then checkpoints their end. */
  private async batch(probe: LagProbe): Promise<void> {
    const { o, queue } = this;
    const signalTable = o.params.signal_table;
    const pending = this.resnapshots.pending;
    const taken: Transaction[] = [];
    let rows: ChangeRow[] = [];
    const signals: ChangeRow[] = [];
    while (queue.length > 0 && (taken.length === 0 || rows.length + queue[0]!.rows.length <= this.maxRows)) {
      // A chunk waiting for its high watermark goes out before the first transaction after it.
      if (pending && comparePoints(queue[0]!.end, pending.high) > 0) break;
      const t = queue.shift()!;
      taken.push(t);
      this.queuedRows -= t.rows.length;
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
      await this.emitChunk();
      return;
    }
    this.inFlightTs = taken[0]!.tsMs;
    await o.handOff(rows);
    this.inFlightTs = undefined;
    for (const sg of signals) await this.signal(sg);
    const last = taken[taken.length - 1]!;
    const next: Checkpoint = { source: o.source, file: last.end.file, pos: last.end.pos, gtid: last.end.gtid, ts_ms: last.tsMs, updated_at: new Date().toISOString(), ...this.extra() };
    if (rows.length > 0 || signals.length > 0 || Date.now() - this.savedAt >= IDLE_CHECKPOINT_MS) {
      // The checkpoint of this batch is written while the next batch is processed (as the kafka source
      // commits offsets): in order, one at a time, and always after its own batch's hand-off resolved.
      await this.saveNow(next);
    } else {
      this.unsaved = next;
    }
    this.reportLag(probe);
    if (this.queuedRows < this.high / 2) this.reader.resume();
  }

  /** A row inserted into the signal table; a bad one is the requester's mistake: logged, and the stream goes on. */
  private async signal(row: ChangeRow): Promise<void> {
    const { id, type } = signalOf(row);
    try {
      await this.resnapshots.accept(signalRequest(row));
    } catch (err) {
      this.o.logger.error({ source: this.o.source, signal: id, type, err: errorMessage(err) }, 'snapshot signal refused');
    }
  }
}
