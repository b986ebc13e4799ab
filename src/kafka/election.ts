// One binlog reader per source across replicas, elected by a lease kept in Kafka. Every replica tails the
// one-partition topic <app_id>.<sid>.leader and applies its records in log order (LeaseLog below):
//   claim   {epoch, prev, holder}  accepted only if `prev` is the epoch in force (compare-and-set on the log:
//                                  of two claims racing for the same lease, the first in the log wins)
//   renew   {epoch, holder}        the holder, every lease/10 ms; records of an epoch no longer in force are ignored
//   release {epoch, holder}        a clean stop: the lease is free at once
// A standby claims when it has seen no renewal of the epoch in force for `leaseMs` (its own monotonic clock),
// or when the lease was released; the new term reads from the checkpoint.
//
// Why two replicas never both hand on batches and commit positions for one source (fencing):
// 1. Leases, by elapsed time only (no clock sync; only a bounded drift of clock *rates*). The holder reads
//    its own renewals back from the log; a renewal sent at time s and read back with the holder's epoch still
//    in force makes the term valid until s + leaseMs - leaseMs/10 (`Term.holds`). A claimer starts reading only
//    at (the time it read the last renewal of the previous epoch, which is after s) + leaseMs, however it
//    got its claim accepted (even with a tail that lagged behind the log). So the old holder's validity ends
//    leaseMs/10 before the new term may begin (room for clock rates 10 % apart). A claim of a released lease
//    starts at once: the holder writes its release only after its reader stopped and its last checkpoint
//    was written (a restarted replica does not wait a lease for itself). The source hands a batch
//    on and writes a checkpoint only while `holds()` is true; when it is not (renewals slow or failing: a
//    stalled process, a loaded broker, a partition) it waits (`Term.valid`) until a renewal is confirmed,
//    or stops when the log shows a newer epoch. Waiting rather than stopping keeps a slow replica from
//    reading the same rows again for nothing.
// 2. The epoch at the commit of positions. Every checkpoint carries the term's epoch. Epochs grow
//    (max(epoch in force + 1, wall-clock ms): they keep growing even if this topic is emptied), and a
//    checkpoint load takes the last record of the highest epoch. A process paused between its check and its
//    write (GC, SIGSTOP, a VM freeze) can still land one record, but with an older epoch: no replica resumes
//    from it once the new term has written its first checkpoint, and before that it is a position whose rows
//    were all handed on (at least once either way).
// What is not fenced: the rows of the one batch whose hand-off began while the lease was held and ended
// after it ran out (or a process frozen mid-hand-off) may reach the output after the new term's first rows
// (duplicates, at least once; for those keys possibly out of order). Its checkpoint is never written. Fencing
// those rows too needs the output's producer to be transactional with an id per source, which the brokers
// then fence by producer epoch (the librdkafka mock does not enforce that, so it could not be tested here).
import { randomUUID } from 'node:crypto';
import type { Consumer, Kafka, Producer } from 'kafkajs';
import type { Logger } from 'pino';
import { errorMessage, KisError } from '../kernel/errors.js';

export interface ElectionOptions {
  readonly source: string;
  readonly kafka: Kafka;
  /** Prefix of the tail's consumer group (each replica reads the whole log with a group of its own). */
  readonly groupId: string;
  readonly topic: string;
  readonly logger: Logger;
  /** How long a silent holder keeps the lease; a dead reader is replaced after about this long. */
  readonly leaseMs: number;
  readonly onChange?: (leader: boolean) => void;
}

/** A term of this replica: the epoch stamped on what it commits, and whether the lease is surely still held. */
export interface Term {
  readonly epoch: number;
  holds(): boolean;
  /** Resolves true once `holds()` (at once when it does), false when the term has ended (deposed, stopped). */
  valid(): Promise<boolean>;
}

export interface LeaseRecord {
  readonly kind: 'claim' | 'renew' | 'release';
  readonly holder: string;
  readonly epoch: number;
  /** claim: the epoch it replaces. */
  readonly prev?: number;
  /** renew: when the holder sent it, by its own monotonic clock (it sets the holder's validity on read-back). */
  readonly sent?: number;
}

