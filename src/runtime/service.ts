// The running service: sources -> per-(flow, partition) executors -> flows -> connectors. One config, two
// transports: with kafka.brokers everything runs on Kafka; without, on the embedded in-process log.
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import path from 'node:path';
import type { BinlogSourceParamsT, KafkaSourceParamsT } from '../config/codecs.js';
import type { KisConfig, SourceConfig } from '../config/model.js';
import { fnv1a } from '../config/load.js';
import type { PathSegment } from '../config/yaml-docs.js';
import { buildFlows } from '../core/build.js';
import type { Connector } from '../core/connector.js';
import { expire, joinRow, release, type HeldRow } from '../core/join.js';
import type { CompiledStep } from '../core/flow.js';
import type { DeadLetter } from '../core/dead-letter.js';
import type { Flow, RunResult } from '../core/flow.js';
import { NO_OBSERVER, type FlowObserver } from '../core/observer.js';
import type { KisPool, PrepareEnv } from '../core/pool.js';
import type { EmbeddedLog } from '../connectors/embedded/log.js';
import { EmbeddedTopicSource } from '../connectors/embedded/topic-source.js';
import { EmbeddedTransport } from '../connectors/embedded/transport.js';
import { KafkaTransport } from '../connectors/kafka/transport.js';
import type { Transport } from '../connectors/transport.js';
import { errorMessage, isKisError, KisConfigErrors, KisError } from '../kernel/errors.js';
import type { Row } from '../kernel/types.js';
import { BinlogSource, createSource, FileCheckpointStore, KafkaCheckpointStore, type Batch, type Source } from '../sources/index.js';
import type { SourceObserver } from '../sources/source.js';
import { createKafka } from '../kafka/client.js';
import { KafkaSource } from '../sources/kafka/kafka-source.js';
import { DEFAULT_PARTITIONS, connectorTopic } from '../kernel/names.js';
import type { ChangelogTopic } from '../connectors/transport.js';
import type { KeyedState, StateAccess } from '../core/state.js';
import { changelogTopic, StateManager, type StateObserver } from '../state/state-manager.js';
import { Executors } from './executor.js';

/** How long a dead binlog reader holds its election before another replica takes over. */
const BINLOG_ELECTION_SESSION_MS = 10_000;

/** A valid Kafka topic name for a derived one (app ids and source ids may be any UTF-8): kept if valid, else made safe and suffixed with a hash. */
function safeTopic(name: string): string {
  if (/^[a-zA-Z0-9._-]{1,249}$/.test(name)) return name;
  const safe = name.replace(/[^a-zA-Z0-9._-]/g, '').slice(0, 200);
  return `${safe || 'kisflow'}-${fnv1a(name)}`;
}

/** A source id as a file name: characters outside [A-Za-z0-9._-] become '_' (ids may be any UTF-8). */
function safeFileName(id: string): string {
  return /^[A-Za-z0-9._-]+$/.test(id) ? id : encodeURIComponent(id).replace(/%/g, '_');
}
/** How often time-driven work runs (windows closing, join windows and TTLs expiring), unless the caller drives it. */
export const TICK_MS = 1000;

export interface ServiceOptions {
  readonly pool: KisPool;
  readonly logger: Logger;
  readonly observer?: FlowObserver;
  /** Consumer lag, commit latency, rebalances. */
  readonly sourceObserver?: SourceObserver;
  /** Where kis.print and the stdout sink write. */
  readonly stdout?: PrepareEnv['stdout'];
  readonly stdin?: Readable;
  readonly locate?: (origin: { file: string; doc: number }, path: readonly PathSegment[]) => { line: number; col: number } | undefined;
  /** Called with every finished run of every flow (the test driver collects outputs through it). */
  readonly onRun?: (flow: string, result: RunResult) => void;
  /** Leave out the config's own sources (the test driver feeds rows itself). */
  readonly withoutSources?: boolean;
  /** Called with every dead letter once it is written (the test driver collects them through it). */
  readonly onDeadLetters?: (letters: readonly DeadLetter[]) => void;
  /** Restores, evictions and keys of keyed state. */
  readonly stateObserver?: StateObserver;
  /** The clock functions and state see (the test driver moves it). */
  readonly clock?: () => number;
  /** Run tick() every this many ms while running (default TICK_MS; 0: only when called, as the test driver does). */
  readonly tickMs?: number;
}

