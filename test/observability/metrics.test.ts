// Metrics: the Go original's six plus rows per function, counted from a real run; served at /metrics.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry } from 'prom-client';
import { Writable } from 'node:stream';
import { createLogger } from '../../src/observability/logger.js';
import { PromFlowObserver } from '../../src/observability/metrics.js';
import { serveHttp } from '../../src/observability/http-server.js';
import { prepareApp } from '../../src/runtime/app.js';
import { KisService } from '../../src/runtime/service.js';
import { silentLogger } from '../../src/observability/logger.js';

async function value(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = (await registry.getMetricsAsJSON()).find((x) => x.name === name);
  const v = m?.values.find((x) => Object.entries(labels).every(([k, l]) => String(x.labels[k]) === l) && !('metricName' in x && String(x.metricName).endsWith('_bucket')));
  return Number(v?.value ?? NaN);
}

test('a run of the demo counts rows in, out, rejected and dead-lettered per function, under the Go names', async () => {
  const app = await prepareApp('config', { env: { ...process.env, KISFLOW_DEMO_SINK: 'none', KAFKA_BROKERS: '' } });
  const registry = new Registry();
  const svc = KisService.create(app.config, { pool: app.pool, logger: silentLogger(), observer: new PromFlowObserver(registry), stdout: { write: (_t, cb) => { cb(); return true; } } });
  await svc.run();
  // orders: 20 lines, 19 decoded (one malformed goes to the DLQ before any function)
  assert.equal(await value(registry, 'flow_data_total', { flow_name: 'MyFlow1' }), 19);
  assert.equal(await value(registry, 'flow_data_total', { flow_name: 'PayFlow' }), 20);
  assert.equal(await value(registry, 'kisflow_func_rows_total', { func_name: 'VerifyOrder', outcome: 'in' }), 19);
  assert.equal(await value(registry, 'kisflow_func_rows_total', { func_name: 'VerifyOrder', outcome: 'out' }), 17);
  assert.equal(await value(registry, 'kisflow_func_rows_total', { func_name: 'VerifyOrder', outcome: 'rejected' }), 2);
  assert.equal(await value(registry, 'kisflow_func_rows_total', { func_name: 'VerifyOrder', outcome: 'dead_lettered' }), 2);
  assert.equal(await value(registry, 'kisflow_func_rows_total', { func_name: 'SettlePayment', outcome: 'out' }), 17);
  assert.equal(await value(registry, 'kisflow_dead_letters_total', { flow_id: 'MyFlow1', code: 'KIS_ERR_ROW_DECODE' }), 1);
  assert.equal(await value(registry, 'kisflow_dead_letters_total', { flow_id: 'MyFlow1', code: 'KIS_ERR_ROW_MISSING_FIELD' }), 1);
  assert.equal(await value(registry, 'kisflow_dead_letters_total', { flow_id: 'MyFlow1', code: 'KIS_ERR_ROW_REJECTED' }), 1);
  assert.equal(await value(registry, 'func_schedule_cnts', { func_name: 'VerifyOrder', func_mode: 'Verify' }) > 0, true);
  assert.equal(await value(registry, 'kisflow_data_total') >= 19 + 20 + 17, true);
  const names = (await registry.getMetricsAsJSON()).map((m) => m.name);
  for (const n of ['kisflow_data_total', 'flow_data_total', 'flow_schedule_cnts', 'func_schedule_cnts', 'func_run_duration', 'flow_run_duration']) {
    assert.ok(names.includes(n), n);
  }
});

test('/metrics serves the registry, /healthz the liveness, /readyz the readiness; other paths are 404; a bad address is a clear error', async () => {
  const registry = new Registry();
  const obs = new PromFlowObserver(registry);
  obs.flowStarted('F', 'F', 7);
  let ready = false;
  const server = await serveHttp('127.0.0.1:0', { registry, readiness: () => ({ ready, waiting: ready ? [] : ['source s: no partitions yet'] }) });
  try {
    const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    const res = await fetch(`${base}/metrics`);
    assert.equal(res.status, 200);
    assert.match(await res.text(), /flow_data_total\{flow_name="F"\} 7/);
    const health = await fetch(`${base}/healthz`);
    assert.equal(health.status, 200);
    assert.equal(((await health.json()) as { status: string }).status, 'ok');
    const notReady = await fetch(`${base}/readyz`);
    assert.equal(notReady.status, 503);
    assert.deepEqual(await notReady.json(), { status: 'not ready', waiting: ['source s: no partitions yet'] });
    ready = true;
    assert.equal((await fetch(`${base}/readyz`)).status, 200);
    assert.equal((await fetch(`${base}/`)).status, 404);
  } finally {
    server.close();
  }
  const noMetrics = await serveHttp('127.0.0.1:0', { readiness: () => ({ ready: true, waiting: [] }) });
  try {
    const res = await fetch(`http://127.0.0.1:${(noMetrics.address() as { port: number }).port}/metrics`);
    assert.equal(res.status, 404);
    assert.match(await res.text(), /set prometheus_enable: true/);
  } finally {
    noMetrics.close();
  }
  await assert.rejects(serveHttp('nope', { readiness: () => ({ ready: true, waiting: [] }) }), /prometheus_serve 'nope' is not host:port/);
});

test('log lines redact passwords, tokens and secrets', () => {
  const lines: string[] = [];
  const sink = new Writable({ write(chunk: Buffer, _e, cb) { lines.push(chunk.toString()); cb(); } });
  const log = createLogger({ level: 'info', destination: sink });
  log.info({ password: 'p1', sasl: { password: 'p2', username: 'u' }, token: 't', flow: 'F' }, 'connect');
  const rec = JSON.parse(lines[0]!) as Record<string, unknown>;
  assert.equal(rec['password'], '[redacted]');
  assert.deepEqual(rec['sasl'], { password: '[redacted]', username: 'u' });
  assert.equal(rec['token'], '[redacted]');
  assert.equal(rec['flow'], 'F');
  assert.doesNotMatch(lines[0]!, /p1|p2/);
});

test('binlog repairs are counted per source and action', async () => {
  const registry = new Registry();
  const o = new PromFlowObserver(registry);
  o.binlogRepair('shopdb', 'resnapshot', 120);
  o.binlogRepair('shopdb', 'resnapshot', 5);
  o.binlogRepair('shopdb', 'gtid_resume', 0);
  const text = await registry.metrics();
  assert.match(text, /kisflow_binlog_repairs_total\{source="shopdb",action="resnapshot"\} 2/);
  assert.match(text, /kisflow_binlog_repairs_total\{source="shopdb",action="gtid_resume"\} 1/);
});
