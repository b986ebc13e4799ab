// A rewind through the running service (Kafka mode, the librdkafka mock): the service is the FlowControl of a
// RewindAgent, as `kisflow run` wires it. `rewindFlow` pauses the flow (its kafka source stops and leaves the
// group), moves the group to the beginning and tombstones the flow's changelog; the service drops the flow's
// state and resumes: every row comes again, and the keyed counts start over instead of doubling.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { Kafka, logLevel } from 'kafkajs';
import type { Row } from '../../src/kernel/types.js';
import { silentLogger } from '../../src/observability/logger.js';
import { prepareApp } from '../../src/runtime/app.js';
import { KisService } from '../../src/runtime/service.js';
import { flowChangelogs, rewindFlow, RewindAgent } from '../../src/repair/rewind.js';
import { kcatProduce, randomName, startMockCluster, type MockCluster } from '../infra/kafka-mock/index.js';

let cluster: MockCluster;
let dir: string;
before(async () => {
  cluster = await startMockCluster({ brokers: 1 });
  dir = await mkdtemp(path.join(tmpdir(), 'kisflow-rewind-svc-'));
});
after(async () => {
  await cluster?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function until(what: string, cond: () => boolean, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('rewind to the beginning while the service runs: the rows come again and the flow\'s state starts over', { timeout: 150_000 }, async () => {
  const app = randomName('rw');
  const input = randomName('clicks');
  await cluster.createTopic(input, 1);
  await writeFile(path.join(dir, 'kisflow.yml'), `kistype: global
app_id: ${app}
kafka: { brokers: "${cluster.bootstrap}" }
---
kistype: source
sid: clicks
type: kafka
params: { topics: [${input}], from_beginning: true, max_batch_rows: 50 }
flows: [Counted]
---
kistype: flow
flow_id: Counted
flow_name: Counted
flows: [{ fid: CountByUser }]
---
kistype: func
fid: CountByUser
fname: CountByUser
fmode: Calculate
option: { state: {} }
`);
  const config = await prepareApp(dir, {
    register: (pool) => pool.faas('CountByUser', (flow, rows) => {
      const st = flow.state<number>();
      for (const r of rows) {
        const n = (st.get(String(r['user'])) ?? 0) + 1;
        st.set(String(r['user']), n);
        flow.commitRow({ user: r['user'], n }, r);
      }
    }),
  });
  await cluster.createTopic(flowChangelogs(config.config, config.pool, 'Counted')[0]!, 1).catch(() => undefined);
  await cluster.createTopic(`${app}.control`, 1).catch(() => undefined);
  await kcatProduce(cluster.bootstrap, input, Array.from({ length: 20 }, (_, i) => ({ key: `u${i % 2}`, value: JSON.stringify({ user: `u${i % 2}`, i }) })));
  const out: Row[] = [];
  const svc = KisService.create(config.config, { pool: config.pool, logger: silentLogger(), onRun: (flow, r) => { if (flow === 'Counted') out.push(...r.output); } });
  const running = svc.run();
  const kafka = new Kafka({ brokers: cluster.bootstrap.split(','), logLevel: logLevel.NOTHING });
  const agent = new RewindAgent(kafka, app, svc, silentLogger(), new Set(['Counted']));
  try {
    await agent.start();
    await until('the 20 rows counted', () => out.length >= 20);
    assert.equal(Math.max(...out.map((r) => Number(r['n']))), 10);
    await rewindFlow(kafka, config.config, 'Counted', { kind: 'beginning' }, flowChangelogs(config.config, config.pool, 'Counted'), { pauseTimeoutMs: 60_000 });
    await until('the 20 rows counted again', () => out.length >= 40, 90_000);
    const again = out.slice(20);
    assert.equal(again.length, 20, 'every row once more, none lost, none thrice');
    assert.equal(Math.max(...again.map((r) => Number(r['n']))), 10, 'the counts started over: the state was reset, not doubled');
  } finally {
    await agent.stop();
    svc.stop();
    await running;
  }
});
