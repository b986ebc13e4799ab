// The running service and its lifecycle: run (start the transport and the sources), tick (time-driven work),
// finish (a finite input has ended), readiness and the run summary. One config, two transports: with
// kafka.brokers everything runs on Kafka; without, on the embedded in-process log. The wiring is in
// assembly.ts, the dispatch path and commit order in dispatcher.ts, joins in joins.ts.
import type { KisConfig } from '../config/model.js';
import type { Connector } from '../core/connector.js';
import type { DeadLetter } from '../core/dead-letter.js';
import type { Flow, RunResult } from '../core/flow.js';
import type { Position, Row } from '../kernel/types.js';
import type { EmbeddedLog } from '../connectors/embedded/log.js';
import type { Transport } from '../connectors/transport.js';
import { errorMessage, KisError } from '../kernel/errors.js';
import { REJECTION_CODES } from '../core/dead-letter.js';
import { createJobScheduler, type JobScheduler } from '../jobs/index.js';
import type { StateManager } from '../state/state-manager.js';
import { assemble, type Assembly, type ServiceOptions, type SourceBinding } from './assembly.js';
import { SourceRuns } from './source-runs.js';

export type { ServiceOptions } from './assembly.js';

/** How often time-driven work runs (windows closing, join windows and TTLs expiring), unless the caller drives it. */
export const TICK_MS = 1000;

export interface RunSummary {
  readonly mode: 'embedded' | 'kafka';
  readonly rowsIn: Readonly<Record<string, number>>;
  readonly rowsOut: Readonly<Record<string, number>>;
  readonly deadLetters: Readonly<Record<string, number>>;
  /** Inner-join rows whose match never arrived before the input ended. */
  readonly unmatched: number;
  /** The keys of those rows (the first 1,000). */
  readonly unmatchedKeys?: readonly string[];
}

/**
 * What the test driver (and an embedding application) may do with a service besides run(): feed rows to
 * flows, wait until everything that followed is through, drive time, end the input, and look at state.
 */
export interface ServiceHarness {
  /** Starts the flows fed by their connector's topic (run() does it too). */
  startDriven(): void;
  /** Connects and checks the connectors that have a start (storage); run() does it too. */
  startConnectors(): Promise<void>;
  /** Feeds rows to flows as if source `sourceId` produced them. */
  feed(sourceId: string, flows: readonly string[], rows: readonly Row[], partition?: number): Promise<void>;
  /** Waits until nothing is in flight and every connector-driven flow has caught up. */
  settle(): Promise<void>;
  /** Runs the time-driven work once. */
  tick(inputEnded?: boolean): Promise<void>;
  /** The input has ended: held rows and open windows are let go. */
  finish(): Promise<void>;
  readonly state: StateManager;
  /** The embedded log (embedded mode only). */
  readonly log: EmbeddedLog | undefined;
  summary(): RunSummary;
  run(): Promise<RunSummary>;
  close(): Promise<void>;
}

export class KisService implements ServiceHarness {
  readonly transport: Transport;
  readonly flows: ReadonlyMap<string, Flow>;
  readonly connectors: ReadonlyMap<string, Connector>;
  readonly state: StateManager;
  private readonly parts: Assembly;
  private readonly abort = new AbortController();
  private readonly drivenAbort = new AbortController();
  private drivenRuns: Promise<void>[] | undefined;
  private readonly deadLetterCounts: Record<string, number> = {};
  private started = false;
  private ticking = false;
  private failure: unknown;
  private readonly runs = new SourceRuns((b, s) => this.parts.dispatcher.dispatch(b, s.flows));
  /** Scheduled jobs (kistype: job), when the config has any: started by run(), stopped by close(). */
  readonly jobs: JobScheduler | undefined;

  private constructor(readonly config: KisConfig, private readonly opts: ServiceOptions) {
    this.parts = assemble(config, opts, {
      deadLettered: (letters: readonly DeadLetter[]) => {
        for (const d of letters) {
          this.deadLetterCounts[d.flow] = (this.deadLetterCounts[d.flow] ?? 0) + 1;
          opts.observer?.deadLettered?.(d.flow, d.code, 1);
        }
        opts.onDeadLetters?.(letters);
      },
      fail: (err) => this.fail(err),
    });
    this.transport = this.parts.transport;
    this.flows = this.parts.flows;
    this.connectors = this.parts.connectors;
    this.state = this.parts.state;
    this.jobs = config.jobs.size > 0 && !opts.withoutJobs ? this.createJobs() : undefined;
  }

