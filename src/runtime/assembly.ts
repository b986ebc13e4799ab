// Assembly: pure wiring from a validated config to the parts that run it. The transport (embedded log or
// Kafka), the connectors (by their registered types), the compiled flows, keyed state, join coordination,
// the dispatcher and the sources (by their registered types). Nothing runs here; the service starts it.
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { KisConfig } from '../config/model.js';
import type { PathSegment } from '../config/yaml-docs.js';
import { buildFlows } from '../core/build.js';
import { servedByCaas } from '../core/type-check.js';
import type { Connector } from '../core/connector.js';
import type { DeadLetter } from '../core/dead-letter.js';
import type { Flow, RunResult } from '../core/flow.js';
import { NO_OBSERVER, type FlowObserver } from '../core/observer.js';
import type { ConnectorEnv, SourceEnv, TypeEnv } from '../core/plugins.js';
import type { KisPool, PrepareEnv } from '../core/pool.js';
import type { Source, SourceObserver } from '../core/source.js';
import type { StateAccess } from '../core/state.js';
import { EmbeddedTransport } from '../connectors/embedded/transport.js';
import { KafkaTransport } from '../connectors/kafka/transport.js';
import type { ChangelogTopic, Transport } from '../connectors/transport.js';
import { errorMessage, isKisError, KisConfigErrors, KisError } from '../kernel/errors.js';
import { changelogTopic, connectorTopic, DEFAULT_PARTITIONS } from '../kernel/names.js';
import { StateManager, type StateObserver } from '../state/state-manager.js';
import { comparePositions } from '../kernel/positions.js';
import { Dispatcher } from './dispatcher.js';
import { JoinCoordinator, topicTables, type InputPartitions } from './joins.js';

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
  /** Where the metrics of scheduled jobs are registered (the flows' go through `observer`). */
  readonly registry?: Registry;
  /** Leave out the scheduled jobs (the test driver and kisflow validate build a service without them). */
  readonly withoutJobs?: boolean;
}

/** A source and the enabled flows it feeds; `driven` when it is a connector's topic feeding a flow with no source. */
export interface SourceBinding {
  readonly source: Source;
  readonly flows: readonly Flow[];
  readonly driven: boolean;
}

export interface Assembly {
  readonly transport: Transport;
  readonly connectors: ReadonlyMap<string, Connector>;
  readonly flows: ReadonlyMap<string, Flow>;
  readonly state: StateManager;
  readonly joins: JoinCoordinator;
  readonly dispatcher: Dispatcher;
  readonly sources: readonly SourceBinding[];
  /** Flushes and closes registered by built-ins (sinks), run when the service stops. */
  readonly closers: Array<() => Promise<void>>;
}

/** What the service is told while it runs. */
export interface AssemblyHooks {
  readonly deadLettered: (letters: readonly DeadLetter[]) => void;
  readonly fail: (err: unknown) => void;
}

