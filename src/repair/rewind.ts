// Rewind a flow while the service runs: its Kafka input moves to a time, to offsets or to the beginning, and
// its keyed state is reset with it (the changelogs of that flow's stores, no other flow's), without
// stopping any replica. Kafka Streams' reset tool needs every instance stopped and leaves local state behind.
//
// The coordination goes through the compacted control topic `<app_id>.control`, keyed by `rewind:<flow>`:
//   1. the requester writes { phase: 'pause' }; every replica's RewindAgent pauses the flow (its sources stop,
//      in-flight batches finish and commit, its consumers leave the group);
//   2. the requester waits until the flow's consumer group is empty: it joins the group alone with a consumer
//      of its own (a member still there shows up as a partition it is not given, or a refused join);
//   3. it commits the new offsets through that membership (offsets by time: the broker's ListOffsets, or a
//      scan of the record timestamps where the broker cannot), and tombstones every key of the flow's changelogs;
//   4. it writes { phase: 'resume' }; every replica drops the flow's in-memory state and resumes the flow; the
//      partitions are restored from the (now empty) changelogs and read from the new offsets.
// A replica that starts while a rewind is paused finds the 'pause' as the last record of the flow and keeps it
// paused. A rewind that fails after step 1 writes { phase: 'aborted' }: the replicas resume without a reset.
import type { Consumer, Kafka } from 'kafkajs';
import type { Logger } from 'pino';
import type { KisConfig } from '../config/model.js';
import type { KisPool } from '../core/pool.js';
import { errorMessage, isKisError, KisError } from '../kernel/errors.js';
import { changelogTopic } from '../kernel/names.js';
import { silentLogger } from '../observability/logger.js';
import { KisService } from '../runtime/service.js';
import { flowOf, parseOptions, parseTime, requireKafka, type CommandContext } from './dlq.js';
import { createKafka } from '../kafka/client.js';
import { prepareApp } from '../runtime/app.js';
import { flowTopics } from './inputs.js';
import { controlTopic } from './names.js';
import { readTopics } from './read.js';

/** What the runtime does for a rewind, on every replica (the lead implements it in the service). */
export interface FlowControl {
  /** Stops the flow's sources: in-flight batches finish and commit, its consumers leave their groups. */
  pause(flowId: string): Promise<void>;
  /** Starts them again (they rejoin the groups and read from the committed offsets). */
  resume(flowId: string): Promise<void>;
  /** Drops the flow's keyed state in memory, every partition (restored from the changelogs when assigned again). */
  resetState(flowId: string): Promise<void>;
}

export type RewindTarget =
  | { readonly kind: 'time'; readonly at: number }
  | { readonly kind: 'beginning' }
  | { readonly kind: 'offsets'; readonly offsets: Readonly<Record<string, Readonly<Record<number, string>>>> };

export interface ControlRecord {
  readonly type: 'rewind';
  readonly id: string;
  readonly flow: string;
  readonly phase: 'pause' | 'resume' | 'aborted';
  readonly to: RewindTarget;
  readonly at: string;
}

export const controlKey = (flowId: string): string => `rewind:${flowId}`;

export interface RewindOptions {
  readonly logger?: Logger;
  /** How long to wait for the replicas to leave the flow's group (default 60 s: their session timeouts and drains). */
  readonly pauseTimeoutMs?: number;
  /** Offsets for a time: 'broker' (ListOffsets by timestamp, default) or 'scan' (the record timestamps; for clusters without it). */
  readonly timeLookup?: 'broker' | 'scan';
  /** The flow's changelog topics (default: from the config and pool, see flowChangelogs). */
  readonly changelogs?: readonly string[];
  readonly now?: number;
}

export interface RewindReport {
  readonly id: string;
  readonly flow: string;
  readonly group: string;
  /** Per topic and partition: the committed offset before and after. */
  readonly offsets: ReadonlyArray<{ readonly topic: string; readonly partition: number; readonly from: string | null; readonly to: string }>;
  /** Per changelog topic: the keys tombstoned. */
  readonly changelogs: Readonly<Record<string, number>>;
}

/**
 * The changelog topics of a flow's stores (state, held join rows, join tables), and no other flow's. A join table
 * restored from its connector's topic has none: it restores up to the group's new offsets of that topic.
 */
