// Dead letters of a flow, listed, shown and replayed (Kafka mode; embedded mode keeps nothing persistent:
// its dead letters live only in the process that wrote them). A replay runs each selected row through the
// flow as it is configured now, from the step that failed (the dead letter's kis-fn) or from the start, and
// records every replayed dead letter in the compacted `<app_id>.<flow>.replayed` topic, keyed by its dlq
// topic, partition and offset, once the row's run is durable: replaying again skips what is recorded.
import type { Kafka, Producer } from 'kafkajs';
import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';
import type { KisConfig } from '../config/model.js';
import { REJECTION_CODES } from '../core/dead-letter.js';
import type { RunResult } from '../core/flow.js';
import { createKafka } from '../kafka/client.js';
import { errorMessage, isKisError, KisError, type KisErrorCode } from '../kernel/errors.js';
import type { Position, Row } from '../kernel/types.js';
import { silentLogger } from '../observability/logger.js';
import { prepareApp } from '../runtime/app.js';
import { KisService } from '../runtime/service.js';
import { flowOf, flowTopics, requireKafka } from './inputs.js';
import { parseLineage } from '../kafka/headers.js';
import { replayedTopic, replayKey } from './names.js';
import { readTopics, type TopicRecord } from './read.js';

export interface DeadLetterRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  /** When it was dead-lettered (the record's timestamp, ms). */
  readonly at: number;
  readonly key: string | null;
  readonly code: string;
  readonly message: string;
  readonly flow: string;
  readonly fn: string;
  readonly attempts: number;
  /** Where its row came from: `<source> <topic>/<partition>@<offset>` parts, when known. */
  readonly source: { readonly id: string; readonly topic: string | undefined; readonly partition: number; readonly offset: string } | undefined;
  /** The row (parsed), or undefined when the value is not JSON (an undecodable record: its raw text is in `raw`). */
  readonly row: Row | undefined;
  readonly raw: string | null;
}

export interface DeadLetterFilter {
  readonly code?: string;
  readonly fn?: string;
  /** ms since the epoch, inclusive. */
  readonly since?: number;
  readonly until?: number;
  /** The record key, or the value of the row's `key` field... any row field equal to it (string compare). */
  readonly key?: string;
  /** Only these dead letters, by replayKey(topic, partition, offset) (the console's selection). */
  readonly ids?: ReadonlySet<string>;
}

export function toDeadLetter(r: TopicRecord): DeadLetterRecord {
  const h = r.headers;
  let row: Row | undefined;
  try {
    const v = r.value === null ? undefined : JSON.parse(r.value) as unknown;
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) row = v as Row;
  } catch {
    row = undefined;
  }
  const src = h['kis-source'];
  return {
    topic: r.topic, partition: r.partition, offset: r.offset, at: r.timestamp, key: r.key,
    code: h['kis-error-code'] ?? '', message: h['kis-error-message'] ?? '', flow: h['kis-flow'] ?? '', fn: h['kis-fn'] ?? '',
    attempts: Number(h['kis-attempts'] ?? 0),
    source: src !== undefined ? { id: src, topic: h['kis-topic'], partition: Number(h['kis-partition'] ?? 0), offset: h['kis-offset'] ?? '' } : undefined,
    row: row && row['raw'] !== undefined && h['kis-error-code'] === 'KIS_ERR_ROW_DECODE' ? undefined : row,
    raw: r.value,
  };
}

export function matches(d: DeadLetterRecord, f: DeadLetterFilter): boolean {
  if (f.ids !== undefined && !f.ids.has(replayKey(d.topic, d.partition, d.offset))) return false;
  if (f.code !== undefined && d.code !== f.code) return false;
  if (f.fn !== undefined && d.fn !== f.fn) return false;
  if (f.since !== undefined && d.at < f.since) return false;
  if (f.until !== undefined && d.at > f.until) return false;
  if (f.key !== undefined && d.key !== f.key && !(d.row && Object.values(d.row).some((v) => v !== null && typeof v !== 'object' && String(v) === f.key))) return false;
  return true;
}

export { flowOf, requireKafka } from './inputs.js';

