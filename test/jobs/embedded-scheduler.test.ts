// The scheduler in embedded mode on a fake clock: ticks, timeouts, kills, block strategies, retries,
// parent -> child chains, manual triggers with params, misfire policies. Assertions are on run records.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FakeClock } from '../../src/jobs/clock.js';
import { EmbeddedCoordination, type CoordinationEvents } from '../../src/jobs/coordination.js';
import { JobHandlers } from '../../src/core/job-handlers.js';
import type { RunRecord } from '../../src/jobs/records.js';
import { JobScheduler } from '../../src/jobs/scheduler.js';
import { embedded, jobsFrom, quiet, sleep, T0 } from './helpers.js';

const job = (id: string, extra: string): string => `kistype: job\nid: ${id}\nscene: s1\n${extra}\n`;

test('a one-second rate fires once per tick, in order, on the tick', async () => {
  let calls = 0;
  const h = await embedded(job('tick', 'trigger: { every_ms: 1000 }\nruns: { handler: count }'), { count: () => { calls++; } });
  await h.clock.advance(5_000);
  const finals = h.finals('tick');
  assert.deepEqual(finals.map((r) => r.scheduled_at - T0), [1000, 2000, 3000, 4000, 5000]);
  assert.ok(finals.every((r) => r.status === 'succeeded' && r.trigger === 'cron' && r.started_at === r.scheduled_at));
  assert.equal(calls, 5);
  assert.equal(h.coordination.triggers.length, 5, 'every tick was logged before it ran');
  await h.scheduler.stop();
});

test('a cron with seconds and a zone fires on its wall-clock times', async () => {
  const h = await embedded(job('c', "trigger: { cron: '*/20 * * * * *', tz: Europe/Berlin }\nruns: { handler: ok }"), { ok: () => undefined });
  await h.clock.advance(60_000);
  assert.deepEqual(h.finals().map((r) => (r.scheduled_at - T0) / 1000), [20, 40, 60]);
  await h.scheduler.stop();
});

test('a timeout aborts the handler and records timed_out', async () => {
  let aborted = false;
  const h = await embedded(job('slow', 'trigger: { every_ms: 10000 }\ntimeout_ms: 500\nruns: { handler: forever }'), {
    forever: (ctx) => new Promise<void>((_, reject) => ctx.signal.addEventListener('abort', () => { aborted = true; reject(new Error('stopped')); })),
  });
  await h.clock.advance(10_600);
  const [rec] = h.finals('slow');
  assert.equal(rec?.status, 'timed_out');
  assert.match(rec?.error ?? '', /timed out after 500 ms/);
  assert.equal(rec!.ended_at! - rec!.started_at!, 500);
  assert.ok(aborted, 'the handler saw its signal abort');
  await h.scheduler.stop();
});

test('kill ends a running job, recorded killed', async () => {
  let sawAbort = false;
  const h = await embedded(job('k', 'runs: { handler: wait }'), {
    wait: (ctx) => new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => { sawAbort = true; resolve(); })),
  });
  await h.scheduler.trigger('k');
  await h.clock.advance(100);
  const running = h.records.find((r) => r.status === 'running');
  assert.ok(running);
  await h.scheduler.kill(running.run_id);
  await h.clock.advance(100);
  assert.equal(h.finals('k')[0]?.status, 'killed');
  assert.ok(sawAbort);
  await h.scheduler.stop();
});

test('block: serial queues ticks behind the running one, never two at once', async () => {
  let concurrent = 0;
  let most = 0;
  const h = await embedded(job('ser', 'trigger: { every_ms: 1000 }\nblock: serial\nruns: { handler: slow }'), {
    slow: async (ctx) => {
      most = Math.max(most, ++concurrent);
      await sleep(h.clock, 2_500, ctx.signal);
      concurrent--;
    },
  });
  await h.clock.advance(3_000);
  await h.clock.advance(20_000);
  await h.scheduler.stop();
  const finals = h.finals('ser');
  assert.equal(most, 1);
  // Each run takes 2.5 s, so the ticks queue up; they run one after the other, in order (the last one is killed by stop()).
  assert.deepEqual(finals.slice(0, 8).map((r) => [(r.scheduled_at - T0) / 1000, r.status]), [1, 2, 3, 4, 5, 6, 7, 8].map((s) => [s, 'succeeded']));
  for (let i = 1; i < 8; i++) assert.equal(finals[i]!.started_at, finals[i - 1]!.ended_at, 'the next starts when the previous ends');
});