export function assemble(config: KisConfig, opts: ServiceOptions, hooks: AssemblyHooks): Assembly {
  const logger = opts.logger;
  const clock = opts.clock ?? Date.now;
  const types = opts.pool.types;
  const tableEvicted = (cid: string, n: number): void => opts.stateObserver?.evicted(`conn:${cid}`, 'table', n);
  const transport: Transport = config.global.kafka
    ? new KafkaTransport(config, logger, hooks.deadLettered, opts.sourceObserver, clock, tableEvicted)
    : new EmbeddedTransport(logger, hooks.deadLettered, clock, tableEvicted);
  const typeEnv: TypeEnv = { config, logger, clock, ...(transport.kafka ? { kafka: transport.kafka } : {}) };

  const connectorEnv: ConnectorEnv = { ...typeEnv, deadLetters: transport.deadLetters, topicConnector: (conn) => transport.connector(conn) };
  const connectors = new Map<string, Connector>();
  const errors: KisError[] = [];
  for (const c of config.conns.values()) {
    const spec = types.connector(c.type);
    if (!spec || servedByCaas(config, opts.pool, c.cid)) continue; // served by CaaS calls (checked when the flows are built)
    try {
      connectors.set(c.cid, spec.create(c, c.params, connectorEnv));
    } catch (err) {
      errors.push(isKisError(err) ? err : new KisError('KIS_ERR_CONNECTOR', `connector '${c.cid}': ${errorMessage(err)}`, { cause: err }));
    }
  }
  if (errors.length > 0) throw new KisConfigErrors(errors);

  const closers: Array<() => Promise<void>> = [];
  // Late-bound: the flows are built before the state and joins that need them exist.
  let state: StateManager | undefined;
  let joins: JoinCoordinator | undefined;
  const stateAccess: StateAccess = { store: (flow, store, partition) => state!.store(flow, store, partition) };
  const built = buildFlows(config, opts.pool, connectors, {
    deadLetters: transport.deadLetters,
    observer: opts.observer ?? NO_OBSERVER,
    logger,
    state: stateAccess,
    clock,
    joinPartitions: (flow) => joins?.partitionsOf(flow),
  }, {
    stdout: opts.stdout ?? process.stdout,
    onClose: (fn) => closers.push(fn),
    topic: (name) => transport.writer(name),
    ...(opts.locate ? { locate: opts.locate } : {}),
    coPartitioned: (fc) => kafkaFed(config, types, fc.id),
  });
  if (built.errors.length > 0) throw new KisConfigErrors(built.errors);
  const flows = built.flows;

  const inputPartitions = (flowId: string): InputPartitions => partitionsOfInput(config, types, flows, flowId);
  // Late-bound too: the group that feeds a flow is known once its sources exist (one group, or none named).
  const sources: SourceBinding[] = [];
  const groupOf = (flowId: string): string | undefined => {
    const groups = new Set(sources.filter((b) => b.flows.some((f) => f.id === flowId)).map((b) => b.source.groupId));
    const [only] = groups;
    return groups.size === 1 ? only : undefined;
  };
  // Co-partitioned join tables (Kafka only) restore from their connector's topic and need no changelog topic.
  const fromTopic = topicTables(flows, built.stores, groupOf, clock);
  const logged = built.stores.filter((spec) => !fromTopic.some((t) => t.flow === spec.flow && t.store === spec.store));
  state = new StateManager({
    appId: config.global.appId,
    specs: built.stores,
    topicTables: fromTopic,
    backend: transport.changelog(logged.map((spec): ChangelogTopic => ({
      topic: changelogTopic(config.global.appId, spec.flow, spec.store),
      owner: `the changelog of state '${spec.store}' of flow '${spec.flow}'`,
      partitions: inputPartitions(spec.flow),
    }))),
    logger,
    clock,
    ...(opts.stateObserver ? { observer: opts.stateObserver } : {}),
  });
  joins = new JoinCoordinator({
    flows,
    state,
    deadLetters: transport.deadLetters,
    inputPartitions,
    ...(transport.partitionCounts ? { partitionCounts: (topics: readonly string[]) => transport.partitionCounts!(topics) } : {}),
  });
  // Fixed per flow once built: only stateless flows skip what their stores already have.
  const positionsByFlow = new Map([...flows.values()].map((f) => [f.id, built.stores.some((st) => st.flow === f.id) ? undefined : storedPositionsOf(f)]));
  const dispatcher = new Dispatcher({
    state, deadLetters: transport.deadLetters, joins, fail: hooks.fail,
    storedPositions: (f) => positionsByFlow.get(f.id),
    ...(config.global.limits ? { maxRowBytes: config.global.limits.maxBytes } : {}),
    onSkipped: (flow, source, partition, rows, storedUpTo) => logger.info({ flow, source, partition, rows, storedUpTo },
      'rows handed on again were applied to the store already (its positions say so): skipped, not applied twice'),
    ...(opts.onRun ? { onRun: opts.onRun } : {}),
  });
  for (const c of connectors.values()) c.feed?.onSaved((keys) => joins!.savedToTable(c, keys));

  if (!opts.withoutSources) {
    for (const sc of config.sources.values()) {
      const fed = sc.flows.map((id) => flows.get(id)!).filter((f) => f.enabled);
      const spec = types.source(sc.type);
      try {
        if (!spec) throw new KisError('KIS_ERR_CONFIG_UNSUPPORTED', `source '${sc.sid}': no source type '${sc.type}' is registered`);
        const env: SourceEnv = {
          ...typeEnv,
          ...(opts.sourceObserver ? { observer: opts.sourceObserver } : {}),
          ...(opts.stdin ? { stdin: opts.stdin } : {}),
          coPartitionedTopics: joins.topicsOf(fed),
          onAssigned: (a) => dispatcher.assigned(fed, a),
          beforeCommit: (p) => dispatcher.beforeCommit(fed, p),
        };
        const source = spec.create(sc, sc.params, env);
        if (source.callsBeforeCommit === true) dispatcher.flushAtCommit(source.id, fed);
        sources.push({ source, flows: fed, driven: false });
      } catch (err) {
        errors.push(isKisError(err) ? err : new KisError('KIS_ERR_SOURCE', `source '${sc.sid}': ${errorMessage(err)}`, { cause: err }));
      }
    }
    if (errors.length > 0) throw new KisConfigErrors(errors);
  }
  // Flows that start with a Load step and have no source are fed by their connector's topic.
  for (const f of flows.values()) {
    const first = f.steps[0];
    if (f.enabled && first?.drivesFlow && first.conn && first.connector?.feed) {
      const source = transport.drivenSource(f.config, first.conn, (a) => dispatcher.assigned([f], a), joins.topicsOf([f]), (p) => dispatcher.beforeCommit([f], p));
      if (source.callsBeforeCommit === true) dispatcher.flushAtCommit(source.id, [f]);
      sources.push({ source, flows: [f], driven: true });
    }
  }
  return { transport, connectors, flows, state, joins, dispatcher, sources, closers };
}

