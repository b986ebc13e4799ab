// Status records and history. Every status interval this replica makes its ReplicaStatus from the status
// observer and the running service; in Kafka mode it produces it to the compacted `<app_id>.status` topic
// keyed by its replica id, and follows that topic to know every replica's latest record. Embedded mode
// knows only its own. Then one HistoryPoint per flow, summed over the live replicas, goes into a ring.
import os from 'node:os';
import { randomUUID } from 'node:crypto';
import type { Consumer, Kafka, Producer } from 'kafkajs';
import type { Logger } from 'pino';
import type { FlowNumbers, FunctionNumbers, HistoryPoint, ReplicaStatus } from '../contract.js';
import type { KisConfig } from '../../config/model.js';
import { ensureTopics } from '../../kafka/topics.js';
import { errorMessage } from '../../kernel/errors.js';
import { statusTopic } from '../../kernel/names.js';
import { HistoryRing } from '../../observability/history.js';
import type { StatusObserver } from '../../observability/status-observer.js';
import type { Supervisor } from '../../runtime/supervisor.js';
import { followTopic } from './follow.js';

/** What a replica publishes: the contract's record plus what the executors view and the history need. */
export interface StatusRecord extends ReplicaStatus {
  readonly flows: Readonly<Record<string, FlowNumbers & { readonly partitions: readonly number[]; readonly errors_per_s?: number; readonly dead_letters_per_s?: number }>>;
  /** The jobs executor id of this replica (null: no jobs) and the job partitions it owns. */
  readonly executor?: string | null;
  readonly job_partitions?: readonly number[];
}

/** A record is gone when it is older than this many of its intervals. */
export const GONE_AFTER_INTERVALS = 3;

export function isGone(r: ReplicaStatus, now: number): boolean {
  return now - r.at > GONE_AFTER_INTERVALS * r.interval_ms;
}

export interface StatusBoardOptions {
  readonly supervisor: Supervisor;
  readonly observer: StatusObserver;
  readonly intervalMs: number;
  readonly historyMinutes: number;
  readonly logger: Logger;
  readonly kafka?: Kafka;
  readonly replica?: string;
  readonly clock?: () => number;
}

const rate = (now: number, before: number, ms: number): number => (ms > 0 ? Math.max(0, ((now - before) * 1000) / ms) : 0);

export class StatusBoard {
  readonly replica: string;
  readonly startedAt: number;
  readonly history: HistoryRing<HistoryPoint>;
  private readonly records = new Map<string, StatusRecord>();
  private readonly clock: () => number;
  private prev: { at: number; flows: Map<string, { in: number; out: number; errors: number; dl: number }>; fns: Map<string, number> } | undefined;
  private timer: NodeJS.Timeout | undefined;
  private producer: Producer | undefined;
  private consumer: Consumer | undefined;
  private ticking: Promise<void> = Promise.resolve();

