// Dead letters for the console. Kafka mode: read from the flow's dead-letter topic (src/repair/dlq.ts), with
// `replayed` from `<app_id>.<flow>.replayed`; a replay runs through the running service, in the flow's
// partition executor. Embedded mode: the running service's dead letters, kept here in memory (bounded),
// replayed the same way and marked replayed in memory.
import type { Kafka } from 'kafkajs';
import type { Logger } from 'pino';
import type { DeadLetter, DeadLetterPage, DeadLetterQuery, ReplayRequest, ReplayResult } from '../contract.js';
import { ApiRefusal } from '../backend.js';
import type { KisConfig } from '../../config/model.js';
import { REJECTION_CODES, type DeadLetter as CoreDeadLetter } from '../../core/dead-letter.js';
import type { Position } from '../../kernel/types.js';
import { matches, replayDeadLetters, toDeadLetter, type DeadLetterFilter, type DeadLetterRecord, type ReplayRunner } from '../../repair/dlq.js';
import { replayedTopic, replayKey } from '../../repair/names.js';
import { readTopics } from '../../repair/read.js';
import type { Supervisor } from '../../runtime/supervisor.js';

/** Dead letters kept in memory in embedded mode, oldest dropped first. */
export const MEMORY_DEAD_LETTERS = 10_000;

const DEFAULT_LIMIT = 200;
const MAX_LIMIT = 1000;

/** `<dlq topic>/<partition>@<offset>` -> the key replays are recorded under. */
export function parseLetterId(id: string): string {
  const m = /^(.+)\/(\d+)@(\d+)$/.exec(id);
  if (!m) throw new ApiRefusal(400, 'API_BAD_REQUEST', `'${id}' is not a dead-letter id (<dlq topic>/<partition>@<offset>)`, 'ids');
  return replayKey(m[1]!, Number(m[2]), m[3]!);
}

function filterOf(q: Omit<DeadLetterQuery, 'flow' | 'limit'> | undefined, ids?: readonly string[]): DeadLetterFilter {
  return {
    ...(q?.code !== undefined ? { code: q.code } : {}),
    ...(q?.fn !== undefined ? { fn: q.fn } : {}),
    ...(q?.key !== undefined ? { key: q.key } : {}),
    ...(q?.since !== undefined ? { since: q.since } : {}),
    ...(q?.until !== undefined ? { until: q.until } : {}),
    ...(ids !== undefined ? { ids: new Set(ids.map(parseLetterId)) } : {}),
  };
}

function toContract(d: DeadLetterRecord, replayed: boolean, headers: Readonly<Record<string, string>>): DeadLetter {
  return {
    id: `${d.topic}/${d.partition}@${d.offset}`, flow: d.flow, fn: d.fn, code: d.code, message: d.message, at: d.at, key: d.key, attempts: d.attempts,
    source: d.source ? { id: d.source.id, ...(d.source.topic !== undefined ? { topic: d.source.topic } : {}), partition: d.source.partition, offset: d.source.offset } : null,
    row: d.row ?? null, raw: d.row ? null : d.raw, headers, replayed,
  };
}

function page(flow: string, all: readonly DeadLetter[], limit: number | undefined): DeadLetterPage {
  const n = Math.min(Math.max(1, limit ?? DEFAULT_LIMIT), MAX_LIMIT);
  const byCode: Record<string, number> = {};
  const byFn: Record<string, number> = {};
  for (const d of all) {
    byCode[d.code] = (byCode[d.code] ?? 0) + 1;
    byFn[d.fn] = (byFn[d.fn] ?? 0) + 1;
  }
  const newest = [...all].sort((a, b) => b.at - a.at || (a.id < b.id ? 1 : -1));
  return { flow, total: all.length, letters: newest.slice(0, n), by_code: byCode, by_fn: byFn };
}

/** The running service as a replay runner: each row in its flow's partition executor. */
export function runningServiceRunner(supervisor: Supervisor): ReplayRunner {
  return {
    steps: (flowId) => supervisor.current.flows.get(flowId)?.steps.map((s) => s.func.fid) ?? [],
    run: (flowId, rows, startAt, partition, positions) => supervisor.current.runInPartition(flowId, rows, startAt, partition, positions),
    close: async () => undefined,
  };
}

export interface DeadLetterSource {
  list(config: KisConfig, q: DeadLetterQuery): Promise<DeadLetterPage>;
  replay(config: KisConfig, req: ReplayRequest): Promise<ReplayResult>;
}

export class KafkaDeadLetters implements DeadLetterSource {
  constructor(private readonly kafka: Kafka, private readonly supervisor: Supervisor, private readonly logger: Logger) {}

  async list(config: KisConfig, q: DeadLetterQuery): Promise<DeadLetterPage> {
    const flow = config.flows.get(q.flow)!;
    const recorded = replayedTopic(config.global.appId, q.flow);
    const read = await readTopics(this.kafka, [flow.deadLetterTopic, recorded]);
    const done = new Set<string>();
    for (const r of read) {
      if (r.topic !== recorded || r.key === null) continue;
      const state = r.value === null ? undefined : (JSON.parse(r.value) as { state?: string }).state;
      if (state === 'done') done.add(r.key);
      else done.delete(r.key);
    }
    const filter = filterOf(q);
    const letters = read.filter((r) => r.topic === flow.deadLetterTopic).flatMap((r) => {
      const d = toDeadLetter(r);
      return (d.flow === '' || d.flow === q.flow) && matches(d, filter) ? [toContract(d, done.has(replayKey(d.topic, d.partition, d.offset)), r.headers)] : [];
    });
    return page(q.flow, letters, q.limit);
  }