/** The dead letters of a flow that match the filter, oldest first per partition. */
export async function listDeadLetters(kafka: Kafka, config: KisConfig, flowId: string, filter: DeadLetterFilter = {}): Promise<DeadLetterRecord[]> {
  const flow = flowOf(config, flowId);
  const records = await readTopics(kafka, [flow.deadLetterTopic]);
  return records.map(toDeadLetter).filter((d) => (d.flow === '' || d.flow === flowId) && matches(d, filter));
}

export type ReplayOutcome = 'out' | 'rejected' | 'dead_lettered' | 'no_output' | 'skipped_replayed' | 'skipped_undecodable';

export interface ReplayRow {
  readonly dlq: string;
  readonly outcome: ReplayOutcome;
  /** The step the row ran from (its fid), or undefined when skipped. */
  readonly from: string | undefined;
  /** The code of the new dead letter (rejected / dead_lettered). */
  readonly code?: string;
}

export interface ReplayReport {
  readonly flow: string;
  readonly rows: readonly ReplayRow[];
  readonly counts: Readonly<Record<ReplayOutcome, number>>;
}

/**
 * Runs rows through a flow as the service would (Saves, sinks and dead letters acknowledged before it
 * resolves). The standalone runner below builds a service without sources; inside a running service the
 * lead's hook runs it in the flow's partition executor (state and order shared with the live stream).
 */
export interface ReplayRunner {
  /** The fids of the flow's steps, in order. */
  steps(flowId: string): readonly string[];
  /** `positions`: the source position of each row (kept in the lineage of what it saves, and in new dead letters). */
  run(flowId: string, rows: readonly Row[], startAt: number, partition: number, positions?: readonly (Position | undefined)[]): Promise<RunResult>;
  close(): Promise<void>;
}

/** A service built from the config, without its sources: only the flows and their connectors. */
export async function serviceRunner(config: KisConfig, pool: Parameters<typeof KisService.create>[1]['pool'], logger: Logger): Promise<ReplayRunner> {
  const svc = KisService.create(config, { pool, logger, withoutSources: true, withoutJobs: true, tickMs: 0 });
  await svc.transport.start();
  for (const c of svc.connectors.values()) await c.start?.();
  return {
    steps: (flowId) => svc.flows.get(flowId)?.steps.map((s) => s.func.fid) ?? [],
    async run(flowId, rows, startAt, partition, positions) {
      const f = svc.flows.get(flowId);
      if (!f) throw new KisError('KIS_ERR_REPAIR_REQUEST', `no flow '${flowId}'`);
      return f.run(rows, { startAt, partition, ...(positions ? { positions } : {}) });
    },
    close: () => svc.close(),
  };
}

export interface ReplayOptions {
  readonly filter?: DeadLetterFilter;
  /** Run from the first step instead of the step that failed. */
  readonly fromStart?: boolean;
  readonly logger?: Logger;
  /** Counts replayed rows as kisflow_dlq_replayed_total{flow,outcome}. */
  readonly registry?: Registry;
  /** Called after each row (progress). */
  readonly onRow?: (r: ReplayRow) => void;
}

const OUTCOMES: readonly ReplayOutcome[] = ['out', 'rejected', 'dead_lettered', 'no_output', 'skipped_replayed', 'skipped_undecodable'];

