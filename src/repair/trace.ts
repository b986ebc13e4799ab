// The journey of a key's recent rows through a flow, from what is already in Kafka: the input records with
// that key, the records the flow's Saves and topic sinks wrote (matched by key, or by the kis-lineage header
// that names the source record), and its dead letters (matched by key or by the source position in their
// headers). Each input record is one journey: source position -> saved / sunk records -> dead letters.
import type { Kafka } from 'kafkajs';
import type { KisConfig } from '../config/model.js';
import { parseLineage } from '../kafka/headers.js';
import { createKafka } from '../kafka/client.js';
import { KisError } from '../kernel/errors.js';
import { silentLogger } from '../observability/logger.js';
import { prepareApp } from '../runtime/app.js';
import { parseOptions, requireKafka, toDeadLetter, type CommandContext } from './dlq.js';
import { flowTopics } from './inputs.js';
import { readTopics, type TopicRecord } from './read.js';

export interface TraceHop {
  readonly kind: 'saved' | 'dead_letter';
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly at: number;
  /** Saved: `<flow>/<fn>` from the lineage header; dead letter: the function that failed. */
  readonly by: string;
  readonly code?: string;
  readonly message?: string;
  readonly value: string | null;
}

export interface Journey {
  /** The input record (undefined for hops whose source record is not in a Kafka input: binlog, file...). */
  readonly input: { readonly topic: string; readonly partition: number; readonly offset: string; readonly at: number; readonly value: string | null } | undefined;
  /** Where the hops say their row came from, when there is no input record (e.g. `shopdb 0@binlog.000003:1234`). */
  readonly source: string | undefined;
  readonly hops: readonly TraceHop[];
}

export interface TraceReport {
  readonly flow: string;
  readonly key: string;
  readonly topics: { readonly inputs: readonly string[]; readonly outputs: readonly string[]; readonly deadLetters: string };
  readonly journeys: readonly Journey[];
}

const posKey = (topic: string | undefined, partition: number, offset: string): string => `${topic ?? ''}\u0000${partition}\u0000${offset}`;

/** The last `limit` journeys of `key` in flow `flowId`. */
export async function traceKey(kafka: Kafka, config: KisConfig, flowId: string, key: string, opts: { readonly limit?: number } = {}): Promise<TraceReport> {
  const t = flowTopics(config, flowId);
  const inputTopics = [...new Set(t.inputs.flatMap((i) => i.topics))];
  const records = await readTopics(kafka, [...new Set([...inputTopics, ...t.outputs, t.deadLetters])]);
  const inputs = records.filter((r) => inputTopics.includes(r.topic) && r.key === key);
  const journeys = new Map<string, { input: TopicRecord | undefined; source: string | undefined; hops: TraceHop[] }>();
  for (const r of inputs) journeys.set(posKey(r.topic, r.partition, r.offset), { input: r, source: undefined, hops: [] });
  const byTime = [...inputs].sort((a, b) => a.timestamp - b.timestamp);
  const attach = (at: string | undefined, source: string | undefined, hop: TraceHop): void => {
    // A record that names no source position (a sink's, or a Save without lineage) belongs to the latest
    // input of the key before it: by key and time, the best there is.
    if (at === undefined) {
      const latest = byTime.filter((r) => r.timestamp <= hop.at).at(-1) ?? byTime[0];
      at = latest ? posKey(latest.topic, latest.partition, latest.offset) : posKey(hop.topic, hop.partition, hop.offset);
    }
    let j = journeys.get(at);
    if (!j) journeys.set(at, (j = { input: undefined, source, hops: [] }));
    j.hops.push(hop);
  };
  for (const r of records) {
    if (r.topic === t.deadLetters) {
      const d = toDeadLetter(r);
      if (d.flow !== '' && d.flow !== flowId) continue;
      const at = d.source ? posKey(d.source.topic, d.source.partition, d.source.offset) : undefined;
      const rowHasKey = d.row !== undefined && Object.values(d.row).some((v) => v !== null && typeof v !== 'object' && String(v) === key);
      if (r.key !== key && !(at && journeys.has(at)) && !rowHasKey) continue;
      attach(at, d.source ? `${d.source.id} ${d.source.partition}@${d.source.offset}` : undefined,
        { kind: 'dead_letter', topic: r.topic, partition: r.partition, offset: r.offset, at: r.timestamp, by: d.fn, code: d.code, message: d.message, value: r.value });
    } else if (t.outputs.includes(r.topic)) {
      const lineage = parseLineage(r.headers['kis-lineage']);
      if (lineage && !lineage.by.startsWith(`${flowId}/`)) continue;
      const at = lineage?.from ? posKey(lineage.from.topic, lineage.from.partition, lineage.from.offset) : undefined;
      if (r.key !== key && !(at && journeys.has(at))) continue;
      attach(at, lineage?.from ? `${lineage.from.source} ${lineage.from.partition}@${lineage.from.offset}` : undefined,
        { kind: 'saved', topic: r.topic, partition: r.partition, offset: r.offset, at: r.timestamp, by: lineage?.by ?? '', value: r.value });
    }
  }
  const rank = (h: TraceHop): number => (h.kind === 'dead_letter' ? -1 : t.outputs.indexOf(h.topic));
  const all = [...journeys.values()].map((j): Journey => ({
    input: j.input ? { topic: j.input.topic, partition: j.input.partition, offset: j.input.offset, at: j.input.timestamp, value: j.input.value } : undefined,
    source: j.source,
    // By time; records of one run share a millisecond, so then in the order of the flow's steps.
    hops: j.hops.sort((a, b) => a.at - b.at || rank(a) - rank(b)),
  }));
  const when = (j: Journey): number => j.input?.at ?? j.hops[0]?.at ?? 0;
  all.sort((a, b) => when(a) - when(b));
  return { flow: flowId, key, topics: { inputs: inputTopics, outputs: t.outputs, deadLetters: t.deadLetters }, journeys: all.slice(-(opts.limit ?? 20)) };
}