export function flowChangelogs(config: KisConfig, pool: KisPool, flowId: string): string[] {
  flowOf(config, flowId);
  const svc = KisService.create(config, { pool, logger: silentLogger(), withoutSources: true, withoutJobs: true, tickMs: 0 });
  return svc.state.specs.filter((s) => s.flow === flowId && svc.state.topicTableOf(s) === undefined).map((s) => changelogTopic(config.global.appId, s.flow, s.store));
}

/** The group and topics a rewind of the flow moves, or a KIS_ERR_REPAIR_REQUEST saying why it cannot. */
export function rewindPlan(config: KisConfig, flowId: string, to: RewindTarget, now = Date.now()): { group: string; topics: readonly string[] } {
  const flow = flowOf(config, flowId);
  requireKafka(config, 'rewind');
  if (!flow.enabled) throw new KisError('KIS_ERR_REPAIR_REQUEST', `flow '${flowId}' is disabled (status 0): nothing runs to rewind`);
  if (to.kind === 'time' && to.at > now + 1_000) throw new KisError('KIS_ERR_REPAIR_REQUEST', `rewind of flow '${flowId}': ${new Date(to.at).toISOString()} is in the future`);
  const t = flowTopics(config, flowId);
  if (t.otherSources.length > 0) {
    throw new KisError('KIS_ERR_REPAIR_REQUEST',
      `flow '${flowId}' is fed by ${t.otherSources.map((s) => `source '${s.sid}' (type ${s.type})`).join(', ')}, which has no Kafka offsets to move` +
      (t.otherSources.some((s) => s.type === 'binlog') ? '; for a binlog source, re-snapshot the tables instead (requestSnapshot, or the signal table)' : ''));
  }
  if (t.inputs.length !== 1) throw new KisError('KIS_ERR_REPAIR_REQUEST', `flow '${flowId}' has ${t.inputs.length === 0 ? 'no Kafka input' : `${t.inputs.length} Kafka inputs`}; a rewind moves one consumer group`);
  const input = t.inputs[0]!;
  if (input.sharedWith.length > 0) {
    throw new KisError('KIS_ERR_REPAIR_REQUEST',
      `flow '${flowId}' shares its consumer group ${input.group} (source '${input.via}') with ${input.sharedWith.map((f) => `'${f}'`).join(', ')}: moving its offsets would rewind them too. Give the flow a source of its own (params.group_id) to rewind it alone`);
  }
  if (to.kind === 'offsets') {
    for (const topic of Object.keys(to.offsets)) {
      if (!input.topics.includes(topic)) throw new KisError('KIS_ERR_REPAIR_REQUEST', `rewind of flow '${flowId}': topic '${topic}' is not one of its inputs (${input.topics.join(', ')})`);
    }
  }
  return { group: input.group, topics: input.topics };
}

/** Offsets per partition for a target: the first record at or after the time, the low watermark, or as given. */
export async function targetOffsets(kafka: Kafka, topics: readonly string[], to: RewindTarget, lookup: 'broker' | 'scan' = 'broker'): Promise<Array<{ topic: string; partition: number; offset: string }>> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const out: Array<{ topic: string; partition: number; offset: string }> = [];
    for (const topic of topics) {
      const ends = await admin.fetchTopicOffsets(topic);
      if (to.kind === 'beginning') {
        for (const e of ends) out.push({ topic, partition: e.partition, offset: e.low });
      } else if (to.kind === 'offsets') {
        const given = to.offsets[topic] ?? {};
        for (const e of ends) {
          const o = given[e.partition];
          if (o === undefined) continue;
          if (BigInt(o) < BigInt(e.low) || BigInt(o) > BigInt(e.high)) {
            throw new KisError('KIS_ERR_REPAIR_REQUEST', `offset ${o} of ${topic}/${e.partition} is outside what the topic holds (${e.low}..${e.high})`);
          }
          out.push({ topic, partition: e.partition, offset: o });
        }
      } else if (lookup === 'broker') {
        for (const o of await admin.fetchTopicOffsetsByTimestamp(topic, to.at)) out.push({ topic, partition: o.partition, offset: o.offset });
      } else {
        // The first record per partition whose timestamp is at or after the time; the end when there is none.
        const first = new Map<number, string>();
        for (const r of await readTopics(kafka, [topic])) if (r.timestamp >= to.at && !first.has(r.partition)) first.set(r.partition, r.offset);
        for (const e of ends) out.push({ topic, partition: e.partition, offset: first.get(e.partition) ?? e.high });
      }
    }
    return out;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/**
 * Joins `group` alone and holds it: resolves with the consumer once it was given every partition of `topics`
 * (no other member left), or rejects after `timeoutMs`. The caller commits through it and disconnects it.
 */