export interface RunSummary {
  readonly mode: 'embedded' | 'kafka';
  readonly rowsIn: Readonly<Record<string, number>>;
  readonly rowsOut: Readonly<Record<string, number>>;
  readonly deadLetters: Readonly<Record<string, number>>;
  /** Inner-join rows whose match never arrived before the input ended. */
  readonly unmatched: number;
}

export class KisService {
  readonly transport: Transport;
  readonly flows: ReadonlyMap<string, Flow>;
  readonly connectors: ReadonlyMap<string, Connector>;
  readonly state: StateManager;
  private readonly sources: Array<{ source: Source; flows: Flow[] }> = [];
  private readonly executors = new Executors();
  private readonly closers: Array<() => Promise<void>> = [];
  private readonly abort = new AbortController();
  private readonly drivenAbort = new AbortController();
  private drivenRuns: Promise<void>[] | undefined;
  private readonly rowsIn: Record<string, number> = {};
  private readonly rowsOut: Record<string, number> = {};
  private readonly deadLetterCounts: Record<string, number> = {};
  private inflight = 0;
  private started = false;
  private unmatched = 0;
  private ticking = false;
  /** Per flow, fixed once built: its join steps (rows held in state), and the topics it joins co-partitioned. */
  private readonly joinSteps = new Map<string, readonly CompiledStep[]>();
  private readonly joinedTopics = new Map<string, readonly string[]>();
  /** Every topic some flow joins co-partitioned: its records feed tables, not flows. */
  private readonly joinTopics = new Set<string>();
  private readonly joinPartitionCounts = new Map<string, number>();
  private failure: unknown;
  private settled: (() => void) | undefined;