/** `kisflow trace --flow F --key K [--limit N] [--json] [--config DIR]`. */
export async function traceCommand(args: readonly string[], ctx: CommandContext = {}): Promise<number> {
  const { opts } = parseOptions(args, ['json'], ['flow', 'key', 'limit', 'config']);
  if (typeof opts['flow'] !== 'string' || typeof opts['key'] !== 'string') throw new KisError('KIS_ERR_USAGE', 'usage: kisflow trace --flow F --key K [--limit N] [--json]');
  const limit = typeof opts['limit'] === 'string' ? Number(opts['limit']) : 20;
  if (!Number.isInteger(limit) || limit <= 0) throw new KisError('KIS_ERR_USAGE', `--limit expects a positive integer, found '${String(opts['limit'])}'`);
  const out = ctx.stdout ?? process.stdout;
  const app = await prepareApp(typeof opts['config'] === 'string' ? opts['config'] : ctx.configDir ?? process.env['KISFLOW_CONFIG'] ?? 'config');
  const cluster = requireKafka(app.config, 'trace');
  const report = await traceKey(createKafka(cluster, ctx.logger ?? silentLogger()), app.config, opts['flow'], opts['key'], { limit });
  if (opts['json'] === true) {
    out.write(JSON.stringify(report) + '\n');
    return 0;
  }
  out.write(`key ${report.key} in flow ${report.flow}: ${report.journeys.length} journeys (inputs: ${report.topics.inputs.join(', ') || '-'}; outputs: ${report.topics.outputs.join(', ') || '-'}; dead letters: ${report.topics.deadLetters})\n`);
  for (const j of report.journeys) {
    out.write(j.input ? `${j.input.topic}/${j.input.partition}@${j.input.offset} ${new Date(j.input.at).toISOString()} ${j.input.value ?? ''}\n` : `${j.source ?? '(source unknown)'}\n`);
    for (const h of j.hops) {
      out.write(h.kind === 'saved'
        ? `  -> ${h.by || 'saved'} -> ${h.topic}/${h.partition}@${h.offset} ${h.value ?? ''}\n`
        : `  -> dead letter ${h.code} in ${h.by || '-'} -> ${h.topic}/${h.partition}@${h.offset}: ${h.message}\n`);
    }
  }
  return 0;
}