export async function claimGroup(kafka: Kafka, group: string, topics: readonly string[], timeoutMs: number, logger: Logger): Promise<Consumer> {
  const admin = kafka.admin();
  await admin.connect();
  let partitions = 0;
  try {
    for (const t of topics) partitions += (await admin.fetchTopicOffsets(t)).length;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
  const deadline = Date.now() + timeoutMs;
  let last = '';
  // The replicas need a moment to see the pause and leave; joining among them only makes them rebalance.
  await new Promise((r) => setTimeout(r, 1_000));
  while (Date.now() < deadline) {
    const consumer = kafka.consumer({ groupId: group, sessionTimeout: 10_000, rebalanceTimeout: 10_000, maxWaitTimeInMs: 100, retry: { retries: 0 } });
    try {
      const given = await new Promise<number>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no assignment in time')), Math.max(1_000, deadline - Date.now()));
        // A join refused (a member with another protocol, a rebalance under way) crashes it: try again.
        consumer.on(consumer.events.CRASH, (e) => {
          clearTimeout(timer);
          reject(e.payload.error);
        });
        consumer.on(consumer.events.GROUP_JOIN, (e) => {
          clearTimeout(timer);
          resolve(Object.values(e.payload.memberAssignment).reduce((n, ps) => n + ps.length, 0));
        });
        consumer.connect()
          .then(() => consumer.subscribe({ topics: [...topics], fromBeginning: true }))
          .then(() => consumer.run({ autoCommit: false, eachBatchAutoResolve: false, eachBatch: async ({ pause }) => { pause(); } }))
          .catch((err: unknown) => { clearTimeout(timer); reject(err); });
      });
      consumer.pause(topics.map((topic) => ({ topic })));
      if (given === partitions) return consumer;
      last = `given ${given} of ${partitions} partitions: another member is still in the group`;
    } catch (err) {
      last = errorMessage(err);
    }
    await consumer.disconnect().catch(() => undefined);
    logger.info({ group, why: last }, 'rewind: the group is not empty yet; waiting for the replicas to pause');
    await new Promise((r) => setTimeout(r, 1_000));
  }
  throw new KisError('KIS_ERR_REPAIR', `rewind: the consumer group ${group} did not become empty within ${timeoutMs} ms (${last}); every replica must run a version with the rewind hook (RewindAgent)`);
}

/** Produces a tombstone for every key of the changelogs, to the partition the key lives in; returns the count per topic. */
export async function resetChangelogs(kafka: Kafka, topics: readonly string[]): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  if (topics.length === 0) return out;
  const records = await readTopics(kafka, topics);
  const live = new Map<string, { topic: string; partition: number; key: string }>();
  for (const r of records) {
    if (r.key === null) continue;
    const id = `${r.topic}\u0000${r.partition}\u0000${r.key}`;
    if (r.value === null) live.delete(id);
    else live.set(id, { topic: r.topic, partition: r.partition, key: r.key });
  }
  for (const t of topics) out[t] = 0;
  if (live.size === 0) return out;
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  try {
    const byTopic = new Map<string, Array<{ key: string; value: null; partition: number }>>();
    for (const k of live.values()) {
      const list = byTopic.get(k.topic) ?? [];
      list.push({ key: k.key, value: null, partition: k.partition });
      byTopic.set(k.topic, list);
      out[k.topic] = (out[k.topic] ?? 0) + 1;
    }
    await producer.sendBatch({ acks: -1, topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })) });
  } finally {
    await producer.disconnect().catch(() => undefined);
  }
  return out;
}

async function publish(kafka: Kafka, topic: string, rec: ControlRecord): Promise<void> {
  const producer = kafka.producer({ allowAutoTopicCreation: true });
  await producer.connect();
  try {
    await producer.send({ topic, acks: -1, messages: [{ key: controlKey(rec.flow), value: JSON.stringify(rec) }] });
  } finally {
    await producer.disconnect().catch(() => undefined);
  }
}