/** Replays the flow's dead letters that match; each replayed one is recorded so that a second replay skips it. */
export async function replayDeadLetters(kafka: Kafka, config: KisConfig, flowId: string, runner: ReplayRunner, opts: ReplayOptions = {}): Promise<ReplayReport> {
  const logger = opts.logger ?? silentLogger();
  const flow = flowOf(config, flowId);
  const recordTopic = replayedTopic(config.global.appId, flowId);
  // One read of both topics (each read joins a throw-away group, which costs the group's initial delay).
  const read = await readTopics(kafka, [flow.deadLetterTopic, recordTopic]);
  const letters = read.filter((r) => r.topic === flow.deadLetterTopic).map(toDeadLetter).filter((d) => (d.flow === '' || d.flow === flowId) && matches(d, opts.filter ?? {}));
  // The last record of a key wins (compaction keeps only it): 'done', or 'running' when a replay stopped
  // (killed) between the start of the row's run and its record: in doubt.
  const done = new Set<string>();
  const inDoubt = new Map<string, number>();
  for (const r of read) {
    if (r.topic !== recordTopic || r.key === null) continue;
    done.delete(r.key);
    inDoubt.delete(r.key);
    const state = r.value === null ? undefined : (JSON.parse(r.value) as { state?: string }).state;
    if (state === 'running') inDoubt.set(r.key, r.timestamp);
    else if (r.value !== null) done.add(r.key);
  }
  // A row in doubt whose Save wrote a record naming its source position (kis-lineage) after it started did
  // run through: it is recorded as done rather than run twice. Without one (or without lineage) it runs again.
  const savedFrom = new Map<string, number>();
  if (inDoubt.size > 0) {
    for (const r of await readTopics(kafka, flowTopics(config, flowId).outputs)) {
      const l = parseLineage(r.headers['kis-lineage']);
      if (l?.from && l.by.startsWith(`${flowId}/`)) savedFrom.set(`${l.from.source}\u0000${l.from.partition}\u0000${l.from.offset}`, r.timestamp);
    }
  }
  const steps = runner.steps(flowId);
  const counter = opts.registry
    ? (opts.registry.getSingleMetric('kisflow_dlq_replayed_total') as Counter<'flow' | 'outcome'> | undefined)
      ?? new Counter({ name: 'kisflow_dlq_replayed_total', help: 'Dead letters replayed, by outcome.', labelNames: ['flow', 'outcome'], registers: [opts.registry] })
    : undefined;
  const counts = Object.fromEntries(OUTCOMES.map((o) => [o, 0])) as Record<ReplayOutcome, number>;
  const rows: ReplayRow[] = [];
  const note = (r: ReplayRow): void => {
    rows.push(r);
    counts[r.outcome]++;
    counter?.inc({ flow: flowId, outcome: r.outcome });
    opts.onRow?.(r);
  };
  let producer: Producer | undefined;
  try {
    for (const d of letters) {
      const key = replayKey(d.topic, d.partition, d.offset);
      if (done.has(key)) {
        note({ dlq: key, outcome: 'skipped_replayed', from: undefined });
        continue;
      }
      if (!d.row) {
        note({ dlq: key, outcome: 'skipped_undecodable', from: undefined });
        continue;
      }
      const failedAt = d.fn === '' ? 0 : steps.indexOf(d.fn);
      if (failedAt < 0 && !opts.fromStart) {
        throw new KisError('KIS_ERR_REPAIR_REQUEST', `dead letter ${key} failed in '${d.fn}', which is no longer a step of flow '${flowId}' (steps: ${steps.join(', ')}); replay it with --from-start`);
      }
      const startAt = opts.fromStart ? 0 : failedAt;
      if (!producer) {
        producer = kafka.producer({ allowAutoTopicCreation: true, idempotent: false });
        await producer.connect();
      }
      const started = inDoubt.get(key);
      const savedAt = d.source ? savedFrom.get(`${d.source.id}\u0000${d.source.partition}\u0000${d.source.offset}`) : undefined;
      if (started !== undefined && savedAt !== undefined && savedAt >= started - 1_000) {
        await producer.send({ topic: recordTopic, acks: -1, messages: [{ key, value: JSON.stringify({ state: 'done', at: new Date().toISOString(), outcome: 'out', from: steps[startAt], recovered: true }) }] });
        done.add(key);
        note({ dlq: key, outcome: 'skipped_replayed', from: steps[startAt] });
        continue;
      }
      await producer.send({ topic: recordTopic, acks: -1, messages: [{ key, value: JSON.stringify({ state: 'running', at: new Date().toISOString(), from: steps[startAt] }) }] });
      // The row goes to the partition it came from, so that keyed state and joins find it where its key lives.
      const position: Position | undefined = d.source
        ? { source: d.source.id, partition: d.source.partition, offset: d.source.offset, ...(d.source.topic !== undefined ? { topic: d.source.topic } : {}), key: d.key }
        : undefined;
      const result = await runner.run(flowId, [d.row], startAt, d.source?.partition ?? 0, [position]);
      const again = result.deadLetters[0];
      const outcome: ReplayOutcome = result.output.length > 0 && !again ? 'out'
        : again ? (REJECTION_CODES.has(again.code) ? 'rejected' : 'dead_lettered')
          : result.stopReason === 'end' || result.stopReason === 'abort' ? 'out' : 'no_output';
      // Done only after the run is durable (its Saves, sinks and new dead letters acknowledged).
      await producer.send({ topic: recordTopic, acks: -1, messages: [{ key, value: JSON.stringify({ state: 'done', at: new Date().toISOString(), outcome, from: steps[startAt], code: again?.code }) }] });
      done.add(key);
      note({ dlq: key, outcome, from: steps[startAt], ...(again ? { code: again.code } : {}) });
    }
  } catch (err) {
    throw isKisError(err) ? err : new KisError('KIS_ERR_REPAIR', `replay of flow '${flowId}' stopped after ${rows.length} of ${letters.length} dead letters: ${errorMessage(err)}; what was replayed is recorded in ${recordTopic}, run it again to go on`, { cause: err });
  } finally {
    await producer?.disconnect().catch(() => undefined);
  }
  logger.info({ flow: flowId, dlq: flow.deadLetterTopic, ...counts }, 'dead-letter replay finished');
  return { flow: flowId, rows, counts };
}

