// Hot reload, as Kubernetes does it: the mounted config directory changes under a running service.
// A valid change is applied at a batch boundary and alters the output; an invalid one is rejected,
// reported (log and metric), and the old flows keep running.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { kcatConsume, kcatProduce, randomName, startMockCluster, type MockCluster } from '../infra/kafka-mock/index.js';
import { waitFor as waitForState } from './kafka-helpers.js';

let cluster: MockCluster;
before(async () => { cluster = await startMockCluster({ brokers: 1 }); });
after(async () => { await cluster?.stop(); });

const flowYaml = (input: string, out: string, expr: string, port: number) => `kistype: global
app_id: reload-${input}
kafka: { brokers: "\${KAFKA_BROKERS}" }
reload_interval_ms: 200
prometheus_enable: true
prometheus_listen: true
prometheus_serve: 127.0.0.1:${port}
---
kistype: source
sid: s
type: kafka
params: { topics: [${input}], from_beginning: true, max_batch_rows: 10 }
flows: [F]
---
kistype: flow
flow_name: F
flows: [{ fid: Tag }, { fid: Out }]
---
kistype: func
fid: Tag
fname: kis.map
fmode: Calculate
option: { default_params: { set: { tag: "${expr}" } } }
---
kistype: func
fid: Out
fname: kis.sink
fmode: Expand
option: { default_params: { to: topic, topic: ${out}, key: n } }
`;

/** Replaces a file at once, as Kubernetes swaps a ConfigMap (the service never sees half a file). */
async function replaceFile(file: string, text: string): Promise<void> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.tmp`);
  await writeFile(tmp, text);
  await rename(tmp, file);
}

const waitFor = <T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> => waitForState(what, fn, timeoutMs, 200);

test('a valid config change alters the output; an invalid one is rejected and the old flows keep running', async () => {
  const input = randomName('in');
  const out = randomName('out');
  await cluster.createTopic(input, 1);
  const dir = await mkdtemp(path.join(tmpdir(), 'kisflow-reload-'));
  const port = 20000 + Math.floor(Math.random() * 20000);
  await writeFile(path.join(dir, 'flows.yml'), flowYaml(input, out, "'v1'", port));
  let stderr = '';
  const child = spawn(process.execPath, [path.resolve('dist/src/cli/main.js'), 'run', '--config', dir], {
    env: { ...process.env, KAFKA_BROKERS: cluster.bootstrap, LOG_LEVEL: 'info' }, stdio: ['ignore', 'ignore', 'pipe'],
  });
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  const outRows = async () => (await kcatConsume(cluster.bootstrap, out, { timeoutMs: 5000 }).catch(() => []))
    .map((m) => JSON.parse(m.value) as { n: number; tag: string });
  try {
    await kcatProduce(cluster.bootstrap, input, [...[1, 2, 3].map((n) => ({ value: JSON.stringify({ n }) })), { value: '{"n": ' }]);
    await waitFor('3 rows tagged v1', async () => ((await outRows()).length >= 3 ? true : undefined));

    // a valid change: the tag expression
    await replaceFile(path.join(dir, 'flows.yml'), flowYaml(input, out, "'v2'", port));
    await waitFor('the change applied', async () => (stderr.includes('config change applied') ? true : undefined));
    await kcatProduce(cluster.bootstrap, input, [4, 5].map((n) => ({ value: JSON.stringify({ n }) })));
    const rows = await waitFor('5 rows', async () => { const r = await outRows(); return r.length >= 5 ? r : undefined; });
    assert.deepEqual(rows.filter((r) => r.n <= 3).map((r) => r.tag), ['v1', 'v1', 'v1']);
    assert.deepEqual(rows.filter((r) => r.n > 3).map((r) => r.tag), ['v2', 'v2'], 'rows after the reload see the new config');
    assert.equal(rows.length, 5, 'nothing processed twice: the old service committed before the new one started');

    // an invalid change: a misspelt key
    await replaceFile(path.join(dir, 'flows.yml'), flowYaml(input, out, "'v3'", port).replace('reload_interval_ms', 'reload_intervall_ms'));
    await waitFor('the change rejected', async () => (stderr.includes('config change rejected') ? true : undefined));
    assert.match(stderr, /unknown key 'reload_intervall_ms'/);
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const reloads = metrics.split('\n').filter((l) => l.startsWith('kisflow_config_reloads_total'));
    assert.deepEqual(reloads, ['kisflow_config_reloads_total{result="applied"} 1', 'kisflow_config_reloads_total{result="rejected"} 1'],
      stderr.split('\n').filter((l) => l.includes('config change')).join('\n'));
    // rows counted equal rows sent (3 + 2 before the scrape; the malformed one is a dead letter, not a row)
    assert.match(metrics, /flow_data_total\{flow_name="F"\} 5\n/);
    assert.match(metrics, /kisflow_dead_letters_total\{flow_id="F",code="KIS_ERR_ROW_DECODE"\} 1\n/);
    // consumer metrics: lag per partition (caught up: 0), commits timed, rebalances counted
    assert.match(metrics, new RegExp(`kisflow_consumer_lag\\{source="s",topic="${input}",partition="0"\\} 0`));
    assert.match(metrics, /kisflow_commit_duration_ms_count\{source="s"\} [1-9]/);
    assert.match(metrics, /kisflow_rebalances_total\{source="s"\} [1-9]/);
    await kcatProduce(cluster.bootstrap, input, [6].map((n) => ({ value: JSON.stringify({ n }) })));
    const after6 = await waitFor('row 6', async () => { const r = await outRows(); return r.find((x) => x.n === 6); });
    assert.equal(after6.tag, 'v2', 'the old (last valid) flows keep running');
  } finally {
    child.kill('SIGTERM');
    assert.equal(await exited, 0, stderr.slice(-2000));
    await rm(dir, { recursive: true, force: true });
  }
});