  async replay(config: KisConfig, req: ReplayRequest): Promise<ReplayResult> {
    const report = await replayDeadLetters(this.kafka, config, req.flow, runningServiceRunner(this.supervisor), {
      filter: filterOf(req.filter, req.ids), fromStart: req.from_start === true, logger: this.logger,
    });
    return {
      flow: report.flow, counts: report.counts,
      rows: report.rows.map((r) => ({ id: r.dlq.replace(/^(.*):(\d+):(\d+)$/, '$1/$2@$3'), outcome: r.outcome, from: r.from ?? null, ...(r.code ? { code: r.code } : {}) })),
    };
  }
}

interface Kept {
  readonly seq: number;
  readonly letter: CoreDeadLetter;
  readonly at: number;
  replayed: boolean;
}

/** Embedded mode: the dead letters the running service wrote, in memory (the last MEMORY_DEAD_LETTERS). */
export class MemoryDeadLetters implements DeadLetterSource {
  private readonly kept: Kept[] = [];
  private seq = 0;

  /** The running service, once it exists (the store is made before it, to be handed to it). */
  supervisor: () => Supervisor | undefined = () => undefined;

  constructor(private readonly capacity = MEMORY_DEAD_LETTERS) {}

  /** Hand this to the service (SupervisorOptions.onDeadLetters). */
  readonly add = (letters: readonly CoreDeadLetter[]): void => {
    for (const letter of letters) {
      const at = Date.parse(letter.at);
      this.kept.push({ seq: this.seq++, letter, at: Number.isFinite(at) ? at : Date.now(), replayed: false });
    }
    if (this.kept.length > this.capacity) this.kept.splice(0, this.kept.length - this.capacity);
  };

  private record(config: KisConfig, k: Kept): DeadLetterRecord {
    const d = k.letter;
    const topic = config.flows.get(d.flow)?.deadLetterTopic ?? `${d.flow}.dlq`;
    const p = d.position;
    return {
      topic, partition: 0, offset: String(k.seq), at: k.at, key: p?.key ?? null, code: d.code, message: d.message, flow: d.flow, fn: d.fn, attempts: d.attempts,
      source: p ? { id: p.source, topic: p.topic, partition: p.partition, offset: p.offset } : undefined,
      row: d.code === 'KIS_ERR_ROW_DECODE' ? undefined : d.row, raw: d.code === 'KIS_ERR_ROW_DECODE' ? String(d.row['raw'] ?? '') : JSON.stringify(d.row),
    };
  }

  private select(config: KisConfig, flow: string, filter: DeadLetterFilter): Array<{ k: Kept; d: DeadLetterRecord }> {
    return this.kept.filter((k) => k.letter.flow === flow).map((k) => ({ k, d: this.record(config, k) })).filter(({ d }) => matches(d, filter));
  }

  async list(config: KisConfig, q: DeadLetterQuery): Promise<DeadLetterPage> {
    const headers = (d: DeadLetterRecord): Record<string, string> => ({ 'kis-flow': d.flow, 'kis-fn': d.fn, 'kis-error-code': d.code, 'kis-error-message': d.message, 'kis-attempts': String(d.attempts) });
    return page(q.flow, this.select(config, q.flow, filterOf(q)).map(({ k, d }) => toContract(d, k.replayed, headers(d))), q.limit);
  }

  async replay(config: KisConfig, req: ReplayRequest): Promise<ReplayResult> {
    const sup = this.supervisor();
    if (!sup) throw new ApiRefusal(503, 'API_UNAVAILABLE', 'the service is not running');
    const runner = runningServiceRunner(sup);
    const steps = runner.steps(req.flow);
    const counts: Record<ReplayResult['counts'] extends Readonly<Record<infer K, number>> ? K : never, number> = { out: 0, rejected: 0, dead_lettered: 0, no_output: 0, skipped_replayed: 0, skipped_undecodable: 0 };
    const rows: ReplayResult['rows'][number][] = [];
    for (const { k, d } of this.select(config, req.flow, filterOf(req.filter, req.ids))) {
      const id = `${d.topic}/${d.partition}@${d.offset}`;
      if (k.replayed) {
        counts.skipped_replayed++;
        rows.push({ id, outcome: 'skipped_replayed', from: null });
        continue;
      }
      if (!d.row) {
        counts.skipped_undecodable++;
        rows.push({ id, outcome: 'skipped_undecodable', from: null });
        continue;
      }
      const failedAt = d.fn === '' ? 0 : steps.indexOf(d.fn);
      if (failedAt < 0 && req.from_start !== true) {
        throw new ApiRefusal(409, 'API_CONFLICT', `dead letter ${id} failed in '${d.fn}', which is no longer a step of flow '${req.flow}' (steps: ${steps.join(', ')}); replay it from the start`, 'from_start');
      }
      const startAt = req.from_start === true ? 0 : failedAt;
      const position: Position | undefined = k.letter.position;
      const result = await runner.run(req.flow, [d.row], startAt, position?.partition ?? 0, [position]);
      const again = result.deadLetters[0];
      const outcome = result.output.length > 0 && !again ? 'out'
        : again ? (REJECTION_CODES.has(again.code) ? 'rejected' : 'dead_lettered')
          : result.stopReason === 'end' || result.stopReason === 'abort' ? 'out' : 'no_output';
      k.replayed = true;
      counts[outcome]++;
      rows.push({ id, outcome, from: steps[startAt] ?? null, ...(again ? { code: again.code } : {}) });
    }
    return { flow: req.flow, counts, rows };
  }
}