test('block: discard_later records later ticks discarded while one runs', async () => {
  const h = await embedded(job('dis', 'trigger: { every_ms: 1000 }\nblock: discard_later\nruns: { handler: slow }'), {
    slow: (ctx) => sleep(h.clock, 2_500, ctx.signal),
  });
  await h.clock.advance(6_600);
  await h.scheduler.stop();
  const byTick = h.finals('dis').map((r) => [(r.scheduled_at - T0) / 1000, r.status]).sort((a, b) => Number(a[0]) - Number(b[0]));
  assert.deepEqual(byTick, [[1, 'succeeded'], [2, 'discarded'], [3, 'discarded'], [4, 'succeeded'], [5, 'discarded'], [6, 'discarded']]);
  assert.match(await h.registry.metrics(), /kisflow_job_runs_total\{job="dis",scene="s1",status="discarded"\} 4/);
});

test('block: cover_earlier kills the running run and starts the later one', async () => {
  const h = await embedded(job('cov', 'block: cover_earlier\nruns: { handler: slow }'), {
    slow: (ctx) => sleep(h.clock, 1_500, ctx.signal),
  });
  await h.scheduler.trigger('cov');
  await h.clock.advance(500);
  await h.scheduler.trigger('cov');
  await h.clock.advance(2_000);
  await h.scheduler.stop();
  const f = h.finals('cov');
  assert.equal(f.length, 2);
  const first = f.find((r) => r.scheduled_at === T0);
  assert.equal(first?.status, 'killed');
  assert.match(first?.error ?? '', /covered by the later run/);
  assert.ok(f.some((r) => r.status === 'succeeded'), 'the last one ran to the end');
});

test('retries: failed runs are retried with backoff, as new runs triggered by retry', async () => {
  let n = 0;
  const h = await embedded(job('r', 'retry: { times: 3, backoff_ms: 100 }\nruns: { handler: flaky }'), {
    flaky: () => { if (++n < 3) throw new Error(`boom ${n}`); },
  });
  await h.scheduler.trigger('r');
  await h.clock.advance(1_000);
  const f = h.finals('r');
  assert.deepEqual(f.map((r) => [r.trigger, r.attempt, r.status]), [['manual', 0, 'failed'], ['retry', 1, 'failed'], ['retry', 2, 'succeeded']]);
  assert.equal(f[0]?.error, 'boom 1');
  assert.equal(f[1]?.parent_run, f[0]?.run_id);
  assert.equal(f[2]!.started_at! - f[1]!.ended_at!, 200, 'backoff doubles');
  await h.scheduler.stop();
});

test('a parent -> child chain: the child runs after the parent succeeded, not after it failed', async () => {
  let fail = false;
  const h = await embedded(job('parent', 'children: [child]\nruns: { handler: p }') + '---\n' + job('child', 'runs: { handler: c }'), {
    p: () => { if (fail) throw new Error('no'); },
    c: () => undefined,
  });
  await h.scheduler.trigger('parent');
  await h.clock.advance(100);
  fail = true;
  await h.scheduler.trigger('parent');
  await h.clock.advance(100);
  const child = h.finals('child');
  assert.equal(child.length, 1);
  assert.equal(child[0]?.trigger, 'parent');
  assert.equal(child[0]?.parent_run, h.finals('parent')[0]?.run_id);
  await h.scheduler.stop();
});

test('a manual trigger runs with its params over the job params; logs are captured and capped', async () => {
  const seen: unknown[] = [];
  const h = await embedded(job('m', 'params: { a: 1, b: 2 }\nrun_log: { log_lines: 2 }\nruns: { handler: h }'), {
    h: (ctx) => { seen.push(ctx.params); for (let i = 0; i < 5; i++) ctx.logger.info(`line ${i}`); return { rowsIn: 3, rowsOut: 2 }; },
  });
  await h.scheduler.trigger('m', { b: 'x', c: true });
  await h.clock.advance(10);
  assert.deepEqual(seen, [{ a: 1, b: 'x', c: true }]);
  const [r] = h.finals('m');
  assert.equal(r?.trigger, 'manual');
  assert.equal(r?.log.length, 2);
  assert.match(r!.log[1]!, /INFO line 1$/);
  assert.equal(r?.log_dropped, 3);
  assert.deepEqual([r?.rows_in, r?.rows_out], [3, 2]);
  await h.scheduler.stop();
});

test('a flow job hands one trigger row to the runtime', async () => {
  const rows: unknown[] = [];
  const h = await embedded(job('f', 'params: { p: 1 }\nruns: { flow: MyFlow1 }'), {}, {
    flows: { runFlow: async (flow, input) => { rows.push(flow, ...input); return { out: 4, rejected: 0, deadLettered: 0 }; } },
  });
  await h.scheduler.trigger('f');
  await h.clock.advance(10);
  const [r] = h.finals('f');
  assert.equal(r?.status, 'succeeded');
  assert.equal(r?.rows_out, 4);
  assert.equal(rows[0], 'MyFlow1');
  assert.deepEqual(rows[1], { job: 'f', scheduled_at: T0, shard: 0, shards: 1, params: { p: 1 }, run_id: r?.run_id });
  await h.scheduler.stop();
});