/** Runs a rewind of a flow end to end (the coordination above); the replicas' RewindAgents do their part. */
export async function rewindFlow(kafka: Kafka, config: KisConfig, flowId: string, to: RewindTarget, changelogs: readonly string[], opts: RewindOptions = {}): Promise<RewindReport> {
  const logger = opts.logger ?? silentLogger();
  const { group, topics } = rewindPlan(config, flowId, to, opts.now);
  const control = controlTopic(config.global.appId);
  const id = `rw-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
  const rec = (phase: ControlRecord['phase']): ControlRecord => ({ type: 'rewind', id, flow: flowId, phase, to, at: new Date().toISOString() });
  const targets = await targetOffsets(kafka, topics, to, opts.timeLookup ?? 'broker');
  await publish(kafka, control, rec('pause'));
  logger.info({ flow: flowId, id, group }, 'rewind: asked the replicas to pause the flow');
  let consumer: Consumer | undefined;
  try {
    consumer = await claimGroup(kafka, group, topics, opts.pauseTimeoutMs ?? 60_000, logger);
    const admin = kafka.admin();
    await admin.connect();
    let before: Array<{ topic: string; partitions: Array<{ partition: number; offset: string }> }>;
    try {
      before = await admin.fetchOffsets({ groupId: group, topics: [...topics] });
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
    await consumer.commitOffsets(targets.map((t) => ({ topic: t.topic, partition: t.partition, offset: t.offset })));
    await consumer.disconnect();
    consumer = undefined;
    const reset = await resetChangelogs(kafka, changelogs);
    await publish(kafka, control, rec('resume'));
    const prior = (topic: string, partition: number): string | null => {
      const o = before.find((b) => b.topic === topic)?.partitions.find((p) => p.partition === partition)?.offset;
      return o === undefined || o === '-1' ? null : o;
    };
    const report: RewindReport = { id, flow: flowId, group, offsets: targets.map((t) => ({ ...t, from: prior(t.topic, t.partition), to: t.offset })), changelogs: reset };
    logger.info({ flow: flowId, id, group, offsets: report.offsets, changelogs: reset }, 'rewind: done; the replicas resume the flow');
    return report;
  } catch (err) {
    await consumer?.disconnect().catch(() => undefined);
    await publish(kafka, control, rec('aborted')).catch(() => undefined);
    throw isKisError(err) ? err : new KisError('KIS_ERR_REPAIR', `rewind of flow '${flowId}' failed: ${errorMessage(err)}; the replicas resume it where it was`, { cause: err });
  }
}

/**
 * Every replica runs one: it reads the control topic and pauses, resets and resumes flows through the
 * runtime's FlowControl. History is read first; a flow whose last record is a 'pause' stays paused.
 */
export class RewindAgent {
  private consumer: Consumer | undefined;
  private readonly applied = new Map<string, string>();
  /** Flows paused by a rewind now. */
  readonly paused = new Set<string>();

  constructor(private readonly kafka: Kafka, private readonly appId: string, private readonly control: FlowControl, private readonly logger: Logger, private readonly flows?: ReadonlySet<string>) {}

  /** Resolves once the history is applied (flows in a paused rewind are paused) and new requests are followed. */
  async start(): Promise<void> {
    const topic = controlTopic(this.appId);
    const history = await readTopics(this.kafka, [topic]);
    const last = new Map<string, ControlRecord>();
    let end = -1n;
    for (const r of history) {
      end = BigInt(r.offset) > end ? BigInt(r.offset) : end;
      const rec = parse(r.value);
      if (rec) last.set(rec.flow, rec);
    }
    for (const rec of last.values()) {
      this.applied.set(rec.flow, `${rec.id}:${rec.phase}`);
      if (rec.phase === 'pause' && this.wants(rec.flow)) {
        this.paused.add(rec.flow);
        await this.control.pause(rec.flow);
      }
    }
    const consumer = this.kafka.consumer({ groupId: `${this.appId}.control.${process.pid}.${Date.now()}.${Math.random().toString(36).slice(2, 6)}`, maxWaitTimeInMs: 200 });
    this.consumer = consumer;
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ message }) => {
        if (BigInt(message.offset) <= end) return;
        const rec = parse(message.value?.toString('utf8') ?? null);
        if (rec) await this.apply(rec);
      },
    });
  }

  private wants(flow: string): boolean {
    return this.flows === undefined || this.flows.has(flow);
  }

  private async apply(rec: ControlRecord): Promise<void> {
    if (!this.wants(rec.flow) || this.applied.get(rec.flow) === `${rec.id}:${rec.phase}`) return;
    this.applied.set(rec.flow, `${rec.id}:${rec.phase}`);
    try {
      if (rec.phase === 'pause') {
        this.logger.info({ flow: rec.flow, rewind: rec.id }, 'rewind: pausing the flow');
        this.paused.add(rec.flow);
        await this.control.pause(rec.flow);
      } else if (this.paused.has(rec.flow)) {
        if (rec.phase === 'resume') await this.control.resetState(rec.flow);
        this.paused.delete(rec.flow);
        await this.control.resume(rec.flow);
        this.logger.info({ flow: rec.flow, rewind: rec.id, reset: rec.phase === 'resume' }, 'rewind: flow resumed');
      }
    } catch (err) {
      this.logger.error({ flow: rec.flow, rewind: rec.id, phase: rec.phase, err: errorMessage(err) }, 'rewind: the flow control failed');
    }
  }

  async stop(): Promise<void> {
    await this.consumer?.disconnect().catch(() => undefined);
    this.consumer = undefined;
  }
}

function parse(value: string | null): ControlRecord | undefined {
  if (value === null) return undefined;
  try {
    const v = JSON.parse(value) as ControlRecord;
    return v.type === 'rewind' && typeof v.flow === 'string' ? v : undefined;
  } catch {
    return undefined;
  }
}

/** `kisflow rewind --flow F (--time T | --beginning | --offsets topic:partition=offset,...) [--scan] [--config DIR]`. */
export async function rewindCommand(args: readonly string[], ctx: CommandContext = {}): Promise<number> {
  const { opts } = parseOptions(args, ['beginning', 'scan', 'json'], ['flow', 'time', 'offsets', 'config', 'timeout']);
  if (typeof opts['flow'] !== 'string') throw new KisError('KIS_ERR_USAGE', 'usage: kisflow rewind --flow F (--time T | --beginning | --offsets topic:partition=offset,...) [--scan]');
  const picked = [opts['time'], opts['beginning'], opts['offsets']].filter((x) => x !== undefined).length;
  if (picked !== 1) throw new KisError('KIS_ERR_USAGE', 'rewind needs exactly one of --time T, --beginning, --offsets topic:partition=offset,...');
  let to: RewindTarget;
  if (typeof opts['time'] === 'string') to = { kind: 'time', at: parseTime(opts['time'], '--time') };
  else if (opts['beginning'] === true) to = { kind: 'beginning' };
  else {
    const offsets: Record<string, Record<number, string>> = {};
    for (const part of String(opts['offsets']).split(',')) {
      const m = /^(.+):(\d+)=(\d+)$/.exec(part.trim());
      if (!m) throw new KisError('KIS_ERR_USAGE', `--offsets expects topic:partition=offset, found '${part}'`);
      (offsets[m[1]!] ??= {})[Number(m[2])] = m[3]!;
    }
    to = { kind: 'offsets', offsets };
  }
  const out = ctx.stdout ?? process.stdout;
  const logger = ctx.logger ?? silentLogger();
  const app = await prepareApp(typeof opts['config'] === 'string' ? opts['config'] : ctx.configDir ?? process.env['KISFLOW_CONFIG'] ?? 'config');
  rewindPlan(app.config, opts['flow'], to);
  const cluster = requireKafka(app.config, 'rewind');
  const report = await rewindFlow(createKafka(cluster, logger), app.config, opts['flow'], to, flowChangelogs(app.config, app.pool, opts['flow']), {
    logger, timeLookup: opts['scan'] === true ? 'scan' : 'broker', ...(typeof opts['timeout'] === 'string' ? { pauseTimeoutMs: Number(opts['timeout']) } : {}),
  });
  if (opts['json'] === true) out.write(JSON.stringify(report) + '\n');
  else {
    out.write(`rewound flow ${report.flow} (group ${report.group}, request ${report.id})\n`);
    for (const o of report.offsets) out.write(`  ${o.topic}/${o.partition}: ${o.from ?? '-'} -> ${o.to}\n`);
    for (const [t, n] of Object.entries(report.changelogs)) out.write(`  ${t}: ${n} keys reset\n`);
  }
  return 0;
}
