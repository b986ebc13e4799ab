// One KisJobs replica in Kafka mode, as a child process of the Kafka-mode tests: jobs from a YAML file,
// handlers that only log, the jobs it owns printed as JSON lines on stdout whenever they change.
// Env: KAFKA_BROKERS, APP_ID, JOBS_FILE, SESSION_TIMEOUT_MS.
import { readFileSync } from 'node:fs';
import { Kafka, logLevel } from 'kafkajs';
import pino from 'pino';
import { parseYamlFile } from '../../src/config/yaml-docs.js';
import { normaliseJobs } from '../../src/config/jobs/codec.js';
import { JobHandlers } from '../../src/core/job-handlers.js';
import { KafkaCoordination } from '../../src/jobs/kafka-coordination.js';
import { JobScheduler } from '../../src/jobs/scheduler.js';

const env = (k: string): string => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set`);
  return v;
};
const print = (o: Record<string, unknown>): void => { process.stdout.write(JSON.stringify(o) + '\n'); };

const { docs } = parseYamlFile('jobs.yml', readFileSync(env('JOBS_FILE'), 'utf8'), {});
const { jobs, errors } = normaliseJobs(docs);
if (errors.length > 0) throw new Error(errors.map((e) => e.message).join('\n'));
const logger = pino({ level: process.env['LOG_LEVEL'] ?? 'warn' }, pino.destination(2));
const kafka = new Kafka({ clientId: 'jobs-replica', brokers: env('KAFKA_BROKERS').split(','), logLevel: logLevel.NOTHING, retry: { initialRetryTime: 100, maxRetryTime: 1000, retries: 10 } });
const handlers = new JobHandlers();
handlers.register('ok', (ctx) => { ctx.logger.info(`shard ${ctx.shard.index} of ${ctx.shard.total}`); });
const coordination = new KafkaCoordination({ kafka, appId: env('APP_ID'), jobIds: jobs.map((j) => j.id), logger, sessionTimeoutMs: Number(process.env['SESSION_TIMEOUT_MS'] ?? 6000) });
const scheduler = new JobScheduler({ jobs, handlers, coordination, logger });
await scheduler.start();
print({ event: 'started', executor: scheduler.executorId, pid: process.pid });
let last = '';
setInterval(() => {
  const owned = scheduler.ownedJobs().sort();
  const members = coordination.executors().length;
  const now = JSON.stringify([owned, members]);
  if (now !== last) print({ event: 'owned', jobs: owned, members });
  last = now;
}, 100);
process.once('SIGTERM', () => {
  void scheduler.stop().then(() => process.exit(0), () => process.exit(1));
});
