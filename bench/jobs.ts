// KisJobs benchmark: one replica with 10,000 jobs on a one-minute cron (all at second 0, the worst case: one
// burst per minute) and 1,000 one-second jobs. Trigger delay = the handler's start minus the scheduled tick;
// CPU per trigger = process CPU time over the window / triggers. Embedded mode, then Kafka mode on the
// librdkafka mock (trigger log, run records and the tail all through the broker).
//   npm run bench:jobs       BENCH_SECONDS (default 70), BENCH_MODE=embedded|kafka|both, MINUTE_JOBS, SECOND_JOBS
import os from 'node:os';
import { Kafka, logLevel } from 'kafkajs';
import pino from 'pino';
import { Registry } from 'prom-client';
import type { YamlDoc } from '../src/config/yaml-docs.js';
import { normaliseJobs } from '../src/config/jobs/codec.js';
import { EmbeddedCoordination, type JobCoordination } from '../src/jobs/coordination.js';
import { JobHandlers } from '../src/core/job-handlers.js';
import { KafkaCoordination } from '../src/jobs/kafka-coordination.js';
import { JobScheduler } from '../src/jobs/scheduler.js';
import { jobTopics } from '../src/jobs/topics.js';
import { startMockCluster } from '../test/infra/kafka-mock/index.js';
import { envInt } from './common.js';

const SECONDS = envInt('BENCH_SECONDS', 70);
const MINUTE_JOBS = envInt('MINUTE_JOBS', 10_000);
const SECOND_JOBS = envInt('SECOND_JOBS', 1_000);
const MODE = process.env['BENCH_MODE'] ?? 'both';

function doc(value: Record<string, unknown>, i: number): YamlDoc {
  return { file: 'bench.yml', index: i + 1, value, templates: new Map(), locate: () => undefined };
}

const values = [
  ...Array.from({ length: MINUTE_JOBS }, (_, i) => ({ kistype: 'job', id: `minute-${i}`, scene: 'minute', trigger: { cron: process.env['MINUTE_CRON'] ?? '0 * * * * *' }, runs: { handler: 'noop' }, block: 'discard_later', run_log: { keep_runs: 2, log_lines: 0 } })),
  ...Array.from({ length: SECOND_JOBS }, (_, i) => ({ kistype: 'job', id: `second-${i}`, scene: 'second', trigger: { every_ms: 1000 }, runs: { handler: 'noop' }, block: 'discard_later', run_log: { keep_runs: 2, log_lines: 0 } })),
];
const { jobs, errors } = normaliseJobs(values.map(doc));
if (errors.length > 0) throw new Error(errors[0]!.message);

function quantile(sorted: readonly number[], q: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

async function measure(mode: string, coordination: JobCoordination): Promise<Record<string, string | number>> {
  const delays: number[] = [];
  const minuteDelays: number[] = [];
  const secondDelays: number[] = [];
  let measuring = false;
  const handlers = new JobHandlers();
  handlers.register('noop', (ctx) => {
    if (!measuring) return;
    const d = Date.now() - ctx.scheduledAt;
    delays.push(d);
    if (ctx.scene === 'minute') minuteDelays.push(d);
    else secondDelays.push(d);
  });
  const logger = pino({ level: 'warn' });
  const scheduler = new JobScheduler({ jobs, handlers, coordination, logger, registry: new Registry(), keepRunsInMemory: 2 });
  await scheduler.start();
  // Warm-up: let the replica take its jobs and the first ticks go by.
  await new Promise((r) => setTimeout(r, 5_000));
  measuring = true;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  measuring = false;
  const cpu = process.cpuUsage(cpu0);
  const wall = performance.now() - t0;
  await scheduler.stop();
  const sorted = [...delays].sort((a, b) => a - b);
  const minute = [...minuteDelays].sort((a, b) => a - b);
  const second = [...secondDelays].sort((a, b) => a - b);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  return {
    mode,
    triggers: delays.length,
    'triggers/s': Math.round(delays.length / (wall / 1000)),
    'p50 ms': quantile(sorted, 0.5),
    'p99 ms': quantile(sorted, 0.99),
    'max ms': sorted[sorted.length - 1] ?? NaN,
    'one-second jobs p50 / p99 ms': `${quantile(second, 0.5)} / ${quantile(second, 0.99)}`,
    'minute burst p50 / p99 ms': `${quantile(minute, 0.5)} / ${quantile(minute, 0.99)}`,
    'CPU µs/trigger': Math.round((cpuMs * 1000) / Math.max(1, delays.length)),
    'CPU %': Math.round((cpuMs / wall) * 100),
  };
}

const results: Array<Record<string, string | number>> = [];
if (MODE === 'embedded' || MODE === 'both') {
  results.push(await measure('embedded', new EmbeddedCoordination(jobs.map((j) => j.id))));
}
if (MODE === 'kafka' || MODE === 'both') {
  const cluster = await startMockCluster({ brokers: 1 });
  try {
    const app = `bench-jobs-${Date.now().toString(36)}`;
    const t = jobTopics(app);
    for (const [name, n] of [[t.jobs, 6], [t.triggers, 6], [t.runs, 6], [t.commands, 1]] as const) await cluster.createTopic(name, n, 1);
    const kafka = new Kafka({ clientId: 'bench-jobs', brokers: cluster.bootstrap.split(','), logLevel: logLevel.NOTHING });
    const logger = pino({ level: 'warn' });
    results.push(await measure('kafka (mock, 1 broker)', new KafkaCoordination({ kafka, appId: app, jobIds: jobs.map((j) => j.id), logger })));
  } finally {
    await cluster.stop();
  }
}

console.log(`KisJobs: ${MINUTE_JOBS} one-minute cron jobs (all at second 0) + ${SECOND_JOBS} one-second jobs, ${SECONDS} s measured, node ${process.version}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'})`);
const cols = Object.keys(results[0] ?? {});
console.log(`| ${cols.join(' | ')} |`);
console.log(`|${cols.map(() => '---').join('|')}|`);
for (const r of results) console.log(`| ${cols.map((c) => String(r[c])).join(' | ')} |`);
process.exit(0);