  private constructor(readonly config: KisConfig, private readonly opts: ServiceOptions) {
    const logger = opts.logger;
    const onDeadLetters = (letters: readonly DeadLetter[]): void => {
      for (const d of letters) {
        this.deadLetterCounts[d.flow] = (this.deadLetterCounts[d.flow] ?? 0) + 1;
        opts.observer?.deadLettered?.(d.flow, d.code, 1);
      }
      opts.onDeadLetters?.(letters);
    };
    const clock = opts.clock ?? Date.now;
    const tableEvicted = (cid: string, n: number): void => opts.stateObserver?.evicted(`conn:${cid}`, 'table', n);
    this.transport = config.global.kafka
      ? new KafkaTransport(config, logger, onDeadLetters, opts.sourceObserver, clock, tableEvicted)
      : new EmbeddedTransport(logger, onDeadLetters, clock, tableEvicted);
    const connectors = new Map<string, Connector>();
    for (const c of config.conns.values()) {
      if (c.type === 'kafka') connectors.set(c.cid, this.transport.connector(c));
    }
    this.connectors = connectors;
    const stateAccess: StateAccess = { store: (flow, store, partition) => this.state.store(flow, store, partition) };
    const built = buildFlows(config, opts.pool, connectors, {
      deadLetters: this.transport.deadLetters,
      observer: opts.observer ?? NO_OBSERVER,
      logger,
      state: stateAccess,
      clock,
      joinPartitions: (flow) => this.joinPartitionCounts.get(flow),
    }, {
      stdout: opts.stdout ?? process.stdout,
      onClose: (fn) => this.closers.push(fn),
      topic: (name) => this.transport.writer(name),
      ...(opts.locate ? { locate: opts.locate } : {}),
      coPartitioned: (fc) => this.kafkaFed(fc.id),
    });
    if (built.errors.length > 0) throw new KisConfigErrors(built.errors);
    this.flows = built.flows;
    for (const f of this.flows.values()) {
      const steps = f.steps.filter((st) => st.heldStore !== undefined);
      if (steps.length > 0) this.joinSteps.set(f.id, steps);
      const topics = f.enabled ? [...new Set(steps.filter((st) => st.tableStore !== undefined && st.connector).map((st) => st.connector!.topicName))] : [];
      if (topics.length > 0) this.joinedTopics.set(f.id, topics);
      for (const t of topics) this.joinTopics.add(t);
    }
    const changelogs: ChangelogTopic[] = built.stores.map((spec) => ({
      topic: changelogTopic(config.global.appId, spec.flow, spec.store),
      owner: `the changelog of state '${spec.store}' of flow '${spec.flow}'`,
      partitions: this.inputPartitions(spec.flow),
    }));
    this.state = new StateManager({
      appId: config.global.appId,
      specs: built.stores,
      backend: this.transport.changelog(changelogs),
      logger,
      clock,
      ...(opts.stateObserver ? { observer: opts.stateObserver } : {}),
    });

    for (const c of connectors.values()) c.onSaved((keys) => this.savedToTable(c, keys));
    if (!opts.withoutSources) {
      const errors: KisError[] = [];
      for (const sc of config.sources.values()) {
        const flows = sc.flows.map((id) => this.flows.get(id)!).filter((f) => f.enabled);
        try {
          this.sources.push({
            source: createSource(sc, {
              configDir: config.dir,
              ...(opts.stdin ? { stdin: opts.stdin } : {}),
              ...(config.global.kafka ? { kafka: (s: SourceConfig) => this.kafkaSource(s) } : {}),
              binlog: (s: SourceConfig) => this.binlogSource(s),
            }),
            flows,
          });
        } catch (err) {
          errors.push(isKisError(err) ? err : new KisError('KIS_ERR_SOURCE', `source '${sc.sid}': ${errorMessage(err)}`, { cause: err }));
        }
      }
      if (errors.length > 0) throw new KisConfigErrors(errors);
    }
    // Flows that start with a Load step and have no source are fed by their connector's topic.
    for (const f of this.flows.values()) {
      const first = f.steps[0];
      if (f.enabled && first?.drivesFlow && first.conn?.type === 'kafka') {
        this.sources.push({ source: this.transport.drivenSource(f.config, first.conn, (a) => this.assigned([f], a), this.joinTopicsOf([f])), flows: [f] });
      }
    }
  }

  static create(config: KisConfig, opts: ServiceOptions): KisService {
    return new KisService(config, opts);
  }

  get mode(): 'embedded' | 'kafka' {
    return this.transport.mode;
  }

  /** The embedded log (embedded mode only): the test driver reads topics from it. */
  get log(): EmbeddedLog | undefined {
    return this.transport instanceof EmbeddedTransport ? this.transport.log : undefined;
  }