  private createJobs(): JobScheduler {
    const { config, opts } = this;
    const kafka = this.transport.kafka?.();
    return createJobScheduler({
      jobs: [...config.jobs.values()],
      handlers: opts.pool.jobHandlers,
      logger: opts.logger,
      flows: { runFlow: (flowId, rows) => this.runJobFlow(flowId, rows) },
      ...(opts.registry ? { registry: opts.registry } : {}),
      ...(kafka ? { kafka: { client: kafka, appId: config.global.appId } } : {}),
    });
  }

  /** A job that runs a flow: its trigger row through the flow, in partition 0's executor; what came out of it. */
  async runJobFlow(flowId: string, rows: readonly Row[]): Promise<{ out: number; rejected: number; deadLettered: number }> {
    const f = this.flows.get(flowId);
    if (!f) throw new KisError('KIS_ERR_JOB_RUN', `job flow '${flowId}' is not in this config`);
    const { dispatcher } = this.parts;
    const at = String(Date.now());
    const result = await dispatcher.inPartition(f, 0, () => f.run(rows, { positions: rows.map(() => ({ source: 'job', partition: 0, offset: at })), partition: 0 }));
    dispatcher.collect(f, result);
    const rejected = result.deadLetters.filter((d) => REJECTION_CODES.has(d.code)).length;
    return { out: result.output.length, rejected, deadLettered: result.deadLetters.length - rejected };
  }

  /**
   * Rows through a flow from step `startAt`, in the executor of `partition` (state and order shared with the
   * live stream), as a replay from the console needs: resolves once its Saves, sinks and dead letters are acknowledged.
   */
  async runInPartition(flowId: string, rows: readonly Row[], startAt: number, partition: number, positions?: readonly (Position | undefined)[]): Promise<RunResult> {
    const f = this.flowOf(flowId);
    const { dispatcher } = this.parts;
    const result = await dispatcher.inPartition(f, partition, () => f.run(rows, { startAt, partition, ...(positions ? { positions } : {}) }));
    dispatcher.collect(f, result);
    return result;
  }

  static create(config: KisConfig, opts: ServiceOptions): KisService {
    return new KisService(config, opts);
  }

  get mode(): 'embedded' | 'kafka' {
    return this.transport.mode;
  }

  get log(): EmbeddedLog | undefined {
    return this.transport.log;
  }

  private get sources(): readonly SourceBinding[] {
    return this.parts.sources;
  }

  /** Runs every source. Resolves when every finite source is done and all that followed from it is through (never, while an endless source runs, until stop()). */
  async run(): Promise<RunSummary> {
    const logger = this.opts.logger;
    let ticker: NodeJS.Timeout | undefined;
    const ids = this.sources.map((s) => s.source.id);
    if (this.mode === 'embedded') {
      logger.info({ mode: 'embedded', flows: [...this.flows.keys()], sources: ids },
        'EMBEDDED MODE: no Kafka brokers configured; connectors run on an in-process log that keeps nothing across restarts');
    } else {
      logger.info({ mode: 'kafka', brokers: this.config.global.kafka!.brokers, flows: [...this.flows.keys()], sources: ids },
        'KAFKA MODE: sources, connectors and dead letters run on the Kafka cluster');
    }
    const { joins, dispatcher } = this.parts;
    try {
      await this.transport.start({ tables: joins.globalTables(), preflight: () => joins.checkCoPartitioning() });
      await this.startConnectors();
      this.startDriven();
      await this.jobs?.start();
      this.started = true;
      const tickMs = this.opts.tickMs ?? TICK_MS;
      if (tickMs > 0 && this.state.specs.length > 0) {
        ticker = setInterval(() => {
          if (this.ticking) return;
          this.ticking = true;
          void this.tick().finally(() => { this.ticking = false; });
        }, tickMs);
        ticker.unref();
      }
      const upstream = this.sources.filter((s) => !s.driven);
      // Jobs keep a run going: with jobs, only stop() (or a failure) ends it.
      const jobsKeepRunning = this.jobs !== undefined;
      const upstreamRuns = upstream.map(async (s) => {
        await this.runs.run(s, this.abort.signal);
        logger.info({ source: s.source.id, rows: dispatcher.rowsIn[s.source.id] ?? 0 }, 'source finished');
      });
      // A run ends by itself only when every source is finite and the flows they feed can drain (embedded log).
      const finite = !jobsKeepRunning && upstream.every((s) => s.source.finite) && this.sources.filter((s) => s.driven).every((s) => s.source.caughtUp !== undefined);
      const failed = new Promise<never>((_, reject) => this.abort.signal.addEventListener('abort', () => { if (this.failure) reject(this.failure); }));
      failed.catch(() => undefined);
      await Promise.race([Promise.all(upstreamRuns), failed]);
      if (finite || this.abort.signal.aborted) {
        if (!this.abort.signal.aborted) await this.finish();
      } else {
        await new Promise<void>((resolve) => this.abort.signal.addEventListener('abort', () => resolve()));
      }
      await Promise.allSettled(upstreamRuns);
    } catch (err) {
      this.failure ??= err;
    } finally {
      if (ticker) clearInterval(ticker);
      await this.close();
    }
    if (this.failure) throw this.failure;
    const summary = this.summary();
    logger.info({ ...summary }, 'run finished');
    return summary;
  }

