// `kistype: job`: the codec (the single spec: type, validator, schema, reference) and its normalised,
// frozen form. Reference checks (flows, handlers, children) are in checks.ts.
import * as t from 'io-ts';
import { closed } from '../closed.js';
import { NonEmptyString, NonNegativeInt, ParamsCodec, PositiveInt } from '../primitives.js';
import { docError, reportValidation } from '../report.js';
import type { YamlDoc } from '../yaml-docs.js';
import { KisError } from '../../kernel/errors.js';
import { CronError, parseCron, type CronSchedule } from './cron.js';

export const JobTriggerCodec = closed('KisJobTrigger', {}, {
  cron: NonEmptyString,
  tz: NonEmptyString,
  every_ms: PositiveInt,
}, 'When the job fires on its own: a cron with seconds in a time zone, or a fixed rate. Omit the trigger for jobs run only by hand or by a parent.', {
  cron: "Six fields '<sec> <min> <hour> <day-of-month> <month> <day-of-week>': *, ?, a-b, */s, a,b, JAN-DEC, SUN-SAT, L, nL.",
  tz: 'IANA time zone of the cron (default UTC). DST gaps shift a tick forward; overlaps fire once (twice when the hour field is *).',
  every_ms: 'A fixed rate: ticks at every multiple of every_ms since the Unix epoch, so every replica agrees on the tick times.',
});

export const JobRunsCodec = closed('KisJobRuns', {}, {
  flow: NonEmptyString,
  handler: NonEmptyString,
}, 'What a run does: one flow (its input is one trigger row) or a handler registered by a function module. Exactly one.', {
  flow: 'A flow_id; the flow gets one row {job, scheduled_at, shard, shards, params, run_id}.',
  handler: 'The name of a job handler registered in a function module (registerJobHandler).',
});

export const JobMisfireCodec = closed('KisJobMisfire', {
  policy: t.keyof({ do_nothing: null, fire_once: null, catch_up: null }),
}, {
  window_ms: PositiveInt,
  threshold_ms: PositiveInt,
}, 'Ticks missed while no replica owned the job (take-over, downtime) or fired later than threshold_ms.', {
  policy: 'do_nothing: skip missed ticks; fire_once: one run now for the latest missed tick; catch_up: every missed tick within window_ms, in order.',
  window_ms: 'catch_up only: missed ticks older than this are skipped (default 3600000).',
  threshold_ms: 'A tick later than this is a misfire (default 5000).',
});

export const JobRetryCodec = closed('KisJobRetry', { times: NonNegativeInt }, {
  backoff_ms: NonNegativeInt,
  max_backoff_ms: NonNegativeInt,
}, 'Runs again after a failure or a timeout (not after a kill), as new runs triggered by retry.', {
  times: 'How many more runs after the first fails.',
  backoff_ms: 'Wait before the first retry, doubled for each next one (default 1000).',
  max_backoff_ms: 'The longest wait between retries (default 60000).',
});

export const JobRunLogCodec = closed('KisJobRunLog', {}, {
  keep_runs: PositiveInt,
  log_lines: NonNegativeInt,
}, 'How much of each run is kept.', {
  keep_runs: 'Runs of this job kept for reports in memory (the topic keeps runs for its retention; default 100).',
  log_lines: 'Log lines of one run kept in its record; later lines are counted, not kept (default 100).',
});

export const JobCodec = closed('KisJob', {
  kistype: t.literal('job'),
  id: NonEmptyString,
}, {
  name: t.string,
  scene: NonEmptyString,
  enabled: t.boolean,
  trigger: t.union([JobTriggerCodec, t.null]),
  runs: JobRunsCodec,
  params: ParamsCodec,
  children: t.array(NonEmptyString),
  timeout_ms: NonNegativeInt,
  retry: JobRetryCodec,
  block: t.keyof({ serial: null, discard_later: null, cover_earlier: null }),
  misfire: JobMisfireCodec,
  route: t.keyof({ first: null, round_robin: null, sharding_broadcast: null }),
  run_log: JobRunLogCodec,
}, 'A scheduled job (KisJobs): when it fires, what it runs, and how runs are retried, blocked and routed.', {
  kistype: "Always 'job'.",
  id: 'Unique id of the job (any UTF-8); its key in the jobs topics.',
  name: 'A readable name (default: the id).',
  scene: 'The business scenario the job belongs to (KisScenes), for grouping in reports (default: default).',
  enabled: 'false keeps the job loaded but never fires it on its own (default true).',
  trigger: 'Cron or fixed rate; null or omitted: only by hand or as a child.',
  runs: 'The flow or handler a run executes (required).',
  params: 'Parameters handed to every run; a manual trigger can override them.',
  children: 'Job ids run (trigger kind parent) after a run of this job succeeded.',
  timeout_ms: 'A run longer than this is aborted and recorded timed_out (0 or omitted: no limit).',
  retry: 'Retries after a failure or timeout.',
  block: 'A tick while a run is in progress: serial (queue it), discard_later (record it discarded), cover_earlier (kill the running one). Default serial.',
  misfire: 'What to do with missed ticks (default fire_once).',
  route: 'Where a run executes: first (the owner), round_robin (the executors in turn), sharding_broadcast (every executor, shard i of n). Default first.',
  run_log: 'Retention of run records kept per job.',
});

export type JobDoc = t.TypeOf<typeof JobCodec>;
export type BlockStrategy = 'serial' | 'discard_later' | 'cover_earlier';
export type MisfirePolicy = 'do_nothing' | 'fire_once' | 'catch_up';
export type RouteStrategy = 'first' | 'round_robin' | 'sharding_broadcast';

export type JobTrigger =
  | { readonly kind: 'cron'; readonly cron: string; readonly tz: string; readonly schedule: CronSchedule }
  | { readonly kind: 'every'; readonly everyMs: number }
  | { readonly kind: 'none' };

