// kistype: source, type: binlog — the row changes of MySQL / MariaDB tables. This part decides what runs:
// the election (Kafka mode: one replica reads), the initial snapshot when one is due (initial-snapshot.ts),
// the stream (stream.ts), and the heal of a lost position by a new snapshot. Checkpoints are written only
// after the hand-off of what they cover resolved (at least once, whole transactions).
import type { Kafka } from 'kafkajs';
import type { Logger } from 'pino';
import type { BinlogSourceParamsT } from '../../config/codecs.js';
import { errorMessage, hasCode, isKisError, KisError } from '../../kernel/errors.js';
import { NO_SOURCE_OBSERVER, type BatchHandler, type Source, type SourceObserver } from '../../core/source.js';
import type { Checkpoint, CheckpointStore } from './checkpoint.js';
import { LeaderElection, type Term } from '../../kafka/election.js';
import { handOff } from './hand-off.js';
import { snapshotUnfinished, type IncrementalProgress, type SnapshotRequest } from './incremental.js';
import { initialSnapshot } from './initial-snapshot.js';
import { classifyBinlogError, describeStart, type StartPoint } from './reader.js';
import { TableFilter, type ChangeRow } from './rows.js';
import { DEFAULT_SNAPSHOT_CHUNK_ROWS, parseStart, serverIdOf } from './settings.js';
import { connectionOptions, firstBinlog, mysql } from './sql.js';
import { BinlogStream, type QueuedRequest } from './stream.js';

export { DEFAULT_BINLOG_BATCH_ROWS, DEFAULT_CONNECT_RETRIES, DEFAULT_SNAPSHOT_CHUNK_ROWS, parseStart, serverIdOf } from './settings.js';

export interface BinlogElectionOptions {
  readonly kafka: Kafka;
  readonly groupId: string;
  readonly topic: string;
  /** How long a dead reader keeps the lease (see kafka/election.ts). */
  readonly leaseMs: number;
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

export class BinlogSource implements Source {
  readonly finite = false;
  readonly id: string;
  private readonly observer: SourceObserver;
  private readonly filter: TableFilter;
  private readonly dsn: ReturnType<typeof connectionOptions>;
  private readonly serverId: number;
  private election: LeaderElection | undefined;
  private stream_: BinlogStream | undefined;
  /** The last stream's re-snapshots, kept after it ends (pendingSnapshots). */
  private incremental: readonly IncrementalProgress[] = [];
  private leading = false;
  /** The election term the reader runs under (Kafka mode). */
  private term: Term | undefined;
  private snapshotting = false;
  private readonly requests: QueuedRequest[] = [];

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
          leaseMs: e.leaseMs,
          onChange: (leader) => {
            this.observer.binlogLeader?.(this.id, leader);
            if (leader) this.observer.rebalanced(this.id);
          },
        });
        // A standby reads the checkpoints as they are written, so that taking over waits only for the lease.
        this.opts.store.follow?.();
        await this.election.run((s, term) => this.lead(handle, s, term), signal);
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
    if (this.leading && !this.stream_?.reader.connected) return [`source '${this.id}': not connected to the binlog on ${this.opts.addr} yet`];
    return [];
  }

  /** Reads the binlog (after the snapshot, if one is due) until `signal` aborts. */
  private async lead(handle: BatchHandler, signal: AbortSignal, term?: Term): Promise<void> {
    const { logger, store, params } = this.opts;
    this.leading = true;
    this.term = term;
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
      this.term = undefined;
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
    const stream = this.stream_;
    if (!stream?.streaming) {
      return Promise.reject(new KisError('KIS_ERR_REPAIR_REQUEST',
        `source '${this.id}': this process is not reading the binlog now (another replica is, or it has not started); ` +
        (this.opts.params.signal_table ? `insert the request into ${this.opts.params.signal_table} instead` : 'set params.signal_table to request snapshots from any process')));
    }
    return new Promise<IncrementalProgress>((resolve, reject) => {
      this.requests.push({ req, resolve, reject });
      stream.poke();
    });
  }

  /** The re-snapshots requested and not finished, the first being read (empty when none). */
  get pendingSnapshots(): readonly IncrementalProgress[] {
    return this.stream_?.resnapshots.list ?? this.incremental;
  }

  private async configuredStart(): Promise<StartPoint> {
    const s = parseStart(this.opts.params.start);
    if (s !== 'beginning') return s;
    const conn = await mysql.createConnection({ ...this.dsn }).catch((err: unknown) => {
      throw classifyBinlogError(err, this.errorContext({ kind: 'end' }));
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
    const term = this.term;
    // Fencing at the commit of positions: only under a lease surely held, stamped with its epoch (kafka/election.ts).
    await this.fence(term, 'the checkpoint is left to the next reader');
    try {
      await this.opts.store.save(term ? { ...cp, epoch: term.epoch } : cp);
    } catch (err) {
      throw isKisError(err) ? err : new KisError('KIS_ERR_SOURCE', `source '${this.id}': cannot write the binlog checkpoint to ${this.opts.store.where}: ${errorMessage(err)}`, { cause: err });
    }
    this.observer.committed(this.id, performance.now() - t0);
  }

  private async handOff(handle: BatchHandler, rows: readonly ChangeRow[]): Promise<void> {
    await this.fence(this.term, 'the batch is left to the next reader');
    await handOff(this.id, this.opts.params.partitions ?? 1, handle, rows);
  }

  /** Goes on only under a lease surely held: waits while it is unconfirmed, throws once the term has ended. */
  private async fence(term: Term | undefined, what: string): Promise<void> {
    if (!term || term.holds() || await term.valid()) return;
    throw new KisError('KIS_ERR_SOURCE', `source '${this.id}': the binlog election lease (epoch ${term.epoch}) is no longer held; ${what}`);
  }

  private snapshot(handle: BatchHandler, cp: Checkpoint | undefined, signal: AbortSignal): Promise<Checkpoint | undefined> {
    return initialSnapshot({
      source: this.id,
      dsn: this.dsn,
      filter: this.filter,
      chunkRows: this.opts.params.snapshot_chunk_rows ?? DEFAULT_SNAPSHOT_CHUNK_ROWS,
      logger: this.opts.logger,
      errorContext: this.errorContext({ kind: 'end' }),
      handOff: (rows) => this.handOff(handle, rows),
      save: (c) => this.save(c),
    }, cp, signal);
  }

  private async stream(handle: BatchHandler, start: StartPoint, initial: Checkpoint | undefined, signal: AbortSignal): Promise<void> {
    const stream = new BinlogStream({
      source: this.id,
      addr: this.opts.addr,
      params: this.opts.params,
      dsn: this.dsn,
      serverId: this.serverId,
      filter: this.filter,
      logger: this.opts.logger,
      observer: this.observer,
      checkpointWhere: this.opts.store.where,
      requests: this.requests,
      handOff: (rows) => this.handOff(handle, rows),
      save: (c) => this.save(c),
    }, initial);
    this.stream_ = stream;
    try {
      await stream.run(start, signal);
    } finally {
      this.incremental = stream.resnapshots.list;
      this.stream_ = undefined;
    }
  }
}
