// Scheduled jobs in the running service (embedded mode): a handler registered by a function module runs on a
// fixed rate with its params; a job that runs a flow feeds it one trigger row; a job naming a handler nobody
// registered stops start-up with a message naming the file.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import type { Row } from '../../src/kernel/types.js';
import { silentLogger } from '../../src/observability/logger.js';
import { prepareApp } from '../../src/runtime/app.js';
import { KisService } from '../../src/runtime/service.js';

const CONFIG = `kistype: global
app_id: kis-jobs-service
---
kistype: flow
flow_id: Report
flow_name: Report
flows: [{ fid: Shape }]
---
kistype: func
fid: Shape
fname: kis.map
fmode: Calculate
option: { default_params: { set: { report_for: "job & '@' & $string(shard)" } } }
---
kistype: job
id: cleanup
scene: ops
trigger: { every_ms: 200 }
runs: { handler: Cleanup }
params: { older_than_days: 30 }
---
kistype: job
id: report
scene: reports
trigger: { every_ms: 300 }
runs: { flow: Report }
`;

test('jobs run in the service: a handler on a fixed rate with its params, a flow fed one trigger row per tick', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'kisflow-jobs-'));
  try {
    writeFileSync(path.join(dir, 'kisflow.yml'), CONFIG);
    const calls: Array<{ job: string; params: unknown; shard: unknown }> = [];
    const app = await prepareApp(dir, { register: (pool) => pool.jobHandler('Cleanup', async (ctx) => { calls.push({ job: ctx.job, params: ctx.params, shard: ctx.shard }); }) });
    const reports: Row[] = [];
    const svc = KisService.create(app.config, { pool: app.pool, logger: silentLogger(), onRun: (flow, r) => { if (flow === 'Report') reports.push(...r.output); } });
    const running = svc.run();
    const deadline = Date.now() + 20_000;
    while ((calls.length < 3 || reports.length < 2) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    svc.stop();
    await running;
    assert.ok(calls.length >= 3, `the handler ran ${calls.length} times`);
    assert.deepEqual(calls[0], { job: 'cleanup', params: { older_than_days: 30 }, shard: { index: 0, total: 1 } });
    assert.ok(reports.length >= 2, `the flow ran ${reports.length} times`);
    assert.equal(reports[0]!['job'], 'report');
    assert.equal(reports[0]!['report_for'], 'report@0');
    assert.equal(typeof reports[0]!['scheduled_at'], 'number');
    const runs = svc.jobs!.runsOf('cleanup');
    assert.ok(runs.filter((r) => r.status === 'succeeded').length >= 3, `run records: ${JSON.stringify(runs.map((r) => r.status))}`);
    assert.ok(runs.every((r) => r.trigger === 'cron' || r.trigger === 'misfire'), 'scheduled runs');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a job naming a handler that no module registered stops start-up, naming the file', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'kisflow-jobs-'));
  try {
    writeFileSync(path.join(dir, 'kisflow.yml'), CONFIG);
    await assert.rejects(prepareApp(dir), /kisflow\.yml doc 4 at runs\.handler: no job handler named 'Cleanup' is registered/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