// ---- command line ------------------------------------------------------------------------------

export interface CommandContext {
  /** The config directory (default $KISFLOW_CONFIG, else ./config). */
  readonly configDir?: string;
  readonly stdout?: { write(text: string): unknown };
  readonly logger?: Logger;
  readonly registry?: Registry;
  /** For tests: instead of a service built from the config. */
  readonly runner?: ReplayRunner;
}

/** `--name value` and `--flag` options; positionals before them. */
export function parseOptions(args: readonly string[], flags: readonly string[], values: readonly string[]): { positionals: string[]; opts: Record<string, string | true> } {
  const positionals: string[] = [];
  const opts: Record<string, string | true> = {};
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (!a.startsWith('--')) {
      positionals.push(a);
      continue;
    }
    const [name, inline] = a.slice(2).split(/=(.*)/s, 2) as [string, string | undefined];
    if (flags.includes(name)) opts[name] = true;
    else if (values.includes(name)) {
      const v = inline ?? args[++i];
      if (v === undefined) throw new KisError('KIS_ERR_USAGE', `--${name} needs a value`);
      opts[name] = v;
    } else throw new KisError('KIS_ERR_USAGE', `unknown option --${name} (options: ${[...values, ...flags].map((o) => `--${o}`).join(', ')})`);
  }
  return { positionals, opts };
}

/** A time as ISO 8601 or ms since the epoch; a time in the future is refused. */
export function parseTime(text: string, what: string, now: number | undefined = Date.now()): number {
  const ms = /^\d+$/.test(text) ? Number(text) : Date.parse(text);
  if (!Number.isFinite(ms)) throw new KisError('KIS_ERR_REPAIR_REQUEST', `${what}: '${text}' is not a time (ISO 8601, e.g. 2026-11-30T05:00:00Z, or ms since the epoch)`);
  if (now !== undefined && ms > now + 1_000) throw new KisError('KIS_ERR_REPAIR_REQUEST', `${what}: ${new Date(ms).toISOString()} is in the future`);
  return ms;
}

function describe(d: DeadLetterRecord): string {
  const src = d.source ? ` from ${d.source.id}${d.source.topic ? ` ${d.source.topic}` : ''}/${d.source.partition}@${d.source.offset}` : '';
  return `${d.topic}:${d.partition}:${d.offset} ${new Date(d.at).toISOString()} ${d.code} fn=${d.fn || '-'} key=${d.key ?? '-'}${src}: ${d.message}`;
}

