// A job that runs a real flow: the test driver stands in for the runtime behind JobFlowRunner, the way the
// service will. The flow gets one trigger row; a Verify that rejects it makes the run failed.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TestDriver } from '../../src/testing/driver.js';
import type { JobFlowRunner } from '../../src/jobs/runner.js';
import { embedded, T0 } from './helpers.js';

function driverRunner(d: TestDriver): JobFlowRunner {
  return {
    async runFlow(flowId, rows) {
      const r = await d.runFlow(flowId, [...rows]);
      return { out: r.output.length, rejected: r.rejected.length, deadLettered: r.deadLetters.length - r.rejected.length };
    },
  };
}

test('a flow job: the trigger row goes through the flow; a rejected row fails the run', async () => {
  const d = await TestDriver.fromYaml(`kistype: func
fid: OnlyEu
fname: kis.filter
fmode: Verify
option: { default_params: { where: "params.region = 'eu'" } }
---
kistype: func
fid: Stamp
fname: kis.map
fmode: Calculate
option: { default_params: { set: { shard_of: "$string(shard) & '/' & $string(shards)" } } }
---
kistype: flow
flow_name: Nightly
flows: [{ fid: OnlyEu }, { fid: Stamp }]
`);
  try {
    const h = await embedded('kistype: job\nid: nightly\nparams: { region: eu }\nruns: { flow: Nightly }\n', {}, { flows: driverRunner(d) });
    await h.scheduler.trigger('nightly');
    await h.clock.advance(10);
    await new Promise((r) => setTimeout(r, 200));
    await h.clock.advance(10);
    await h.scheduler.trigger('nightly', { region: 'us' });
    await new Promise((r) => setTimeout(r, 200));
    await h.clock.advance(10);
    const [ok, rejected] = h.finals('nightly');
    assert.deepEqual([ok?.status, ok?.rows_in, ok?.rows_out], ['succeeded', 1, 1]);
    assert.deepEqual([rejected?.status, rejected?.rows_out], ['failed', 0]);
    assert.match(rejected?.error ?? '', /flow 'Nightly': 1 rejected/);
    const out = d.output('Nightly');
    assert.deepEqual(out, [{ job: 'nightly', scheduled_at: T0, shard: 0, shards: 1, params: { region: 'eu' }, run_id: ok?.run_id, shard_of: '0/1' }]);
    await h.scheduler.stop();
  } finally {
    await d.close();
  }
});