/** True when every input of the flow is a Kafka topic (kafka sources, or its connector's topic), so its joins can be co-partitioned. */
function kafkaFed(config: KisConfig, types: KisPool['types'], flowId: string): boolean {
  if (!config.global.kafka) return false;
  const fc = config.flows.get(flowId);
  const feeding = [...config.sources.values()].filter((sc) => sc.flows.includes(flowId));
  if (feeding.length > 0) return feeding.every((sc) => types.source(sc.type)?.kafkaFed?.(config) ?? false);
  const first = fc?.steps[0] ? config.funcs.get(fc.steps[0].fid) : undefined;
  return first?.mode === 'Load';
}

/** The partition count of a flow's input, which its changelogs must have. */
function partitionsOfInput(config: KisConfig, types: KisPool['types'], flows: ReadonlyMap<string, Flow>, flowId: string): InputPartitions {
  const like: string[] = [];
  let n = 1;
  for (const sc of config.sources.values()) {
    if (!sc.flows.includes(flowId)) continue;
    const p = types.source(sc.type)?.partitions?.(sc.params, sc, config) ?? 1;
    if (typeof p === 'number') n = Math.max(n, p);
    else like.push(...p.like);
  }
  const first = flows.get(flowId)?.steps[0];
  if (first?.drivesFlow && first.conn) {
    const { topic, partitions } = connectorTopic(first.conn);
    if (config.global.kafka && partitions === undefined) like.push(topic);
    else n = Math.max(n, partitions ?? DEFAULT_PARTITIONS);
  }
  return like.length > 0 ? { like } : n;
}

/**
 * A flow whose Saves all go through connectors that store positions with the data: the positions of a
 * source, the lowest per partition over its stores (a partition one of them lacks is not skipped at all).
 * Only stateless flows skip: a flow with keyed state needs the rows again to rebuild what its state lost
 * (its state is flushed after the database commit), and its upserts of the same results are idempotent.
 */
function storedPositionsOf(f: Flow): ((source: string) => Promise<ReadonlyMap<number, string>>) | undefined {
  const saves = f.steps.filter((s) => s.func.mode === 'Save' && !s.caas && s.connector?.writer);
  if (saves.length === 0 || saves.some((s) => !s.connector!.positions)) return undefined;
  return async (source) => {
    const all = await Promise.all(saves.map((s) => s.connector!.positions!.storedPositions(f.id, source)));
    const out = new Map<number, string>();
    for (const p of all[0]!.keys()) {
      const offsets = all.map((m) => m.get(p));
      if (offsets.some((o) => o === undefined)) continue;
      out.set(p, offsets.reduce((a, b) => (comparePositions(a!, b!) <= 0 ? a : b))!);
    }
    return out;
  };
}