/**
 * `kisflow dlq list|show|replay --flow F [--code C] [--fn F] [--since T] [--until T] [--key K] [--from-start] [--config DIR]`.
 * Resolves with the exit code: 0, or 1 when a replay dead-lettered or rejected rows again.
 */
export async function dlqCommand(args: readonly string[], ctx: CommandContext = {}): Promise<number> {
  const { positionals, opts } = parseOptions(args, ['from-start', 'json'], ['flow', 'code', 'fn', 'since', 'until', 'key', 'config']);
  const sub = positionals[0];
  if (sub !== 'list' && sub !== 'show' && sub !== 'replay') throw new KisError('KIS_ERR_USAGE', 'usage: kisflow dlq list|show|replay --flow F [--code C] [--fn F] [--since T] [--until T] [--key K] [--from-start]');
  if (typeof opts['flow'] !== 'string') throw new KisError('KIS_ERR_USAGE', `dlq ${sub} needs --flow F`);
  const flowId = opts['flow'];
  const out = ctx.stdout ?? process.stdout;
  const logger = ctx.logger ?? silentLogger();
  const app = await prepareApp(typeof opts['config'] === 'string' ? opts['config'] : ctx.configDir ?? process.env['KISFLOW_CONFIG'] ?? 'config');
  flowOf(app.config, flowId);
  const cluster = requireKafka(app.config, `dlq ${sub}`);
  const now = Date.now();
  const filter: DeadLetterFilter = {
    ...(typeof opts['code'] === 'string' ? { code: opts['code'] } : {}),
    ...(typeof opts['fn'] === 'string' ? { fn: opts['fn'] } : {}),
    ...(typeof opts['since'] === 'string' ? { since: parseTime(opts['since'], '--since', now) } : {}),
    ...(typeof opts['until'] === 'string' ? { until: parseTime(opts['until'], '--until', undefined) } : {}),
    ...(typeof opts['key'] === 'string' ? { key: opts['key'] } : {}),
  };
  if (filter.code !== undefined && !/^KIS_ERR_[A-Z_]+$/.test(filter.code)) throw new KisError('KIS_ERR_USAGE', `--code expects an error code such as KIS_ERR_FUNCTION_FAILED, found '${filter.code}'`);
  const kafka = createKafka(cluster, logger);
  if (sub === 'list' || sub === 'show') {
    const letters = await listDeadLetters(kafka, app.config, flowId, filter);
    if (opts['json'] === true) {
      out.write(JSON.stringify(letters) + '\n');
      return 0;
    }
    if (sub === 'list') {
      const byCode = new Map<string, number>();
      for (const d of letters) byCode.set(`${d.code} fn=${d.fn || '-'}`, (byCode.get(`${d.code} fn=${d.fn || '-'}`) ?? 0) + 1);
      out.write(`${letters.length} dead letters of flow ${flowId}\n`);
      for (const [k, n] of byCode) out.write(`  ${n}\t${k}\n`);
      for (const d of letters) out.write(`${describe(d)}\n`);
    } else {
      for (const d of letters) out.write(`${describe(d)}\n  row: ${d.row ? JSON.stringify(d.row) : `(undecodable) ${d.raw ?? ''}`}\n`);
    }
    return 0;
  }
  const runner = ctx.runner ?? await serviceRunner(app.config, app.pool, logger);
  try {
    const report = await replayDeadLetters(kafka, app.config, flowId, runner, {
      filter, fromStart: opts['from-start'] === true, logger, ...(ctx.registry ? { registry: ctx.registry } : {}),
    });
    if (opts['json'] === true) out.write(JSON.stringify(report) + '\n');
    else {
      for (const r of report.rows) out.write(`${r.dlq}\t${r.outcome}${r.from ? `\tfrom ${r.from}` : ''}${r.code ? `\t${r.code}` : ''}\n`);
      out.write(`replayed flow ${flowId}: ${OUTCOMES.map((o) => `${o}=${report.counts[o]}`).join(' ')}\n`);
    }
    return report.counts.dead_lettered + report.counts.rejected > 0 ? 1 : 0;
  } finally {
    if (!ctx.runner) await runner.close();
  }
}

export type { KisErrorCode };
