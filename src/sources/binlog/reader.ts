// Follows the binlog with zongji and hands on whole transactions. zongji does not reconnect (a lost
// connection or a server restart is a fatal error to it), so each connection is a session: when one fails
// with an error worth retrying, a new zongji starts, with backoff (p-retry), at the end of the last whole
// transaction received. Errors that retrying cannot fix (credentials, grants, a purged position, events
// zongji cannot decode) stop the source with a message that says what to do.
import ZongJi, { type AnyBinlogEvent, type ZongJiOptions } from '@vlasky/zongji';
import type { ConnectionOptions } from 'mysql2';
import pRetry from 'p-retry';
import type { Logger } from 'pino';
import { errorMessage, hasCode, isKisError, KisError } from '../../kernel/errors.js';
import { BINLOG_EVENTS, eventNameOf, GtidTracker, TransactionAssembler, UNDECODABLE, type BinlogPoint, type TableFilter, type Transaction } from './rows.js';

export type StartPoint =
  | { readonly kind: 'end' }
  | { readonly kind: 'pos'; readonly file: string; readonly pos: number }
  | { readonly kind: 'gtid'; readonly set: string };

export function describeStart(s: StartPoint): string {
  if (s.kind === 'end') return 'the end of the binlog';
  if (s.kind === 'pos') return `${s.file}:${s.pos}`;
  return `GTID ${s.set}`;
}

export const REQUIRED_GRANTS = 'REPLICATION SLAVE, REPLICATION CLIENT (MariaDB 10.5+: BINLOG MONITOR) and, for snapshot: initial, SELECT on the tables';

export interface ErrorContext {
  readonly source: string;
  readonly addr: string;
  readonly user: string;
  readonly from: StartPoint;
  /** Where the checkpoint is kept (the remedy for a purged position names it). */
  readonly checkpoint: string;
}

/** Turns a zongji / mysql2 error into a KisError: retriable for connection trouble, not for what retrying cannot fix. */
export function classifyBinlogError(err: unknown, c: ErrorContext): KisError {
  if (isKisError(err)) return err;
  const e = err as Error & { errno?: number; code?: string };
  const msg = errorMessage(err);
  const context = { source: c.source, errno: e.errno, code: e.code };
  if (e.errno === 1045) {
    return new KisError('KIS_ERR_BINLOG_ACCESS',
      `source '${c.source}': ${c.addr} refused the login of '${c.user}' (${msg}). Check user and password; the user needs ${REQUIRED_GRANTS}: ` +
      `GRANT REPLICATION SLAVE, REPLICATION CLIENT, SELECT ON *.* TO '${c.user}'@'%'`, { cause: err, context });
  }
  if (e.errno === 1227 || e.errno === 1044 || e.errno === 1142 || e.errno === 1143) {
    return new KisError('KIS_ERR_BINLOG_ACCESS',
      `source '${c.source}': user '${c.user}' on ${c.addr} lacks a privilege (${msg}). The binlog source needs ${REQUIRED_GRANTS}: ` +
      `GRANT REPLICATION SLAVE, REPLICATION CLIENT, SELECT ON *.* TO '${c.user}'@'%'`, { cause: err, context });
  }
  if (e.errno === 4052 || /same server_uuid\/server_id/.test(msg)) {
    return new KisError('KIS_ERR_SOURCE',
      `source '${c.source}': another replica reader with the same server_id is connected to ${c.addr} (${msg}); set a unique params.server_id`,
      { cause: err, context, retriable: true });
  }
  if (e.errno === 1236) {
    return new KisError('KIS_ERR_BINLOG_POSITION',
      `source '${c.source}': ${c.addr} cannot serve the binlog from ${describeStart(c.from)} (${msg}); the files were probably purged ` +
      `(binlog_expire_logs_seconds / expire_logs_days) while the source was behind or stopped. Changes after that position are lost to this ` +
      `source. To go on: set on_position_lost: resnapshot (the source re-reads its tables and goes on by itself), or delete the checkpoint ` +
      `(${c.checkpoint}) and re-read the tables with snapshot: initial, or set start to a position the server still has (SHOW BINARY LOGS) ` +
      'and delete the checkpoint.', { cause: err, context });
  }
  if (Object.keys(UNDECODABLE).some((k) => msg.toUpperCase().includes(k === 'transactionpayload' ? 'TRANSACTION_PAYLOAD_EVENT' : 'PARTIAL_UPDATE_ROWS_EVENT'))) {
    return new KisError('KIS_ERR_BINLOG_UNDECODABLE', `source '${c.source}': ${msg} The source stops rather than skip those changes.`, { cause: err, context });
  }
  if (/^Invalid MariaDB GTID|GTID set/.test(msg)) {
    return new KisError('KIS_ERR_BINLOG_POSITION', `source '${c.source}': cannot start at ${describeStart(c.from)}: ${msg}`, { cause: err, context });
  }
  return new KisError('KIS_ERR_SOURCE', `source '${c.source}': binlog connection to ${c.addr} failed: ${msg}`, { cause: err, context, retriable: true });
}