  /**
   * The flow control a rewind needs (FlowControl of src/repair): pause stops the sources that feed the flow
   * (in-flight batches finish and commit, consumers leave their groups); resetState drops its keyed state in
   * memory (restored from the changelogs when a partition is taken again); resume runs the sources again.
   */
  async pause(flowId: string): Promise<void> {
    this.flowOf(flowId);
    await this.runs.pause(flowId, this.sources);
  }

  async resume(flowId: string): Promise<void> {
    this.flowOf(flowId);
    this.runs.resume(flowId);
  }

  async resetState(flowId: string): Promise<void> {
    const f = this.flowOf(flowId);
    await Promise.all(this.state.partitions(flowId).map((p) => this.parts.dispatcher.dropState(f, p)));
  }

  private flowOf(flowId: string): Flow {
    const f = this.flows.get(flowId);
    if (!f) throw new KisError('KIS_ERR_USAGE', `no flow '${flowId}' in this config (flows: ${[...this.flows.keys()].join(', ')})`);
    return f;
  }

  /** What the connectors find wrong with their targets (tables, columns, keys), checked without running: kisflow validate. */
  async checkConnectors(): Promise<KisError[]> {
    const found = await Promise.all([...this.connectors.values()].map((c) => c.check?.() ?? Promise.resolve([])));
    return found.flat();
  }

  private connectorsStarted: Promise<void> | undefined;

  startConnectors(): Promise<void> {
    this.connectorsStarted ??= (async () => {
      for (const c of this.connectors.values()) await c.start?.();
    })();
    return this.connectorsStarted;
  }

  startDriven(): void {
    if (this.drivenRuns) return;
    this.drivenRuns = this.sources
      .filter((s) => s.driven)
      .map((s) => this.runs.run(s, this.drivenAbort.signal).catch((err: unknown) => this.fail(err)));
  }

  /** Stops the connector-driven flows, flushes the sinks, closes the connectors and the transport. */
  async close(): Promise<void> {
    await this.jobs?.stop().catch((err: unknown) => this.opts.logger.warn({ err: errorMessage(err) }, 'stopping the job scheduler failed'));
    this.drivenAbort.abort();
    await Promise.allSettled(this.drivenRuns ?? []);
    // State changes no commit flushed (the tick's, of flows flushed at commits) are written before the producer goes.
    if (!this.failure) await this.parts.dispatcher.flushAll().catch((err: unknown) => this.opts.logger.warn({ err: errorMessage(err) }, 'flushing state at the stop failed'));
    for (const close of this.parts.closers.splice(0)) await close();
    for (const c of this.connectors.values()) await c.close?.().catch((err: unknown) => this.opts.logger.warn({ connector: c.config.cid, err: errorMessage(err) }, 'closing a connector failed'));
    await this.transport.close();
  }

  /** Stops the sources; in-flight batches finish and commit, sinks flush, before run() resolves. */
  stop(): void {
    this.abort.abort();
  }