  constructor(private readonly o: StatusBoardOptions) {
    this.replica = o.replica ?? `${os.hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
    this.clock = o.clock ?? Date.now;
    this.startedAt = this.clock();
    this.history = new HistoryRing<HistoryPoint>(o.intervalMs, o.historyMinutes * 60_000);
  }

  get mode(): 'embedded' | 'kafka' {
    return this.o.kafka ? 'kafka' : 'embedded';
  }

  private get config(): KisConfig {
    return this.o.supervisor.config;
  }

  /** Kafka mode: the status topic made (compacted) where the cluster allows, the producer connected, the topic followed. Then the timer. */
  async start(): Promise<void> {
    const { kafka, logger } = this.o;
    if (kafka) {
      const topic = statusTopic(this.config.global.appId);
      const admin = kafka.admin();
      await admin.connect();
      try {
        await ensureTopics(admin, [{ topic, partitions: 1, compact: true, owner: 'the console\'s status records' }], logger);
      } finally {
        await admin.disconnect().catch(() => undefined);
      }
      this.producer = kafka.producer({ allowAutoTopicCreation: true, idempotent: false });
      await this.producer.connect();
      this.consumer = await followTopic(kafka, `${this.config.global.appId}.console.${this.replica}`, topic, logger, (r) => {
        if (r.key === null || r.key === this.replica) return;
        if (r.value === null) this.records.delete(r.key);
        else this.records.set(r.key, JSON.parse(r.value) as StatusRecord);
      });
    }
    await this.tick();
    this.timer = setInterval(() => { this.ticking = this.ticking.then(() => this.tick()); }, this.o.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.ticking;
    await this.consumer?.disconnect().catch(() => undefined);
    await this.producer?.disconnect().catch(() => undefined);
  }

  /** One interval: the local record made (and published), then one history point per flow. */
  async tick(): Promise<void> {
    const rec = this.makeRecord();
    this.records.set(this.replica, rec);
    if (this.producer) {
      await this.producer.send({ topic: statusTopic(this.config.global.appId), acks: -1, messages: [{ key: this.replica, value: JSON.stringify(rec) }] })
        .catch((err: unknown) => this.o.logger.warn({ err: errorMessage(err) }, 'console: the status record could not be published'));
    }
    this.sample(rec.at);
  }

  /** Every replica's latest record (this one's included), and whether each is gone. */
  all(now = this.clock()): (StatusRecord & { gone: boolean })[] {
    return [...this.records.values()].map((r) => ({ ...r, gone: isGone(r, now) })).sort((a, b) => (a.replica < b.replica ? -1 : 1));
  }

  live(now = this.clock()): StatusRecord[] {
    return [...this.records.values()].filter((r) => !isGone(r, now));
  }

  private sample(t: number): void {
    const live = this.live(t);
    for (const flow of this.config.flows.keys()) {
      let p: { -readonly [K in keyof HistoryPoint]: HistoryPoint[K] } = { t, in_per_s: 0, out_per_s: 0, errors_per_s: 0, dead_letters_per_s: 0, lag_records: 0, lag_seconds: 0 };
      for (const r of live) {
        const f = r.flows[flow];
        if (!f) continue;
        p = { ...p, in_per_s: p.in_per_s + f.in_per_s, out_per_s: p.out_per_s + f.out_per_s, errors_per_s: p.errors_per_s + (f.errors_per_s ?? 0), dead_letters_per_s: p.dead_letters_per_s + (f.dead_letters_per_s ?? 0), lag_records: p.lag_records + f.lag_records, lag_seconds: Math.max(p.lag_seconds, f.lag_seconds) };
      }
      this.history.add(flow, p);
    }
    this.history.prune(t);
  }

  /** This replica's record now, with rates over the time since the previous one. */
  makeRecord(): StatusRecord {
    const now = this.clock();
    const { observer, supervisor } = this.o;
    const config = this.config;
    const service = supervisor.current;
    const ms = this.prev ? now - this.prev.at : 0;
    const flows: Record<string, StatusRecord['flows'][string]> = {};
    const functions: FunctionNumbers[] = [];
    const nextFlows = new Map<string, { in: number; out: number; errors: number; dl: number }>();
    const nextFns = new Map<string, number>();
    for (const fc of config.flows.values()) {
      const tally = observer.flows.get(fc.id);
      let errors = 0;
      for (const step of fc.steps) {
        const t = tally?.functions.get(step.fid);
        const key = `${fc.id}\u0000${step.fid}`;
        const rowsIn = t?.rowsIn ?? 0;
        nextFns.set(key, rowsIn);
        // A function's dead-lettered count includes the rows it rejected.
        errors += t?.deadLettered ?? 0;
        functions.push({
          flow: fc.id, fid: step.fid, mode: t?.mode ?? config.funcs.get(step.fid)?.mode ?? '', rows_in: rowsIn, rows_out: t?.rowsOut ?? 0,
          rejected: t?.rejected ?? 0, dead_lettered: (t?.deadLettered ?? 0) - (t?.rejected ?? 0), in_per_s: rate(rowsIn, this.prev?.fns.get(key) ?? 0, ms), p99_ms: t ? observer.p99(t, now) : null,
        });
      }
      const last = fc.steps[fc.steps.length - 1];
      const rowsIn = tally?.rowsIn ?? 0;
      const rowsOut = last ? tally?.functions.get(last.fid)?.rowsOut ?? 0 : 0;
      const dl = tally?.deadLetters ?? 0;
      const before = this.prev?.flows.get(fc.id);
      nextFlows.set(fc.id, { in: rowsIn, out: rowsOut, errors, dl });
      let lagRecords = 0;
      let lagSeconds = 0;
      const partitions = new Set<number>();
      for (const sc of config.sources.values()) {
        if (!sc.flows.includes(fc.id)) continue;
        const s = observer.sources.get(sc.sid);
        if (!s) continue;
        for (const l of s.lag.values()) {
          lagRecords += l.records;
          partitions.add(l.partition);
        }
        lagSeconds = Math.max(lagSeconds, s.lagSeconds);
      }
      const inPerS = rate(rowsIn, before?.in ?? 0, ms);
      // Kafka sources report records behind, not their age: estimated from the rate they are taken in.
      if (lagSeconds === 0 && lagRecords > 0 && inPerS > 0) lagSeconds = lagRecords / inPerS;
      flows[fc.id] = {
        rows_in: rowsIn, rows_out: rowsOut, errors, dead_letters: dl, in_per_s: inPerS, out_per_s: rate(rowsOut, before?.out ?? 0, ms),
        lag_records: lagRecords, lag_seconds: lagSeconds, partitions: [...partitions].sort((a, b) => a - b),
        errors_per_s: rate(errors, before?.errors ?? 0, ms), dead_letters_per_s: rate(dl, before?.dl ?? 0, ms),
      };
    }
    this.prev = { at: now, flows: nextFlows, fns: nextFns };
    const rowsBySource = service.summary().rowsIn;
    const sources: Record<string, { type: string; rows: number; leader?: boolean }> = {};
    for (const sc of config.sources.values()) {
      const leader = observer.sources.get(sc.sid)?.leader;
      sources[sc.sid] = { type: sc.type, rows: rowsBySource[sc.sid] ?? 0, ...(leader !== undefined ? { leader } : {}) };
    }
    const readiness = service.readiness();
    const jobs = service.jobs;
    return {
      replica: this.replica, host: os.hostname(), pid: process.pid, started_at: this.startedAt, at: now, interval_ms: this.o.intervalMs,
      mode: this.mode, config_version: supervisor.configVersion, ready: readiness.ready, waiting: readiness.waiting,
      flows, functions, sources, jobs_running: jobs?.runningIds() ?? [],
      executor: jobs ? jobs.executorId : null, job_partitions: jobs?.ownedPartitions() ?? [],
    };
  }
}