export function parseLeaseRecord(text: string): LeaseRecord | undefined {
  try {
    const r = JSON.parse(text) as Partial<LeaseRecord>;
    if ((r.kind === 'claim' || r.kind === 'renew' || r.kind === 'release') && typeof r.holder === 'string' && typeof r.epoch === 'number') return r as LeaseRecord;
  } catch {
    // Not a lease record (written by something else): ignored.
  }
  return undefined;
}

/** The lease as the log says it is, applied record by record in log order; times are this process's monotonic clock. */
export class LeaseLog {
  epoch = 0;
  holder: string | undefined;
  /** When the epoch in force was last confirmed (claimed or renewed), as read here. */
  seenAt = 0;
  private known = false;

  /** Applies one record; returns what it did to the lease. */
  apply(r: LeaseRecord, now: number): 'claimed' | 'renewed' | 'released' | 'ignored' {
    // The first record read (older ones removed by retention) is taken as the state in force.
    if (!this.known) {
      this.known = true;
      this.epoch = r.epoch;
      this.holder = r.kind === 'release' ? undefined : r.holder;
      this.seenAt = now;
      return r.kind === 'claim' ? 'claimed' : r.kind === 'renew' ? 'renewed' : 'released';
    }
    if (r.kind === 'claim') {
      if (r.prev !== this.epoch || r.epoch <= this.epoch) return 'ignored';
      this.epoch = r.epoch;
      this.holder = r.holder;
      this.seenAt = now;
      return 'claimed';
    }
    if (r.epoch !== this.epoch || r.holder !== this.holder) return 'ignored';
    if (r.kind === 'release') {
      this.holder = undefined;
      return 'released';
    }
    this.seenAt = now;
    return 'renewed';
  }

  /** Nobody holds the lease, or its holder has been silent for longer than the lease. */
  free(now: number, leaseMs: number): boolean {
    return this.holder === undefined || now - this.seenAt > leaseMs;
  }

  /** The epoch a claim made now should carry: growing in the log, and across an emptied log (wall-clock ms). */
  nextEpoch(wallNow: number): number {
    return Math.max(this.epoch + 1, wallNow);
  }
}

interface Leading {
  readonly term: Term;
  readonly abort: AbortController;
  /** The term's reader, ended (set once it is chained after the previous term). */
  done: Promise<void>;
  /** Deposed: what the reader could not finish is the next term's, not a failure. */
  lost: boolean;
}

/** Runs `lead` while this replica holds the lease; a lead that fails fails the election. */
export class LeaderElection {
  private readonly me = randomUUID();
  private log = new LeaseLog();
  private readonly renewMs: number;
  private readonly guardMs: number;
  private producer: Producer | undefined;
  private tail: Consumer | undefined;
  /** Offset of the next record to apply, and the log's end when we started (joined once read up to it). */
  private applied = 0;
  private startEnd = 0;
  private joined = false;
  private claim: { epoch: number; offset: number; prevSeenAt: number; sentAt: number } | undefined;
  /** A claim accepted, waiting for the previous holder's lease to have surely run out. */
  private accepted: { epoch: number; startAt: number; validFrom: number } | undefined;
  private term: { epoch: number; validUntil: number } | undefined;
  private leading: Leading | undefined;
  private chain: Promise<void> = Promise.resolve();
  private lastRenew = 0;
  private renewing = false;
  private waiters: Array<(ok: boolean) => void> = [];
  private lapsed = false;
  private failure: ((err: unknown) => void) | undefined;
  private lead: ((signal: AbortSignal, term: Term) => Promise<void>) | undefined;
  private shownHolder: string | undefined | null = null;

  constructor(private readonly opts: ElectionOptions) {
    // Renewed ten times a lease: a reader stalled (GC, a loaded machine) for most of a second keeps it.
    this.renewMs = Math.max(50, Math.floor(opts.leaseMs / 10));
    this.guardMs = Math.floor(opts.leaseMs / 10);
  }

  get isLeader(): boolean {
    return this.leading !== undefined;
  }

