// `kisflow jobs ...` (jobsCommand): refusals of bad input without a cluster, then on the mock cluster with a
// replica in this process: trigger with params, runs, list, kill of a running run, executors.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Kafka, logLevel } from 'kafkajs';
import { jobsCommand } from '../../src/jobs/cli.js';
import { JobHandlers } from '../../src/core/job-handlers.js';
import { KafkaCoordination } from '../../src/jobs/kafka-coordination.js';
import { JobScheduler } from '../../src/jobs/scheduler.js';
import { jobTopics } from '../../src/jobs/topics.js';
import { randomName, startMockCluster, type MockCluster } from '../infra/kafka-mock/index.js';
import { waitFor } from '../integration/kafka-helpers.js';
import { jobsFrom, quiet } from './helpers.js';

const { jobs } = jobsFrom(`kistype: job
id: report
scene: finance
params: { day: today, region: eu }
runs: { handler: report }
---
kistype: job
id: long
scene: ops
runs: { handler: wait }
`);

test('bad input gets a clear refusal naming what is wrong', async () => {
  const ctx = { jobs, appId: 'a', kafka: undefined, out: () => undefined };
  const refuse = async (args: string[], msg: RegExp): Promise<void> => {
    await assert.rejects(jobsCommand(args, ctx), (e: unknown) => (e as { code?: string }).code === 'KIS_ERR_USAGE' && msg.test((e as Error).message), args.join(' '));
  };
  await refuse(['nope'], /unknown command 'nope'/);
  await refuse(['runs'], /runs needs a job id/);
  await refuse(['runs', 'ghost'], /no job 'ghost' in the config \(jobs: report, long\)/);
  await refuse(['trigger', 'report', '--params', '[1]'], /--params must be a JSON object/);
  await refuse(['trigger', 'report', '--params', '{bad'], /--params must be a JSON object/);
  await refuse(['runs', 'report', '--limit', '0'], /--limit must be a whole number > 0/);
  await refuse(['list', '--bogus'], /Unknown option '--bogus'/);
  await refuse(['kill'], /kill needs a run id/);
  await refuse(['trigger', 'report'], /set kafka.brokers/);
  await refuse(['list', '--scene', 'nowhere'], /no job in scene 'nowhere'/);
  await refuse(['daily', '--day', '2024-13-45'], /--day must be a date YYYY-MM-DD/);
  let out = '';
  assert.equal(await jobsCommand(['list'], { ...ctx, out: (t) => { out += t; } }), 0);
  assert.match(out, /^JOB +SCENE +TRIGGER/);
  assert.match(out, /report +finance +none +- +- +- +0/);
});

let cluster: MockCluster;
before(async () => { cluster = await startMockCluster({ brokers: 1 }); });
after(async () => { await cluster?.stop(); });

test('on Kafka: trigger with params, runs, list, kill, executors', async () => {
  const app = randomName('jobscli');
  const t = jobTopics(app);
  for (const [name, n] of [[t.jobs, 3], [t.triggers, 3], [t.runs, 3], [t.commands, 1]] as const) await cluster.createTopic(name, n);
  const kafka = new Kafka({ clientId: 'jobs-cli-test', brokers: cluster.bootstrap.split(','), logLevel: logLevel.NOTHING });
  const handlers = new JobHandlers();
  const seen: unknown[] = [];
  handlers.register('report', (ctx) => { seen.push(ctx.params); ctx.logger.info('done'); return { rowsOut: 7 }; });
  handlers.register('wait', (ctx) => new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve())));
  const coordination = new KafkaCoordination({ kafka, appId: app, jobIds: jobs.map((j) => j.id), logger: quiet, sessionTimeoutMs: 6000 });
  const scheduler = new JobScheduler({ jobs, handlers, coordination, logger: quiet, stopGraceMs: 0 });
  await scheduler.start();
  let out = '';
  const ctx = { jobs, appId: app, kafka, out: (s: string) => { out += s; } };
  const run = async (...args: string[]): Promise<string> => {
    out = '';
    assert.equal(await jobsCommand(args, ctx), 0);
    return out;
  };
  try {
    await waitFor('the replica owns its jobs', () => (scheduler.ownedJobs().length === 2 ? true : undefined), 30_000);
    assert.match(await run('trigger', 'report', '--params', '{"day":"2024-01-31"}'), /^triggered report \(request [0-9a-f-]+\)/);
    await waitFor('the manual run recorded', () => (scheduler.runsOf('report').some((r) => r.status === 'succeeded') ? true : undefined), 30_000);
    assert.deepEqual(seen, [{ day: '2024-01-31', region: 'eu' }]);
    const runs = JSON.parse(await run('runs', 'report', '--json')) as Array<Record<string, unknown>>;
    assert.equal(runs.length, 1);
    assert.deepEqual([runs[0]!['trigger'], runs[0]!['status'], runs[0]!['executor'], runs[0]!['log']], ['manual', 'succeeded', scheduler.executorId, [(runs[0]!['log'] as string[])[0]]]);
    assert.match((runs[0]!['log'] as string[])[0]!, /INFO done$/);
    const list = JSON.parse(await run('list', '--scene', 'finance', '--json')) as Array<Record<string, unknown>>;
    assert.deepEqual(list.map((l) => [l['job'], l['last_status'], l['success_ratio'], l['runs']]), [['report', 'succeeded', '100.0%', 1]]);

    await run('trigger', 'long');
    const running = await waitFor('the long run in progress', () => scheduler.runsOf('long').find((r) => r.status === 'running'), 30_000);
    assert.match(await run('kill', running.run_id), /kill sent/);
    await waitFor('the long run killed', () => (scheduler.runsOf('long').some((r) => r.status === 'killed') ? true : undefined), 30_000);
    assert.match(await run('runs', 'long'), /manual .* killed .*killed by request/);

    const today = new Date().toISOString().slice(0, 10);
    const daily = JSON.parse(await run('daily', '--json')) as Array<Record<string, unknown>>;
    assert.deepEqual(daily.map((d) => [d['day'], d['scene'], d['job'], d['succeeded'], d['finished']]),
      [[today, 'finance', '*', 1, 1], [today, 'ops', '*', 0, 1], [today, 'ops', 'long', 0, 1], [today, 'finance', 'report', 1, 1]]);

    const execs = JSON.parse(await run('executors', '--json')) as Array<Record<string, unknown>>;
    assert.deepEqual(execs.map((e) => [e['id'], e['pid']]), [[scheduler.executorId, process.pid]]);
  } finally {
    await scheduler.stop();
  }
});
