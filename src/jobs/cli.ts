// `kisflow jobs list | runs | trigger | kill | executors`: reads the run log and the group from Kafka,
// and sends manual triggers and kills the way the replicas expect them. The service's cli/main.ts
// calls jobsCommand with the loaded jobs and a kafkajs client; everything else is here.
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import type { Kafka } from 'kafkajs';
import { errorMessage, KisError } from '../kernel/errors.js';
import { partitionForKey } from '../kernel/partitioner.js';
import type { JobConfig } from '../config/jobs/codec.js';
import { decodeMembers } from './kafka-group.js';
import { parseJson, type ExecutorInfo, type JobCommand, type RunRecord } from './records.js';
import { dayOf, RunBook } from './reports.js';
import { jobTopics, readTopic } from './topics.js';

export const JOBS_USAGE = `usage: kisflow jobs <command> [--config DIR] [--json]

commands:
  list [--scene S]              every job: trigger, next fire, last status, success ratio
  runs JOB [--limit N]          the last runs of a job (default 20), newest first
  trigger JOB [--params JSON]   run a job now, with params merged over the job's own
  kill RUN                      end a run in progress (or waiting in a serial queue)
  executors                     the live executors (members of the jobs group)
  daily [--day YYYY-MM-DD]      success ratio of the day (UTC, default today) per scene and per job
`;

export interface JobsCliContext {
  readonly jobs: readonly JobConfig[];
  readonly appId: string;
  /** Undefined in embedded mode: then only `list` works (without run history). */
  readonly kafka: Kafka | undefined;
  readonly out: (text: string) => void;
  readonly now?: () => number;
}

function usage(msg: string): KisError {
  return new KisError('KIS_ERR_USAGE', `kisflow jobs: ${msg}\n\n${JOBS_USAGE}`);
}

/** Runs one `kisflow jobs ...` command; returns the exit code. Bad input throws KIS_ERR_USAGE with the usage. */
export async function jobsCommand(args: readonly string[], ctx: JobsCliContext): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...args],
      allowPositionals: true,
      options: { scene: { type: 'string' }, params: { type: 'string' }, limit: { type: 'string' }, day: { type: 'string' }, json: { type: 'boolean' }, config: { type: 'string' } },
    });
  } catch (err) {
    throw usage(errorMessage(err));
  }
  const { values, positionals } = parsed;
  const [cmd, arg, extra] = positionals;
  if (extra !== undefined) throw usage(`unexpected argument '${extra}'`);
  const now = ctx.now ?? Date.now;
  const jobs = new Map(ctx.jobs.map((j) => [j.id, j]));
  const print = (rows: readonly Record<string, unknown>[], cols: readonly string[]): void => {
    if (values.json) ctx.out(JSON.stringify(rows, null, 2) + '\n');
    else ctx.out(table(rows, cols));
  };
  const needKafka = (): Kafka => {
    if (!ctx.kafka) throw usage(`'${cmd}' reads and writes Kafka topics: set kafka.brokers in the global document`);
    return ctx.kafka;
  };
  const needJob = (what: string): JobConfig => {
    if (arg === undefined) throw usage(`${cmd} needs a ${what}`);
    const job = jobs.get(arg);
    if (!job) throw usage(`no job '${arg}' in the config (jobs: ${[...jobs.keys()].slice(0, 10).join(', ') || 'none'})`);
    return job;
  };

  switch (cmd) {
    case 'list': {
      if (arg !== undefined) throw usage(`list takes no argument (use --scene S), found '${arg}'`);
      const book = ctx.kafka ? await readBook(ctx.kafka, ctx.appId, jobs) : new RunBook();
      const rows = book.listJobs(ctx.jobs, now(), values.scene).map((l) => ({
        job: l.job, scene: l.scene, trigger: l.trigger, next_fire: iso(l.next_fire), last_status: l.last_status ?? '-',
        success_ratio: l.success_ratio === null ? '-' : `${(l.success_ratio * 100).toFixed(1)}%`, runs: l.runs,
      }));
      if (values.scene !== undefined && rows.length === 0) throw usage(`no job in scene '${values.scene}'`);
      print(rows, ['job', 'scene', 'trigger', 'next_fire', 'last_status', 'success_ratio', 'runs']);
      return 0;
    }
    case 'runs': {
      const job = needJob('job id');
      const limit = values.limit === undefined ? 20 : Number(values.limit);
      if (!Number.isInteger(limit) || limit <= 0) throw usage(`--limit must be a whole number > 0, found '${values.limit}'`);
      const book = await readBook(needKafka(), ctx.appId, jobs);
      const rows = book.runsOf(job.id, limit).map((r) => ({
        run_id: r.run_id, trigger: r.trigger, scheduled_at: iso(r.scheduled_at), started_at: iso(r.started_at),
        ms: r.ended_at !== null && r.started_at !== null ? r.ended_at - r.started_at : '-', status: r.status,
        executor: r.executor, shard: `${r.shard}/${r.shards}`, error: r.error ?? '', ...(values.json ? { log: r.log } : {}),
      }));
      print(rows, ['run_id', 'trigger', 'scheduled_at', 'started_at', 'ms', 'status', 'executor', 'shard', 'error']);
      return 0;
    }
    case 'trigger': {
      const job = needJob('job id');
      let params: Record<string, unknown> | null = null;
      if (values.params !== undefined) {
        const p: unknown = parseJson(values.params);
        if (typeof p !== 'object' || p === null || Array.isArray(p)) throw usage(`--params must be a JSON object, like '{"day":"2024-01-31"}', found ${values.params}`);
        params = p as Record<string, unknown>;
      }
      const kafka = needKafka();
      const t = jobTopics(ctx.appId);
      const id = randomUUID();
      const cmdValue: JobCommand = { type: 'trigger', id, job: job.id, kind: 'manual', params, parent_run: null, at: now() };
      await produce(kafka, async (admin) => {
        const meta = await admin.fetchTopicMetadata({ topics: [t.jobs] });
        const n = meta.topics[0]?.partitions.length ?? 0;
        if (n === 0) throw new KisError('KIS_ERR_SOURCE', `topic ${t.jobs} does not exist: is the service running with app_id '${ctx.appId}'?`);
        return { topic: t.jobs, key: job.id, value: JSON.stringify(cmdValue), partition: partitionForKey(job.id, n) };
      });
      ctx.out(`triggered ${job.id} (request ${id}); see kisflow jobs runs ${job.id}\n`);
      return 0;
    }
    case 'kill': {
      if (arg === undefined) throw usage('kill needs a run id (see kisflow jobs runs JOB)');
      const kafka = needKafka();
      const t = jobTopics(ctx.appId);
      const cmdValue: JobCommand = { type: 'kill', run_id: arg, at: now() };
      await produce(kafka, async () => ({ topic: t.commands, key: arg, value: JSON.stringify(cmdValue), partition: 0 }));
      ctx.out(`kill sent for run ${arg}\n`);
      return 0;
    }
    case 'executors': {
      if (arg !== undefined) throw usage(`executors takes no argument, found '${arg}'`);
      const list = await executors(needKafka(), ctx.appId);
      print(list.map((e) => ({ id: e.id, host: e.host, pid: e.pid, started: iso(e.started) })), ['id', 'host', 'pid', 'started']);
      return 0;
    }
    case 'daily': {
      if (arg !== undefined) throw usage(`daily takes no argument (use --day YYYY-MM-DD), found '${arg}'`);
      const day = values.day ?? dayOf(now());
      if (!/^\d{4}-\d{2}-\d{2}$/.test(day) || Number.isNaN(Date.parse(`${day}T00:00:00Z`))) throw usage(`--day must be a date YYYY-MM-DD, found '${day}'`);
      const book = await readBook(needKafka(), ctx.appId, jobs);
      const pct = (r: number): string => `${(r * 100).toFixed(1)}%`;
      const rows = [
        ...book.dailyByScene(day).map((r) => ({ day, scene: r.key, job: '*', succeeded: r.succeeded, finished: r.finished, success_ratio: pct(r.ratio) })),
        ...book.dailyByJob(day).map((r) => ({ day, scene: jobs.get(r.key)?.scene ?? '?', job: r.key, succeeded: r.succeeded, finished: r.finished, success_ratio: pct(r.ratio) })),
      ];
      print(rows, ['day', 'scene', 'job', 'succeeded', 'finished', 'success_ratio']);
      return 0;
    }
    case undefined:
      ctx.out(JOBS_USAGE);
      return 2;
    default:
      throw usage(`unknown command '${cmd}'`);
  }
}