export interface ReaderOptions {
  readonly source: string;
  readonly addr: string;
  readonly dsn: ConnectionOptions;
  readonly serverId: number;
  readonly filter: TableFilter;
  readonly logger: Logger;
  /** Reconnect attempts after a failure before the source fails. */
  readonly retries: number;
  readonly checkpointWhere: string;
  /** Every whole transaction, in binlog order. */
  readonly onTransaction: (t: Transaction) => void;
  /** The exact position a start at the end of the binlog resolved to (so that it can be checkpointed at once). */
  readonly onResolvedStart?: (p: BinlogPoint) => void;
  /** The start position was gone from the server and the reader resumed by the GTID position that goes with it. */
  readonly onGtidResume?: (from: string, gtid: string) => void;
}

interface Session {
  readonly zj: ZongJi;
  /** Resolves with the error that ended the session, or undefined when the source stops. */
  readonly ended: Promise<KisError | undefined>;
}

const STOP_WAIT_MS = 5_000;

async function stopZongji(zj: ZongJi): Promise<void> {
  if (zj.stopped) return;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, STOP_WAIT_MS);
    zj.once('stopped', () => {
      clearTimeout(timer);
      resolve();
    });
    try {
      zj.stop();
    } catch {
      clearTimeout(timer);
      resolve();
    }
  });
}

export class BinlogReader {
  /** The end of the last whole transaction received: where a new session starts. */
  private last: BinlogPoint | undefined;
  private current: ZongJi | undefined;
  private paused = false;
  /** The GTID position at the start point ('' when unknown: zongji's own is used once it has one). */
  private seed = '';
  private gtidResumed: (() => void) | undefined;

  constructor(private readonly opts: ReaderOptions) {}

  get position(): BinlogPoint | undefined {
    return this.last;
  }

  get connected(): boolean {
    return this.current !== undefined;
  }

  /** Stops reading from the socket (back-pressure); the server holds the rest. */
  pause(): void {
    this.paused = true;
    this.current?.connection?.pause();
  }

  resume(): void {
    // Called after every batch: the socket is only touched when it was paused.
    if (!this.paused) return;
    this.paused = false;
    this.current?.connection?.resume();
  }

  /** Reads from `start` until `signal` aborts (resolves) or an error that retrying cannot fix (rejects). */
  async run(start: StartPoint, signal: AbortSignal, gtidSeed = ''): Promise<void> {
    const { logger, source } = this.opts;
    let from = start;
    this.seed = start.kind === 'gtid' ? start.set : gtidSeed;
    if (start.kind === 'pos' && !this.last) this.last = { file: start.file, pos: start.pos, gtid: gtidSeed };
    // A file:pos the server no longer has, with a GTID position that goes with it: resume by the GTID (once);
    // the server finds the transactions after it in the files it still has, or says that they are gone.
    let fellBack: { from: StartPoint; gtid: string } | undefined;
    /** After a failed GTID resume, the error names the checkpointed file:pos too (that is what was lost). */
    const lost = (k: KisError): KisError => {
      if (!fellBack || !hasCode(k, 'KIS_ERR_BINLOG_POSITION')) return k;
      const first = classifyBinlogError(k.cause ?? k, this.context(fellBack.from));
      return new KisError('KIS_ERR_BINLOG_POSITION', `${first.message} Resuming by the GTID position ${fellBack.gtid} that goes with it failed too (${errorMessage(k.cause ?? k)}).`, { cause: k.cause ?? k, ...(first.context ? { context: first.context } : {}) });
    };
    const byGtid = (k: KisError): boolean => {
      const gtid = this.last?.gtid || this.seed;
      if (!hasCode(k, 'KIS_ERR_BINLOG_POSITION') || from.kind !== 'pos' || gtid === '') return false;
      fellBack = { from, gtid };
      logger.warn({ source, from: describeStart(from), gtid }, 'binlog: the checkpointed file is gone from the server; resuming by its GTID position');
      const was = describeStart(from);
      // Counted once the server streams from the GTID (its first event), not when it refuses it too.
      this.gtidResumed = () => this.opts.onGtidResume?.(was, gtid);
      from = { kind: 'gtid', set: gtid };
      return true;
    };
    for (;;) {
      if (signal.aborted) return;
      let session: Session;
      try {
        session = await pRetry(() => this.open(from, signal), {
          retries: this.opts.retries,
          minTimeout: 250,
          maxTimeout: 10_000,
          factor: 2,
          signal,
          shouldRetry: ({ error }) => isKisError(error) && error.retriable,
          onFailedAttempt: ({ error, attemptNumber, retriesLeft }) => {
            if (isKisError(error) && error.retriable && retriesLeft > 0) {
              logger.warn({ source, attempt: attemptNumber, retriesLeft, from: describeStart(from), err: error.message }, 'binlog connection failed; retrying');
            }
          },
        });
      } catch (err) {
        if (signal.aborted) return;
        const k = classifyBinlogError(err, this.context(from));
        if (byGtid(k)) continue;
        if (k.retriable) {
          throw new KisError('KIS_ERR_SOURCE', `${k.message} (gave up after ${this.opts.retries + 1} attempts)`, { cause: err, context: { ...k.context, attempts: this.opts.retries + 1 } });
        }
        throw lost(k);
      }
      this.current = session.zj;
      if (this.paused) session.zj.connection?.pause();
      logger.info({ source, from: describeStart(from), serverId: this.opts.serverId }, 'binlog reader connected');
      const ended = await session.ended;
      this.current = undefined;
      await stopZongji(session.zj);
      if (ended === undefined) return;
      if (!ended.retriable) {
        if (byGtid(ended)) continue;
        throw lost(ended);
      }
      if (this.last) from = { kind: 'pos', file: this.last.file, pos: this.last.pos };
      logger.warn({ source, err: ended.message, from: describeStart(from) }, 'binlog connection lost; reconnecting');
    }
  }