  /** Runs every source. Resolves when every finite source is done and all that followed from it is through (never, while an endless source runs, until stop()). */
  async run(): Promise<RunSummary> {
    const logger = this.opts.logger;
    let ticker: NodeJS.Timeout | undefined;
    if (this.mode === 'embedded') {
      logger.info({ mode: 'embedded', flows: [...this.flows.keys()], sources: this.sources.map((s) => s.source.id) },
        'EMBEDDED MODE: no Kafka brokers configured; connectors run on an in-process log that keeps nothing across restarts');
    } else {
      logger.info({ mode: 'kafka', brokers: this.config.global.kafka!.brokers, flows: [...this.flows.keys()], sources: this.sources.map((s) => s.source.id) },
        'KAFKA MODE: sources, connectors and dead letters run on the Kafka cluster');
    }
    try {
      await this.transport.start({ tables: this.globalTables(), preflight: () => this.checkCoPartitioning() });
      this.startDriven();
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
      const upstream = this.sources.filter((s) => !this.isDriven(s.source));
      const upstreamRuns = upstream.map(async (s) => {
        await s.source.run((b) => this.dispatch(b, s.flows), this.abort.signal);
        logger.info({ source: s.source.id, rows: this.rowsIn[s.source.id] ?? 0 }, 'source finished');
      });
      // A run ends by itself only when every source is finite and the flows they feed can drain (embedded log).
      const finite = upstream.every((s) => s.source.finite) && this.drivenSources().length === this.sources.length - upstream.length;
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

  /** Starts the flows fed by their connector's topic (idempotent); run() does it, the test driver too. */
  startDriven(): void {
    if (this.drivenRuns) return;
    this.drivenRuns = this.sources
      .filter((s) => this.isDriven(s.source))
      .map((s) => s.source.run((b) => this.dispatch(b, s.flows), this.drivenAbort.signal).catch((err: unknown) => this.fail(err)));
  }

  /** Stops the connector-driven flows, flushes the sinks, closes the transport. */
  async close(): Promise<void> {
    this.drivenAbort.abort();
    await Promise.allSettled(this.drivenRuns ?? []);
    for (const close of this.closers.splice(0)) await close();
    await this.transport.close();
  }

  /** Stops the sources; in-flight batches finish and commit, sinks flush, before run() resolves. */
  stop(): void {
    this.abort.abort();
  }

  /** Feeds rows to the flows a source would feed (the test driver's pipeInput). */
  async feed(sourceId: string, flows: readonly string[], rows: readonly Row[], partition = 0): Promise<void> {
    const positions = rows.map((_, i) => ({ source: sourceId, partition, offset: String((this.rowsIn[sourceId] ?? 0) + i) }));
    const targets = flows.map((id) => {
      const f = this.flows.get(id);
      if (!f) throw new KisError('KIS_ERR_USAGE', `no flow '${id}' in this config (flows: ${[...this.flows.keys()].join(', ')})`);
      return f;
    });
    await this.dispatch({ source: sourceId, partition, rows, positions, undecodable: [] }, targets.filter((f) => f.enabled));
  }

  /** Waits until nothing is in flight and every connector-driven flow has caught up (embedded log). */
  async settle(): Promise<void> {
    await this.quiet(this.drivenSources());
  }

  /** The input has ended: settle, then expire held join rows (left joins emit them unmatched), and settle again. */
  async finish(): Promise<void> {
    const driven = this.drivenSources();
    let finalTick = true;
    for (;;) {
      await this.quiet(driven);
      if (finalTick) {
        // Functions that hold rows by time (windows) emit them now: the input will not move time any further.
        finalTick = false;
        await this.tick(true);
        await this.quiet(driven);
      }
      const work: Promise<boolean>[] = [];
      for (const f of this.flows.values()) {
        const steps = this.joinSteps.get(f.id) ?? [];
        for (const p of steps.length > 0 ? this.state.partitions(f.id) : []) {
          work.push(this.inPartition(f, p, async () => {
            let any = false;
            for (const step of steps) any = (await this.expireHeld(f, step, p, undefined, 'end')) || any;
            return any;
          }).catch(() => false));
        }
      }
      if (!(await Promise.all(work)).some(Boolean)) break;
    }
    if (this.unmatched > 0) {
      this.opts.logger.warn({ rows: this.unmatched }, 'inner-join rows found no match before the input ended (use join: left to emit them unmatched)');
    }
  }

  /** Ready when the transport is connected (topics checked, join tables loaded) and every source is assigned its partitions. */
  readiness(): { ready: boolean; waiting: string[] } {
    if (this.failure) return { ready: false, waiting: [`failed: ${errorMessage(this.failure)}`] };
    if (!this.started) return { ready: false, waiting: ['starting: connecting, checking topics, loading join tables'] };
    const waiting = this.sources.flatMap((s) => s.source.waiting?.() ?? []);
    return { ready: waiting.length === 0, waiting };
  }

  summary(): RunSummary {
    const deadLetters: Record<string, number> = {};
    for (const id of this.flows.keys()) deadLetters[id] = this.deadLetterCounts[id] ?? 0;
    return { mode: this.mode, rowsIn: { ...this.rowsIn }, rowsOut: { ...this.rowsOut }, deadLetters, unmatched: this.unmatched };
  }

  /**
   * Time-driven work, per flow with state and per partition whose state is here, in that partition's
   * executor: expired entries are swept, steps that tick run with no rows (windows close), changes flushed.
   */
  async tick(inputEnded = false): Promise<void> {
    const work: Promise<void>[] = [];
    for (const f of this.flows.values()) {
      if (!f.enabled || !this.state.hasState(f.id)) continue;
      const ticking = f.steps.filter((s) => s.ticks);
      const windowed = (this.joinSteps.get(f.id) ?? []).filter((s) => s.joinWindowMs !== undefined);
      this.state.sweep(f.id);
      for (const partition of this.state.partitions(f.id)) {
        work.push(this.inPartition(f, partition, async () => {
          for (const step of windowed) await this.expireHeld(f, step, partition, step.joinWindowMs, 'window');
          for (const step of ticking) {
            const result = await f.run([], { partition, startAt: step.index, inputEnded });
            this.collect(f, result);
          }
        }).catch(() => undefined));
      }
    }
    await Promise.all(work);
  }

  /** The partition count of a flow's input, which its changelogs must have. */
  private inputPartitions(flowId: string): ChangelogTopic['partitions'] {
    const like: string[] = [];
    let n = 1;
    for (const sc of this.config.sources.values()) {
      if (!sc.flows.includes(flowId)) continue;
      if (sc.type === 'kafka' && this.config.global.kafka) like.push(...(sc.params as KafkaSourceParamsT).topics);
      else if (typeof sc.params['partitions'] === 'number') n = Math.max(n, sc.params['partitions']);
    }
    const flow = this.flows.get(flowId);
    const first = flow?.steps[0];
    if (first?.drivesFlow && first.conn) {
      const { topic, partitions } = connectorTopic(first.conn);
      if (this.config.global.kafka && partitions === undefined) like.push(topic);
      else n = Math.max(n, partitions ?? DEFAULT_PARTITIONS);
    }
    return like.length > 0 ? { like } : n;
  }

  /** A consumer group gave this member new partitions: the state of the partitions it lost is let go. */
  private assigned(flows: readonly Flow[], assignment: Readonly<Record<string, readonly number[]>>): void {
    const owned = new Set(Object.values(assignment).flat());
    for (const f of flows) {
      if (!this.state.hasState(f.id)) continue;
      const here = this.state.partitions(f.id);
      for (const p of here) {
        if (!owned.has(p)) void this.executors.for(f.id, p).submit(async () => this.state.drop(f.id, p));
      }
      // Restored now rather than at the partition's first batch, so that join windows and TTLs run on quiet partitions too.
      for (const p of owned) if (!here.includes(p)) this.inPartition(f, p, async () => undefined).catch(() => undefined);
    }
  }

  private kafkaSource(sc: SourceConfig): Source {
    const cluster = this.config.global.kafka!;
    const kafka = sc.addrs.length > 0 ? createKafka(cluster, this.opts.logger, sc.addrs) : (this.transport as KafkaTransport).kafka;
    const flows = sc.flows.map((id) => this.flows.get(id)).filter((f): f is Flow => f !== undefined);
    const own = sc.params as KafkaSourceParamsT;
    const joinTopics = this.joinTopicsOf(flows).filter((t) => !own.topics.includes(t));
    // Joined connector topics are read by the same group, so the co-partitioning assignor gives each member partition n of all of them.
    const params: KafkaSourceParamsT = joinTopics.length > 0 ? { ...own, topics: [...own.topics, ...joinTopics] } : own;
    return new KafkaSource({
      id: sc.sid,
      kafka,
      groupId: params.group_id ?? `${this.config.global.appId}.${sc.sid}`,
      params,
      logger: this.opts.logger,
      ...(this.opts.sourceObserver ? { observer: this.opts.sourceObserver } : {}),
      onAssigned: (a) => this.assigned(flows, a),
    });
  }

  /**
   * A binlog source. Kafka mode: checkpoints in <app_id>.binlog-checkpoints (or params.checkpoint_topic) and
   * one reader across replicas, elected in the group <app_id>.<sid>.leader. Embedded mode, or with
   * params.checkpoint_file: a checkpoint file, default .kisflow/<sid>.binlog.json under the config directory.
   */
  private binlogSource(sc: SourceConfig): Source {
    const params = sc.params as BinlogSourceParamsT;
    const appId = this.config.global.appId;
    const kafka = this.config.global.kafka ? (this.transport as KafkaTransport).kafka : undefined;
    const store = kafka && params.checkpoint_file === undefined
      ? new KafkaCheckpointStore(kafka, params.checkpoint_topic ?? safeTopic(`${appId}.binlog-checkpoints`), sc.sid, this.opts.logger)
      : new FileCheckpointStore(path.resolve(this.config.dir, params.checkpoint_file ?? path.join('.kisflow', `${safeFileName(sc.sid)}.binlog.json`)));
    const leaderGroup = `${appId}.${sc.sid}.leader`;
    const leaderTopic = safeTopic(leaderGroup);
    return new BinlogSource({
      id: sc.sid,
      addr: sc.addrs[0] ?? '',
      params,
      appId,
      store,
      logger: this.opts.logger,
      ...(this.opts.sourceObserver ? { observer: this.opts.sourceObserver } : {}),
      ...(kafka ? { election: { kafka, groupId: leaderGroup, topic: leaderTopic, sessionTimeoutMs: BINLOG_ELECTION_SESSION_MS } } : {}),
    });
  }

  private isDriven(source: Source): boolean {
    return source.id.startsWith('conn:');
  }

  private drivenSources(): EmbeddedTopicSource[] {
    return this.sources.map((s) => s.source).filter((s): s is EmbeddedTopicSource => s instanceof EmbeddedTopicSource);
  }

  private async quiet(driven: readonly EmbeddedTopicSource[]): Promise<void> {
    while (this.inflight > 0 || !this.executors.allIdle() || !driven.every((s) => s.caughtUp())) {
      if (this.failure) throw this.failure;
      await new Promise<void>((resolve) => {
        this.settled = resolve;
        setTimeout(resolve, 20);
      });
    }
  }

  private async dispatch(batch: Batch, flows: readonly Flow[]): Promise<void> {
    this.inflight++;
    try {
      this.rowsIn[batch.source] = (this.rowsIn[batch.source] ?? 0) + batch.rows.length + batch.undecodable.length;
      if (batch.undecodable.length > 0) {
        await Promise.all(flows.map((f) => this.transport.deadLetters.write(f.id, f.config.deadLetterTopic, batch.undecodable.map((u): DeadLetter => ({
          row: { raw: u.raw }, code: 'KIS_ERR_ROW_DECODE', message: `source '${batch.source}': ${u.reason}`, flow: f.id, fn: '', position: u.position, attempts: 0, at: new Date().toISOString(),
        })))));
      }
      if (batch.rows.length === 0) return;
      // Records of a joined connector topic feed the table of the flows that join it, and no other flow.
      const topic = batch.positions[0]?.topic;
      const joined = topic !== undefined && this.joinTopics.has(topic) ? topic : undefined;
      // Order: state restored -> the flow runs (its Saves, sinks and dead letters acknowledged) -> the
      // state changes are acknowledged in the changelog -> dispatch resolves -> the source commits.
      await Promise.all(flows.map((f) => {
        if (joined !== undefined) return this.joinedTopics.get(f.id)?.includes(joined) ? this.feedTable(f, joined, batch) : Promise.resolve();
        return this.inPartition(f, batch.partition, async () => {
          const result = await f.run(batch.rows, { positions: batch.positions, partition: batch.partition });
          this.collect(f, result);
        });
      }));
    } catch (err) {
      this.fail(err);
      throw err;
    } finally {
      this.inflight--;
      this.settled?.();
    }
  }

  /**
   * Work on one partition of a flow, in its executor: state restored first (and, the first time, rows held
   * for keys that arrived meanwhile released), changes flushed to the changelog after.
   */
  private inPartition<T>(f: Flow, partition: number, work: () => Promise<T>): Promise<T> {
    this.inflight++;
    return this.executors.for(f.id, partition).submit(async () => {
      const steps = this.joinSteps.get(f.id) ?? [];
      const fresh = steps.length > 0 && !this.state.has(f.id, partition);
      await this.state.ready(f.id, partition);
      if (fresh) {
        for (const step of steps) {
          const held = f.stateOf(step.heldStore!, partition) as KeyedState<HeldRow[]>;
          if (held.size > 0) await this.releaseAndRun(f, step, partition, [...held.entries()].map(([k]) => k));
        }
      }
      const out = await work();
      for (const step of steps) {
        const evicted = this.state.takeEvicted(f.id, step.heldStore!, partition) as Array<[string, HeldRow[]]>;
        if (evicted.length > 0) await this.letGo(f, step, partition, evicted.flatMap(([, list]) => list), `evicted: the store of held rows reached max_keys (${f.id} step ${step.index + 1}); raise option.state.max_keys of '${step.func.fid}' or set a join_window_ms`);
      }
      await this.state.flush(f.id, partition);
      return out;
    }).catch((err: unknown) => {
      this.fail(err);
      throw err;
    }).finally(() => {
      this.inflight--;
      this.settled?.();
    });
  }

  /** Rows held for these keys are joined and go on after their Load step. */
  private async releaseAndRun(f: Flow, step: CompiledStep, partition: number, keys: Iterable<string>): Promise<void> {
    const held = f.stateOf(step.heldStore!, partition) as KeyedState<HeldRow[]>;
    const r = release(keys, f.lookup(step, partition), held, step.joinAs);
    if (r.rows.length === 0) return;
    const result = await f.run(r.rows, { positions: r.positions, partition, startAt: step.index + 1 });
    this.collect(f, result);
  }

  /** A connector's table (not co-partitioned) got rows: rows held for their keys, in any partition, are released. */
  private savedToTable(c: Connector, keys: readonly string[]): void {
    for (const f of this.flows.values()) {
      if (!f.enabled) continue;
      const steps = (this.joinSteps.get(f.id) ?? []).filter((s) => s.tableStore === undefined && s.connector === c);
      if (steps.length === 0) continue;
      for (const p of this.state.partitions(f.id)) {
        this.inPartition(f, p, async () => {
          for (const step of steps) await this.releaseAndRun(f, step, p, keys);
        }).catch(() => undefined);
      }
    }
  }

  /** Records of a joined connector topic, co-partitioned with the flow's input: into the partition's table store, releasing what waited for them. */
  private async feedTable(f: Flow, topic: string, batch: Batch): Promise<void> {
    const steps = f.steps.filter((s) => s.tableStore !== undefined && s.connector?.topicName === topic);
    if (steps.length === 0) return;
    await this.inPartition(f, batch.partition, async () => {
      const now = f.now();
      for (const step of steps) {
        const table = f.stateOf(step.tableStore!, batch.partition);
        const keys: string[] = [];
        batch.rows.forEach((row, i) => {
          const key = batch.positions[i]?.key ?? step.connector!.keyOf(row);
          if (key === undefined || key === null) return;
          table.set(key, { r: row, t: now });
          keys.push(key);
        });
        await this.releaseAndRun(f, step, batch.partition, keys);
      }
    });
  }

  /**
   * Held rows past the join window (or all of them at the end of the input): a left join emits them unmatched;
   * an inner join dead-letters them (window) or counts them unmatched (end of input). True when any left.
   */
  private async expireHeld(f: Flow, step: CompiledStep, partition: number, windowMs: number | undefined, why: 'window' | 'end'): Promise<boolean> {
    const held = f.stateOf(step.heldStore!, partition) as KeyedState<HeldRow[]>;
    if (held.size === 0) return false;
    const gone = expire(held, f.now(), windowMs);
    if (gone.length === 0) return false;
    if (why === 'end' && step.join !== 'left') this.unmatched += gone.length;
    else await this.letGo(f, step, partition, gone, `no row was saved under the key through connector '${step.func.cid ?? ''}' within join_window_ms (${windowMs} ms)`);
    return true;
  }

  /** Held rows that will not be matched: a left join emits them unmatched, an inner join dead-letters them with the reason. */
  private async letGo(f: Flow, step: CompiledStep, partition: number, gone: readonly HeldRow[], reason: string): Promise<void> {
    if (step.join === 'left') {
      const result = await f.run(gone.map((h) => joinRow(h.r, undefined, step.joinAs)), { positions: gone.map((h) => h.p ?? undefined), partition, startAt: step.index + 1 });
      this.collect(f, result);
    } else {
      const at = new Date().toISOString();
      await this.transport.deadLetters.write(f.id, f.config.deadLetterTopic, gone.map((h): DeadLetter => ({
        row: h.r,
        code: 'KIS_ERR_JOIN_EXPIRED',
        message: `key '${step.connector?.keyOf(h.r) ?? ''}': ${reason}`,
        flow: f.id, fn: step.func.fid, position: h.p ?? undefined, attempts: 0, at,
      })));
    }
  }

  /** Connectors whose whole topic every replica keeps as a table: those joined by flows that are not co-partitioned. */
  private globalTables(): string[] {
    const cids = new Set<string>();
    for (const f of this.flows.values()) {
      for (const s of f.steps) if (f.enabled && s.heldStore !== undefined && s.tableStore === undefined && s.func.cid) cids.add(s.func.cid);
    }
    return [...cids];
  }

  /** A co-partitioned join needs the same partition count on all its topics; a difference stops start-up. */
  private async checkCoPartitioning(): Promise<void> {
    if (!this.transport.partitionCounts) return;
    const problems: string[] = [];
    for (const f of this.flows.values()) {
      const joined = this.joinTopicsOf([f]);
      if (joined.length === 0) continue;
      const inputs = this.inputPartitions(f.id);
      const first = f.steps[0];
      const driven = first?.drivesFlow && first.conn ? [connectorTopic(first.conn).topic] : [];
      const topics = [...new Set([...(typeof inputs === 'number' ? [] : inputs.like), ...driven, ...joined])];
      const counts = await this.transport.partitionCounts(topics);
      const distinct = new Set([...counts.values()]);
      const only = [...distinct][0];
      if (distinct.size === 1 && only !== undefined) this.joinPartitionCounts.set(f.id, only);
      if (distinct.size > 1) {
        problems.push(`flow '${f.id}' joins topics that are not co-partitioned: ${[...counts].map(([t, n]) => `${t} has ${n ?? 'no'} partitions`).join(', ')}. ` +
          'Joined topics need the same partition count and the same key, so that one member owns partition n of each: set the connectors\' params.partitions to the input\'s count, or repartition the input through a Save to a connector with that count');
      }
    }
    if (problems.length > 0) throw new KisError('KIS_ERR_CONNECTOR', problems.join('\n'));
  }

  /** True when every input of the flow is a Kafka topic (kafka sources, or its connector's topic), so its joins can be co-partitioned. */
  private kafkaFed(flowId: string): boolean {
    if (!this.config.global.kafka) return false;
    const fc = this.config.flows.get(flowId);
    const feeding = [...this.config.sources.values()].filter((sc) => sc.flows.includes(flowId));
    if (feeding.length > 0) return feeding.every((sc) => sc.type === 'kafka');
    const first = fc?.steps[0] ? this.config.funcs.get(fc.steps[0].fid) : undefined;
    return first?.mode === 'Load';
  }

  /** The topics these flows join co-partitioned, read by the same consumers as the flows' inputs. */
  private joinTopicsOf(flows: readonly Flow[]): string[] {
    return [...new Set(flows.flatMap((f) => this.joinedTopics.get(f.id) ?? []))];
  }

  private collect(f: Flow, result: RunResult): void {
    this.rowsOut[f.id] = (this.rowsOut[f.id] ?? 0) + result.output.length;
    this.opts.onRun?.(f.id, result);
  }

  private fail(err: unknown): void {
    if (this.failure) return;
    this.failure = err;
    this.opts.logger.error({ err: errorMessage(err) }, 'the service stops: an error it cannot recover from (offsets after the last commit will be processed again)');
    this.abort.abort();
  }
}