for (const [policy, expected] of [
  ['do_nothing', []],
  ['fire_once', [[-1, 'misfire']]],
  ['catch_up', [[-4, 'misfire'], [-3, 'misfire'], [-2, 'misfire'], [-1, 'misfire']]],
] as const) {
  test(`misfire ${policy}: ticks missed while nobody owned the job`, async () => {
    // The trigger log says the last fired tick was 10 s ago; catch_up's 5 s window keeps ticks -4..-1 (now is 0.1 s).
    const start = T0 + 100;
    const h = await embedded(job('mf', `trigger: { every_ms: 1000 }\nmisfire: { policy: ${policy}, window_ms: 5000, threshold_ms: 500 }\nruns: { handler: ok }`), { ok: () => undefined }, {
      history: new Map([['mf', T0 - 10_000]]), start,
    });
    await h.clock.advance(0);
    const f = h.finals('mf').map((r) => [(r.scheduled_at - T0) / 1000, r.trigger]);
    // Tick 0 is 100 ms late, within threshold_ms: on time.
    assert.deepEqual(f, [...expected, [0, 'cron']]);
    await h.clock.advance(1_000);
    assert.deepEqual(h.finals('mf').slice(expected.length + 1).map((r) => [(r.scheduled_at - T0) / 1000, r.trigger]), [[1, 'cron']], 'then on time again');
    await h.scheduler.stop();
  });
}

test('reports: last status, success ratio, daily ratio per job and scene, metrics', async () => {
  let n = 0;
  const h = await embedded(job('a', 'trigger: { every_ms: 1000 }\nruns: { handler: h }'), { h: () => { if (++n % 4 === 0) throw new Error('every fourth'); } });
  await h.clock.advance(8_000);
  const [list] = h.scheduler.listJobs('s1');
  assert.equal(list?.runs, 8);
  assert.equal(list?.success_ratio, 6 / 8);
  assert.equal(list?.next_fire, T0 + 9_000);
  assert.equal(list?.last_status, 'failed');
  const day = new Date(T0).toISOString().slice(0, 10);
  assert.deepEqual(h.scheduler.book.dailyByScene(day).map((r) => [r.key, r.succeeded, r.finished]), [['s1', 6, 8]]);
  await h.clock.advance(60_000);
  const text = await h.registry.metrics();
  assert.match(text, /kisflow_job_runs_total\{job="a",scene="s1",status="failed"\} \d+/);
  assert.match(text, /kisflow_job_scene_success_ratio_daily\{scene="s1"\} 0\.7/);
  assert.match(text, /kisflow_job_success_ratio_daily\{job="a",scene="s1"\} 0\.7/);
  assert.match(text, /kisflow_job_runs_in_progress\{scene="s1"\} 0/);
  assert.deepEqual(h.scheduler.book.dailyByJob(day).map((r) => [r.key, r.ratio]), [['a', 51 / 68]]);
  assert.match(text, /kisflow_job_trigger_delay_ms_count\{scene="s1",trigger="cron"\} 68/);
  await h.scheduler.stop();
});

test('a run left running by an executor that is gone is recorded failed by the new owner', async () => {
  const { jobs } = jobsFrom(job('o', 'trigger: { every_ms: 60000 }\nruns: { handler: ok }'));
  const handlers = new JobHandlers();
  handlers.register('ok', () => undefined);
  const published: RunRecord[] = [];
  const orphan: RunRecord = {
    run_id: 'o@old', job: 'o', scene: 's1', trigger: 'cron', scheduled_at: T0 - 1000, started_at: T0 - 1000, ended_at: null, executor: 'dead:1:x',
    shard: 0, shards: 1, attempt: 0, status: 'running', rows_in: 0, rows_out: 0, error: null, log: [], log_dropped: 0, parent_run: null,
  };
  class TakeOver extends EmbeddedCoordination {
    override async start(events: CoordinationEvents): Promise<void> {
      events.runRecorded(orphan);
      await super.start(events);
    }
    override async publishRun(rec: RunRecord): Promise<void> {
      published.push(rec);
      await super.publishRun(rec);
    }
  }
  const scheduler = new JobScheduler({ jobs, handlers, coordination: new TakeOver(['o']), logger: quiet, clock: new FakeClock(T0), stopGraceMs: 0 });
  await scheduler.start();
  assert.deepEqual(published.map((r) => [r.run_id, r.status]), [['o@old', 'failed']]);
  assert.match(published[0]!.error!, /executor dead:1:x left the group while the run was in progress/);
  assert.equal(scheduler.runsOf('o')[0]?.status, 'failed');
  await scheduler.stop();
});