  async feed(sourceId: string, flows: readonly string[], rows: readonly Row[], partition = 0): Promise<void> {
    const rowsIn = this.parts.dispatcher.rowsIn;
    const positions = rows.map((_, i) => ({ source: sourceId, partition, offset: String((rowsIn[sourceId] ?? 0) + i) }));
    const targets = flows.map((id) => {
      const f = this.flows.get(id);
      if (!f) throw new KisError('KIS_ERR_USAGE', `no flow '${id}' in this config (flows: ${[...this.flows.keys()].join(', ')})`);
      return f;
    });
    await this.parts.dispatcher.dispatch({ source: sourceId, partition, rows, positions, undecodable: [] }, targets.filter((f) => f.enabled));
  }

  async settle(): Promise<void> {
    await this.quiet();
  }

  private quiet(): Promise<void> {
    const driven = this.sources.filter((s) => s.driven).map((s) => s.source);
    return this.parts.dispatcher.quiet(() => driven.every((s) => s.caughtUp?.() ?? true), () => this.failure);
  }

  /** The input has ended: settle, then expire held join rows (left joins emit them unmatched), and settle again. */
  async finish(): Promise<void> {
    const { joins, dispatcher } = this.parts;
    let finalTick = true;
    for (;;) {
      await this.quiet();
      if (finalTick) {
        // Functions that hold rows by time (windows) emit them now: the input will not move time any further.
        finalTick = false;
        await this.tick(true);
        await this.quiet();
      }
      const work: Promise<boolean>[] = [];
      for (const f of this.flows.values()) {
        const steps = joins.stepsOf(f.id);
        for (const p of steps.length > 0 ? this.state.partitions(f.id) : []) {
          work.push(dispatcher.inPartition(f, p, async () => {
            let any = false;
            for (const step of steps) any = (await joins.expireHeld(f, step, p, undefined, 'end')) || any;
            return any;
          }).catch(() => false));
        }
      }
      if (!(await Promise.all(work)).some(Boolean)) break;
    }
    if (joins.unmatched > 0) {
      this.opts.logger.warn({ rows: joins.unmatched }, 'inner-join rows found no match before the input ended (use join: left to emit them unmatched)');
    }
  }

  /** Ready when the transport is connected (topics checked, join tables loaded) and every source and connector is ready. */
  readiness(): { ready: boolean; waiting: string[] } {
    if (this.failure) return { ready: false, waiting: [`failed: ${errorMessage(this.failure)}`] };
    if (!this.started) return { ready: false, waiting: ['starting: connecting, checking topics, loading join tables'] };
    const waiting = [
      ...this.sources.flatMap((s) => s.source.waiting?.() ?? []),
      ...[...this.connectors.values()].flatMap((c) => c.waiting?.() ?? []),
    ];
    return { ready: waiting.length === 0, waiting };
  }

  summary(): RunSummary {
    const deadLetters: Record<string, number> = {};
    for (const id of this.flows.keys()) deadLetters[id] = this.deadLetterCounts[id] ?? 0;
    const { rowsIn, rowsOut } = this.parts.dispatcher;
    return { mode: this.mode, rowsIn: { ...rowsIn }, rowsOut: { ...rowsOut }, deadLetters, unmatched: this.parts.joins.unmatched, unmatchedKeys: [...this.parts.joins.unmatchedKeys] };
  }

  /**
   * Time-driven work, per flow with state and per partition whose state is here, in that partition's
   * executor: expired entries are swept, steps that tick run with no rows (windows close), changes flushed.
   */
  async tick(inputEnded = false): Promise<void> {
    const { joins, dispatcher } = this.parts;
    const work: Promise<void>[] = [];
    for (const f of this.flows.values()) {
      if (!f.enabled || !this.state.hasState(f.id)) continue;
      const ticking = f.steps.filter((s) => s.ticks);
      const windowed = joins.stepsOf(f.id).filter((s) => s.joinWindowMs !== undefined);
      this.state.sweep(f.id);
      for (const partition of this.state.partitions(f.id)) {
        work.push(dispatcher.inPartition(f, partition, async () => {
          for (const step of windowed) await joins.expireHeld(f, step, partition, step.joinWindowMs, 'window');
          for (const step of ticking) {
            const result = await f.run([], { partition, startAt: step.index, inputEnded });
            dispatcher.collect(f, result);
          }
        }).catch(() => undefined));
      }
    }
    await Promise.all(work);
  }

  private fail(err: unknown): void {
    if (this.failure) return;
    this.failure = err;
    this.opts.logger.error({ err: errorMessage(err) }, 'the service stops: an error it cannot recover from (offsets after the last commit will be processed again)');
    this.abort.abort();
  }
}