  get hasJoined(): boolean {
    return this.joined;
  }

  async run(lead: (signal: AbortSignal, term: Term) => Promise<void>, signal: AbortSignal): Promise<void> {
    this.lead = lead;
    const failed = new Promise<never>((_, reject) => {
      this.failure = reject;
    });
    failed.catch(() => undefined);
    const stopped = new Promise<void>((resolve) => {
      if (signal.aborted) resolve();
      else signal.addEventListener('abort', () => resolve(), { once: true });
    });
    while (!signal.aborted) {
      const crashed = await this.member(failed, stopped);
      if (!crashed) break;
      // The tail died for good (the librdkafka mock answers some SyncGroups with INVALID_REQUEST): read the log again.
      this.opts.logger.warn({ source: this.opts.source, topic: this.opts.topic, err: errorMessage(crashed) }, 'binlog election: the lease log reader crashed; reading it again');
      await new Promise((r) => setTimeout(r, 1_000));
    }
  }

  /** One pass: a producer and a tail of the lease log; resolves with the crash that ended it, or undefined when the source stops. */
  private async member(failed: Promise<never>, stopped: Promise<void>): Promise<unknown> {
    const { kafka, topic, source, logger, groupId } = this.opts;
    let crashedWith: ((err: unknown) => void) | undefined;
    const crash = new Promise<unknown>((resolve) => { crashedWith = resolve; });
    let ticker: NodeJS.Timeout | undefined;
    this.log = new LeaseLog();
    this.applied = 0;
    this.claim = undefined;
    this.accepted = undefined;
    this.shownHolder = null;
    try {
      try {
        await this.ensureTopic();
        this.producer = kafka.producer({ allowAutoTopicCreation: true });
        await this.producer.connect();
        this.startEnd = await this.logEnd();
        const tail = kafka.consumer({ groupId: `${groupId}.tail.${this.me}`, maxWaitTimeInMs: 100, allowAutoTopicCreation: true });
        this.tail = tail;
        tail.on(tail.events.CRASH, (e) => {
          const { error, restart } = e.payload as { error: Error; restart: boolean };
          if (!restart) crashedWith?.(error);
        });
        await tail.connect();
        await tail.subscribe({ topics: [topic], fromBeginning: true });
        await tail.run({
          autoCommit: false,
          eachMessage: async ({ message }) => {
            const r = message.value ? parseLeaseRecord(message.value.toString('utf8')) : undefined;
            if (r && (message.key === null || message.key.toString('utf8') === source)) this.applyRecord(r, performance.now());
            this.applied = Number(message.offset) + 1;
            this.step();
          },
        });
      } catch (err) {
        throw new KisError('KIS_ERR_SOURCE', `source '${source}': cannot join the binlog election on ${topic}: ${errorMessage(err)}`, { cause: err });
      }
      ticker = setInterval(() => this.step(), Math.max(20, Math.floor(this.opts.leaseMs / 15)));
      this.step();
      return await Promise.race([stopped.then(() => undefined), crash, failed]);
    } finally {
      if (ticker) clearInterval(ticker);
      const was = this.term;
      // The term stays valid while the reader stops: its last checkpoint is written under it.
      await this.stopLeading();
      this.term = undefined;
      // A clean stop gives the lease up at once (after the last checkpoint of the term was written).
      if (was && this.producer && this.log.holder === this.me && this.log.epoch === was.epoch) {
        await this.send({ kind: 'release', holder: this.me, epoch: was.epoch }).catch((err: unknown) => logger.warn({ source, err: errorMessage(err) }, 'binlog election: could not release the lease; the next reader waits for it to run out'));
      }
      await this.tail?.disconnect().catch(() => undefined);
      await this.producer?.disconnect().catch(() => undefined);
      this.tail = undefined;
      this.producer = undefined;
      this.joined = false;
    }
  }