/** The run log, read once to its end. */
export async function readBook(kafka: Kafka, appId: string, jobs: ReadonlyMap<string, JobConfig>): Promise<RunBook> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const book = new RunBook((job) => jobs.get(job)?.keepRuns ?? 100);
    const records = await readTopic(kafka, admin, jobTopics(appId).runs).catch((err: unknown) => {
      throw new KisError('KIS_ERR_SOURCE', `cannot read the run log ${jobTopics(appId).runs}: ${errorMessage(err)}`, { cause: err });
    });
    for (const m of records) {
      const rec = parseJson<RunRecord>(m.value);
      if (rec?.run_id) book.add(rec);
    }
    return book;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/** Members of the jobs group (DescribeGroups), or the last list the group leader announced where that call is missing. */
export async function executors(kafka: Kafka, appId: string): Promise<ExecutorInfo[]> {
  const t = jobTopics(appId);
  const admin = kafka.admin();
  await admin.connect();
  try {
    try {
      const { groups } = await admin.describeGroups([t.group]);
      return decodeMembers(groups[0]?.members ?? []);
    } catch {
      let last: ExecutorInfo[] = [];
      for (const m of await readTopic(kafka, admin, t.commands)) {
        const c = parseJson<JobCommand>(m.value);
        if (c?.type === 'members') last = [...c.members];
      }
      return last;
    }
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

async function produce(kafka: Kafka, build: (admin: ReturnType<Kafka['admin']>) => Promise<{ topic: string; key: string; value: string; partition: number }>): Promise<void> {
  const admin = kafka.admin();
  const producer = kafka.producer();
  try {
    await admin.connect();
    const m = await build(admin);
    await producer.connect();
    await producer.send({ topic: m.topic, acks: -1, messages: [{ key: m.key, value: m.value, partition: m.partition }] });
  } finally {
    await producer.disconnect().catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
  }
}

function iso(ms: number | null | undefined): string {
  return ms === null || ms === undefined ? '-' : new Date(ms).toISOString();
}

function table(rows: readonly Record<string, unknown>[], cols: readonly string[]): string {
  if (rows.length === 0) return '(none)\n';
  const cells = rows.map((r) => cols.map((c) => String(r[c] ?? '')));
  const widths = cols.map((c, i) => Math.max(c.length, ...cells.map((row) => row[i]!.length)));
  const line = (vals: readonly string[]): string => vals.map((v, i) => v.padEnd(widths[i]!)).join('  ').trimEnd() + '\n';
  return line(cols.map((c) => c.toUpperCase())) + cells.map(line).join('');
}