export interface JobConfig {
  readonly id: string;
  readonly name: string;
  readonly scene: string;
  readonly enabled: boolean;
  readonly trigger: JobTrigger;
  readonly runs: { readonly kind: 'flow'; readonly flow: string } | { readonly kind: 'handler'; readonly handler: string };
  readonly params: Readonly<Record<string, unknown>>;
  readonly children: readonly string[];
  readonly timeoutMs: number;
  readonly retries: number;
  readonly backoffMs: number;
  readonly maxBackoffMs: number;
  readonly block: BlockStrategy;
  readonly misfire: { readonly policy: MisfirePolicy; readonly windowMs: number; readonly thresholdMs: number };
  readonly route: RouteStrategy;
  readonly keepRuns: number;
  readonly logLines: number;
  readonly origin: { readonly file: string; readonly doc: number };
  /** The document as written (export writes it back). */
  readonly doc: t.TypeOf<typeof JobCodec>;
}

/** The next tick strictly after `afterMs`, or undefined (no trigger, or a cron with no future match). */
export function nextTick(job: JobConfig, afterMs: number): number | undefined {
  const tr = job.trigger;
  if (tr.kind === 'cron') return tr.schedule.next(afterMs);
  if (tr.kind === 'every') return (Math.floor(afterMs / tr.everyMs) + 1) * tr.everyMs;
  return undefined;
}

export interface NormalisedJobs {
  readonly jobs: readonly JobConfig[];
  readonly errors: readonly KisError[];
  /** Where each job was declared, for checks that name the place. */
  readonly docs: ReadonlyMap<string, YamlDoc>;
}

/** Validates and normalises every `kistype: job` document; other kistypes are ignored. */
export function normaliseJobs(docs: readonly YamlDoc[]): NormalisedJobs {
  const jobs: JobConfig[] = [];
  const errors: KisError[] = [];
  const byId = new Map<string, YamlDoc>();
  for (const doc of docs) {
    const v = doc.value as { kistype?: unknown } | null;
    if (typeof v !== 'object' || v === null || v.kistype !== 'job') continue;
    const res = JobCodec.decode(v);
    if (res._tag === 'Left') {
      errors.push(...reportValidation(doc, res.left, { what: 'job' }));
      continue;
    }
    const d = res.right;
    const first = byId.get(d.id);
    if (first) {
      errors.push(docError('KIS_ERR_CONFIG_DUPLICATE', doc, ['id'], `job '${d.id}' is already declared in ${first.file} doc ${first.index}`));
      continue;
    }
    const trigger = normaliseTrigger(doc, d, errors);
    if (!d.runs || (d.runs.flow === undefined) === (d.runs.handler === undefined)) {
      errors.push(docError('KIS_ERR_CONFIG_SCHEMA', doc, ['runs'], 'runs needs exactly one of flow or handler'));
      continue;
    }
    if (trigger === undefined) continue;
    byId.set(d.id, doc);
    jobs.push(deepFreeze({
      id: d.id,
      name: d.name ?? d.id,
      scene: d.scene ?? 'default',
      enabled: d.enabled ?? true,
      trigger,
      runs: d.runs.flow !== undefined ? { kind: 'flow', flow: d.runs.flow } : { kind: 'handler', handler: d.runs.handler! },
      params: d.params ?? {},
      children: d.children ?? [],
      timeoutMs: d.timeout_ms ?? 0,
      retries: d.retry?.times ?? 0,
      backoffMs: d.retry?.backoff_ms ?? 1000,
      maxBackoffMs: d.retry?.max_backoff_ms ?? 60_000,
      block: d.block ?? 'serial',
      misfire: { policy: d.misfire?.policy ?? 'fire_once', windowMs: d.misfire?.window_ms ?? 3_600_000, thresholdMs: d.misfire?.threshold_ms ?? 5000 },
      route: d.route ?? 'first',
      keepRuns: d.run_log?.keep_runs ?? 100,
      logLines: d.run_log?.log_lines ?? 100,
      origin: { file: doc.file, doc: doc.index },
      doc: d,
    } satisfies JobConfig));
  }
  return { jobs, errors, docs: byId };
}

function normaliseTrigger(doc: YamlDoc, d: JobDoc, errors: KisError[]): JobTrigger | undefined {
  const tr = d.trigger;
  if (tr === undefined || tr === null) return { kind: 'none' };
  if ((tr.cron === undefined) === (tr.every_ms === undefined)) {
    errors.push(docError('KIS_ERR_CONFIG_SCHEMA', doc, ['trigger'], 'trigger needs exactly one of cron or every_ms (omit trigger for jobs run only by hand or by a parent)'));
    return undefined;
  }
  if (tr.every_ms !== undefined) {
    if (tr.tz !== undefined) {
      errors.push(docError('KIS_ERR_CONFIG_SCHEMA', doc, ['trigger', 'tz'], 'tz applies to cron only; every_ms ticks are the same in every zone'));
      return undefined;
    }
    return { kind: 'every', everyMs: tr.every_ms };
  }
  const tz = tr.tz ?? 'UTC';
  try {
    return { kind: 'cron', cron: tr.cron!, tz, schedule: parseCron(tr.cron!, tz) };
  } catch (err) {
    const ce = err instanceof CronError ? err : new CronError('expression', String(err));
    const path = ce.field === 'tz' ? ['trigger', 'tz'] : ['trigger', 'cron'];
    const e = docError('KIS_ERR_JOB_CRON', doc, path, `invalid cron '${tr.cron}': ${ce.message}`);
    errors.push(new KisError(e.code, e.message, { cause: err, context: { ...e.context, field: ce.field } }));
    return undefined;
  }
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