  private applyRecord(r: LeaseRecord, now: number): void {
    const claim = this.claim;
    const prevSeenAt = this.log.seenAt;
    const released = this.log.holder === undefined;
    const what = this.log.apply(r, now);
    if (what === 'renewed' && r.holder === this.me && this.term && r.epoch === this.term.epoch && typeof r.sent === 'number') {
      // Our own renewal read back with our epoch still in force: the term is valid a lease after it was sent, less the guard.
      this.term.validUntil = Math.max(this.term.validUntil, r.sent + this.opts.leaseMs - this.guardMs);
    }
    if (what === 'claimed' && claim && r.holder === this.me && r.epoch === claim.epoch) {
      this.claim = undefined;
      // The previous holder may still think it holds the lease until a lease after its last renewal we read,
      // unless it released it (after its reader had stopped).
      this.accepted = { epoch: r.epoch, startAt: released ? now : Math.max(now, prevSeenAt + this.opts.leaseMs), validFrom: claim.sentAt };
    }
  }

  /** One step of the lease: join, claim, start or stop reading, renew. Runs on every record and on a timer. */
  private step(): void {
    const now = performance.now();
    const { source, logger, groupId } = this.opts;
    if (!this.joined) {
      if (this.applied < this.startEnd) return;
      this.joined = true;
    }
    if (this.claim && this.applied > this.claim.offset) this.claim = undefined; // read back, and another claim came first
    const term = this.term;
    if (term) {
      if (this.log.epoch !== term.epoch || this.log.holder !== this.me) {
        if (this.leading) this.leading.lost = true;
        logger.warn({ source, group: groupId, epoch: term.epoch }, 'binlog election: another replica took the lease; the reader stops');
        this.term = undefined;
        this.wakeWaiters(false);
        void this.stopLeading();
      } else {
        if (!this.renewing && now - this.lastRenew >= this.renewMs) this.renew(term.epoch);
        if (now < term.validUntil) {
          if (this.lapsed) logger.info({ source, group: groupId, epoch: term.epoch }, 'binlog election: the lease is confirmed again; the reader goes on');
          this.lapsed = false;
          this.wakeWaiters(true);
        } else if (!this.lapsed) {
          this.lapsed = true;
          logger.warn({ source, group: groupId, epoch: term.epoch }, 'binlog election: the lease is not confirmed in time; the reader holds its next batch until it is');
        }
      }
    } else if (this.accepted) {
      const a = this.accepted;
      if (this.log.epoch !== a.epoch || this.log.holder !== this.me) {
        this.accepted = undefined;
      } else if (now >= a.startAt) {
        this.accepted = undefined;
        this.term = { epoch: a.epoch, validUntil: a.validFrom + this.opts.leaseMs - this.guardMs };
        // Renewed at once: the claim's own validity may be nearly used up by the wait for the previous lease.
        this.renew(a.epoch);
        this.startLeading(a.epoch);
      } else if (this.log.holder !== undefined && !this.renewing && now - this.lastRenew >= this.renewMs) {
        this.renew(a.epoch);
      }
    } else if (!this.claim && !this.leading && this.log.free(now, this.opts.leaseMs)) {
      this.claimLease(now);
    }
    this.show();
  }

  private wakeWaiters(ok: boolean): void {
    const w = this.waiters;
    if (w.length === 0) return;
    this.waiters = [];
    for (const resolve of w) resolve(ok);
  }

  /** Logs who reads whenever that changes, as this replica sees it. */
  private show(): void {
    const holder = this.term ? this.me : this.log.holder;
    if (holder === this.shownHolder || holder === undefined || (holder === this.me && !this.term)) return;
    this.shownHolder = holder;
    const mine = holder === this.me;
    this.opts.logger.info({ source: this.opts.source, group: this.opts.groupId, leader: mine, epoch: this.log.epoch },
      mine ? 'binlog election: this replica reads the binlog' : 'binlog election: another replica reads the binlog');
  }

