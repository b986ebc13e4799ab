// The status observer's tallies and p99 window, the tee that composes it with the Prometheus observer, and
// the history ring's bound.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry } from 'prom-client';
import { HistoryRing } from '../../../src/observability/history.js';
import { PromFlowObserver } from '../../../src/observability/metrics.js';
import { StatusObserver, teeFlowObservers, teeSourceObservers } from '../../../src/observability/status-observer.js';

test('tallies per flow and function; p99 over the last minute only; lag per partition, cleared by a rebalance', async () => {
  let now = 1_000_000;
  const s = new StatusObserver(() => now);
  const registry = new Registry();
  const flow = teeFlowObservers(new PromFlowObserver(registry), s);
  const src = teeSourceObservers(new PromFlowObserver(new Registry()), s);
  for (let i = 1; i <= 100; i++) {
    flow.flowStarted('F', 'F', 2);
    flow.funcFinished('F', 'F', 'fn', 'Calculate', { rowsIn: 2, rowsOut: 1, rejected: 1, deadLettered: 1, ms: i });
  }
  flow.deadLettered?.('F', 'KIS_ERR_ROW_REJECTED', 100);
  const t = s.flows.get('F')!.functions.get('fn')!;
  assert.deepEqual([s.flows.get('F')!.rowsIn, s.flows.get('F')!.deadLetters, t.rowsIn, t.rowsOut, t.rejected], [200, 100, 200, 100, 100]);
  assert.equal(s.p99(t), 99);
  now += 61_000;
  flow.funcFinished('F', 'F', 'fn', 'Calculate', { rowsIn: 1, rowsOut: 1, rejected: 0, deadLettered: 0, ms: 5 });
  assert.equal(s.p99(t), 5, 'calls older than a minute no longer count');
  // The Prometheus observer got the same calls.
  const rows = (await registry.getSingleMetric('kisflow_func_rows_total')!.get()).values.find((v) => v.labels['outcome'] === 'in');
  assert.equal(rows?.value, 201);
  src.lag('S', 'topic', 0, 5);
  src.lag('S', 'topic', 1, 7);
  src.lag('S', 'topic', 0, 3);
  assert.deepEqual([...s.sources.get('S')!.lag.values()].map((l) => [l.partition, l.records]), [[0, 3], [1, 7]]);
  src.rebalanced('S');
  assert.equal(s.sources.get('S')!.lag.size, 0);
});

test('history ring: oldest first, bounded by span / step, filtered by time', () => {
  const h = new HistoryRing<{ t: number; v: number }>(1000, 5000);
  assert.equal(h.capacity, 5);
  for (let i = 1; i <= 8; i++) h.add('F', { t: i * 1000, v: i });
  assert.deepEqual(h.get('F').map((p) => p.v), [4, 5, 6, 7, 8]);
  assert.deepEqual(h.get('F', 6000).map((p) => p.v), [7, 8]);
  h.prune(20_000);
  assert.deepEqual(h.keys(), []);
});