  private context(from: StartPoint) {
    return { source: this.opts.source, addr: this.opts.addr, user: String(this.opts.dsn.user), from, checkpoint: this.opts.checkpointWhere };
  }

  private open(from: StartPoint, signal: AbortSignal): Promise<Session> {
    const zj = new ZongJi(this.opts.dsn);
    const ctx = this.context(from);
    let endSession: ((e: KisError | undefined) => void) | undefined;
    const ended = new Promise<KisError | undefined>((resolve) => {
      endSession = resolve;
    });
    const onAbort = (): void => endSession?.(undefined);
    signal.addEventListener('abort', onAbort, { once: true });
    void ended.then(() => signal.removeEventListener('abort', onAbort));
    let ready = false;
    let firstRotate = true;
    const gtids = new GtidTracker(this.last?.gtid ?? this.seed);
    const assembler = new TransactionAssembler(this.opts.source, this.opts.filter, gtids, (t) => {
      this.last = t.end;
      this.opts.onTransaction(t);
    });
    return new Promise<Session>((resolve, reject) => {
      const fail = (err: unknown): void => {
        const k = classifyBinlogError(err, ctx);
        if (!ready) {
          ready = true; // one outcome per session
          void stopZongji(zj).then(() => reject(k));
        } else {
          endSession?.(k);
        }
      };
      zj.on('binlog', (e: AnyBinlogEvent) => {
        try {
          const name = eventNameOf(e);
          if (firstRotate && name === 'rotate') {
            firstRotate = false;
            if (from.kind === 'gtid') {
              this.gtidResumed?.();
              this.gtidResumed = undefined;
            }
            const r = e as AnyBinlogEvent & { binlogName: string; position: number };
            if (from.kind === 'end') {
              gtids.seedIfUnknown(zj.gtidSet ?? '');
              // A reconnect before the first transaction resumes here, not at the (then later) end.
              this.last ??= { file: r.binlogName, pos: r.position, gtid: zj.gtidSet ?? '' };
              this.opts.onResolvedStart?.({ file: r.binlogName, pos: r.position, gtid: zj.gtidSet ?? '' });
            }
          }
          assembler.push(e, name);
        } catch (err) {
          fail(err);
        }
      });
      zj.on('error', fail);
      zj.once('ready', () => {
        if (ready) return;
        ready = true;
        if (signal.aborted) {
          void stopZongji(zj).then(() => reject(new Error('stopped')));
          return;
        }
        resolve({ zj, ended });
      });
      const options: ZongJiOptions = { serverId: this.opts.serverId, includeEvents: [...BINLOG_EVENTS] };
      const schemas = this.opts.filter.zongjiIncludeSchema();
      if (schemas) options.includeSchema = schemas;
      if (from.kind === 'end') options.startAtEnd = true;
      else if (from.kind === 'pos') Object.assign(options, { filename: from.file, position: from.pos });
      else options.gtidSet = from.set;
      try {
        zj.start(options);
      } catch (err) {
        fail(err);
      }
    });
  }
}