  private claimLease(now: number): void {
    const epoch = this.log.nextEpoch(Date.now());
    const prev = this.log.epoch;
    const pending = { epoch, offset: Number.MAX_SAFE_INTEGER, prevSeenAt: this.log.seenAt, sentAt: now };
    this.claim = pending;
    this.send({ kind: 'claim', holder: this.me, epoch, prev }).then((offset) => {
      pending.offset = offset;
      // Read back and not ours (another claim came first): free to try again when the lease is free.
      if (this.claim === pending && this.applied > offset) this.claim = undefined;
    }, (err: unknown) => {
      if (this.claim === pending) this.claim = undefined;
      this.opts.logger.warn({ source: this.opts.source, err: errorMessage(err) }, 'binlog election: could not claim the lease; trying again');
    });
  }

  private renew(epoch: number): void {
    this.renewing = true;
    const sent = performance.now();
    this.lastRenew = sent;
    this.send({ kind: 'renew', holder: this.me, epoch, sent }).catch((err: unknown) => {
      this.opts.logger.warn({ source: this.opts.source, err: errorMessage(err) }, 'binlog election: lease renewal failed');
    }).finally(() => {
      this.renewing = false;
    });
  }

  /** Appends a record (acks all); resolves with its offset. */
  private async send(r: LeaseRecord): Promise<number> {
    const [meta] = await this.producer!.send({ topic: this.opts.topic, acks: -1, messages: [{ key: this.opts.source, value: JSON.stringify(r) }] });
    return Number(meta?.baseOffset ?? -1);
  }

  private async logEnd(): Promise<number> {
    const admin = this.opts.kafka.admin();
    try {
      await admin.connect();
      const offsets = await admin.fetchTopicOffsets(this.opts.topic);
      return Number(offsets.find((o) => o.partition === 0)?.high ?? 0);
    } catch {
      return 0;
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }

  /** One partition where the cluster lets us create topics; elsewhere auto-creation (only partition 0 is used). */
  private async ensureTopic(): Promise<void> {
    const admin = this.opts.kafka.admin();
    try {
      await admin.connect();
      if (!(await admin.listTopics()).includes(this.opts.topic)) {
        // Old records are only history: an hour is kept (segments roll every 10 minutes so that it is removed).
        await admin.createTopics({ waitForLeaders: true, topics: [{ topic: this.opts.topic, numPartitions: 1, configEntries: [{ name: 'retention.ms', value: '3600000' }, { name: 'segment.ms', value: '600000' }] }] })
          .catch((err: unknown) => this.opts.logger.debug({ topic: this.opts.topic, err: errorMessage(err) }, 'binlog election topic not created (auto-creation will)'));
      }
    } catch (err) {
      this.opts.logger.debug({ topic: this.opts.topic, err: errorMessage(err) }, 'binlog election topic not checked');
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }

  private startLeading(epoch: number): void {
    const lead = this.lead;
    if (this.leading || !lead) return;
    const abort = new AbortController();
    const holds = (): boolean => this.term?.epoch === epoch && performance.now() < this.term.validUntil;
    const term: Term = {
      epoch,
      holds,
      valid: () => {
        if (holds()) return Promise.resolve(true);
        if (this.term?.epoch !== epoch || abort.signal.aborted) return Promise.resolve(false);
        return new Promise<boolean>((resolve) => this.waiters.push(resolve));
      },
    };
    // A new term starts only after the previous one has fully stopped (its last checkpoint written).
    const leading: Leading = { term, abort, done: Promise.resolve(), lost: false };
    const done = this.chain.then(async () => {
      if (abort.signal.aborted) return;
      this.opts.onChange?.(true);
      try {
        await lead(abort.signal, term);
      } catch (err) {
        // A term cut short by the lease: what it could not commit is read again by the next term, not a failure.
        if (abort.signal.aborted && leading.lost) this.opts.logger.warn({ source: this.opts.source, err: errorMessage(err) }, 'binlog election: the reader stopped with the lease lost');
        else this.failure?.(err);
      } finally {
        this.opts.onChange?.(false);
      }
    });
    leading.done = done;
    this.leading = leading;
    this.chain = done;
  }

  private async stopLeading(): Promise<void> {
    const l = this.leading;
    if (!l) return;
    this.leading = undefined;
    l.abort.abort();
    // What waits for the lease goes on if it is held, else gives up (the checkpoint is left to the next term).
    this.wakeWaiters(l.term.holds());
    await l.done;
  }
}
