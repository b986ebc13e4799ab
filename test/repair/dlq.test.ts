// Dead-letter replay on the mock cluster: a service (in this process, Kafka mode) dead-letters the rows of
// a buggy function; the function is fixed; `kisflow dlq replay` brings exactly those rows out once, and a
// second replay brings nothing more. list / show with filters; bad requests. Assertions are on the topics.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { after, before, beforeEach, describe, test } from 'node:test';
import { Kafka, logLevel } from 'kafkajs';
import pino from 'pino';
import { Registry } from 'prom-client';
import { hasCode } from '../../src/kernel/errors.js';
import { prepareApp } from '../../src/runtime/app.js';
import { KisService } from '../../src/runtime/service.js';
import { dlqCommand } from '../../src/repair/dlq.js';
import { traceCommand } from '../../src/repair/trace.js';
import { replayedTopic } from '../../src/repair/names.js';
import { readTopics } from '../../src/repair/read.js';
import { randomName, startMockCluster, type MockCluster } from '../infra/kafka-mock/index.js';
import { waitUntil } from '../helpers.js';

const logger = pino({ level: process.env['LOG_LEVEL'] ?? 'silent' });

const waitFor = <T>(what: string, fn: () => Promise<T | undefined> | T | undefined, timeoutMs = 30_000): Promise<T> => waitUntil(what, fn, timeoutMs, 200);

const FUNCTIONS = `export default (pool) => {
  pool.faas('Risky', async (flow, rows) => {
    // The killed replay's child slows down, so that the kill lands mid-way even on a busy machine.
    if (globalThis.__kisflowRiskyDelayMs) await new Promise((r) => setTimeout(r, globalThis.__kisflowRiskyDelayMs));
    // The bug: a batch holding a row with bad: true fails, until the fix is deployed.
    if (!globalThis.__kisflowRiskyFixed && rows.some((r) => r.bad)) throw new Error('bug: cannot price a bad row');
    for (const r of rows) flow.commitRow({ ...r, priced: r.n * 2 }, r);
  });
};
`;

describe('dead-letter replay on the mock cluster', { timeout: 120_000 }, () => {
  let cluster: MockCluster;
  let kafka: Kafka;
  const dirs: string[] = [];

  before(async () => {
    cluster = await startMockCluster({ brokers: 1 });
    kafka = new Kafka({ brokers: cluster.bootstrap.split(','), logLevel: logLevel.NOTHING });
  });
  beforeEach(() => {
    (globalThis as { __kisflowRiskyFixed?: boolean }).__kisflowRiskyFixed = false;
  });
  after(async () => {
    await cluster?.stop();
    for (const d of dirs) await rm(d, { recursive: true, force: true });
    delete (globalThis as { __kisflowRiskyFixed?: boolean }).__kisflowRiskyFixed;
  });

  /** A flow whose function dead-letters the 150 bad rows of 300 (the good ones come out), then stops. */
  async function deadLettered(): Promise<{ app: string; flow: string; dir: string; out: string; saved: string; dlq: string; input: string }> {
    const app = randomName('app');
    const flow = randomName('Priced').replace(/-/g, '_');
    const input = randomName('in');
    const out = randomName('out');
    const saved = randomName('saved');
    const dlq = `${flow}.dlq`;
    for (const t of [input, out, saved, dlq]) await cluster.createTopic(t, 2);
    const dir = await mkdtemp(path.join(tmpdir(), 'kisflow-dlq-'));
    dirs.push(dir);
    await writeFile(path.join(dir, 'fns.mjs'), FUNCTIONS);
    await writeFile(path.join(dir, 'flows.yml'), `kistype: global
app_id: ${app}
kafka: { brokers: "${cluster.bootstrap}" }
functions: [fns.mjs]
---
kistype: source
sid: orders
type: kafka
params: { topics: [${input}], from_beginning: true }
flows: [${flow}]
---
kistype: flow
flow_name: ${flow}
flows: [{ fid: Risky }, { fid: Keep }, { fid: Out }]
---
kistype: conn
cid: kept
type: kafka
key: id
params: { topic: ${saved}, partitions: 2 }
save: [Keep]
---
kistype: func
fid: Keep
fmode: Save
option: { cid: kept }
---
kistype: func
fid: Risky
fname: Risky
fmode: Calculate
option: { retry_times: 0 }
---
kistype: func
fid: Out
fname: kis.sink
fmode: Expand
option: { default_params: { to: topic, topic: ${out}, key: id } }
`);
    const producer = kafka.producer();
    await producer.connect();
    const send = async (from: number, to: number, bad: boolean): Promise<void> => {
      const messages = [];
      for (let n = from; n < to; n++) messages.push({ key: `k${n}`, value: JSON.stringify({ id: `k${n}`, n, bad }) });
      await producer.send({ topic: input, messages });
    };
    const admin = kafka.admin();
    await admin.connect();
    const count = async (topic: string): Promise<number> => (await admin.fetchTopicOffsets(topic)).reduce((n, o) => n + Number(o.high) - Number(o.low), 0);
    const prepared = await prepareApp(dir);
    const svc = KisService.create(prepared.config, { pool: prepared.pool, logger });
    const running = svc.run();
    try {
      await send(0, 150, false);
      await waitFor('150 good rows out', async () => ((await count(out)) >= 150 ? true : undefined));
      await send(150, 300, true);
      await waitFor('150 dead letters', async () => ((await count(dlq)) >= 150 ? true : undefined));
    } finally {
      svc.stop();
      await running.catch(() => undefined);
      await producer.disconnect();
      await admin.disconnect();
    }
    return { app, flow, dir, out, saved, dlq, input };
  }

  test('a function fixed after it dead-lettered rows: replay brings exactly those rows out, once, even run twice', async () => {
    const { app, flow, dir, out, saved, dlq, input } = await deadLettered();
    const ctx = (): { lines: string[]; stdout: { write(t: string): boolean }; logger: typeof logger } => {
      const lines: string[] = [];
      return { lines, stdout: { write: (t: string) => { lines.push(...t.split('\n').filter(Boolean)); return true; } }, logger };
    };

    // list with a filter, and bad requests.
    const listed = ctx();
    assert.equal(await dlqCommand(['list', '--flow', flow, '--config', dir, '--code', 'KIS_ERR_FUNCTION_FAILED', '--fn', 'Risky'], listed), 0);
    assert.equal(listed.lines[0], `150 dead letters of flow ${flow}`);
    const one = ctx();
    await dlqCommand(['show', '--flow', flow, '--config', dir, '--key', 'k151'], one);
    assert.equal(one.lines.length, 2);
    assert.match(one.lines[1]!, /"id":"k151"/);
    assert.match(one.lines[0]!, /from orders .*@\d+/);
    await assert.rejects(dlqCommand(['list', '--flow', 'NoSuchFlow', '--config', dir], ctx()), (e: unknown) => hasCode(e, 'KIS_ERR_REPAIR_REQUEST') && /no flow 'NoSuchFlow'/.test((e as Error).message));
    await assert.rejects(dlqCommand(['list', '--flow', flow, '--config', dir, '--since', '2999-01-01T00:00:00Z'], ctx()), (e: unknown) => hasCode(e, 'KIS_ERR_REPAIR_REQUEST') && /in the future/.test((e as Error).message));

    // Still broken: a replay dead-letters them again (and records it).
    const broken = ctx();
    assert.equal(await dlqCommand(['replay', '--flow', flow, '--config', dir, '--key', 'k150'], broken), 1);
    assert.match(broken.lines.at(-1)!, /dead_lettered=1/);

    // Fixed: the rest come out once.
    (globalThis as { __kisflowRiskyFixed?: boolean }).__kisflowRiskyFixed = true;
    const registry = new Registry();
    const first = ctx();
    assert.equal(await dlqCommand(['replay', '--flow', flow, '--config', dir], { ...first, registry }), 0);
    // k150 was recorded as replayed (dead-lettered again); its new dead letter is replayed now with the rest.
    assert.match(first.lines.at(-1)!, /out=150 .*skipped_replayed=1/);
    const replayed = (await registry.getSingleMetric('kisflow_dlq_replayed_total')!.get()).values.find((v) => v.labels['outcome'] === 'out');
    assert.equal(replayed?.value, 150);
    const second = ctx();
    assert.equal(await dlqCommand(['replay', '--flow', flow, '--config', dir], second), 0);
    assert.match(second.lines.at(-1)!, /out=0 .*skipped_replayed=151/);

    // The journey of k151: its input record, its dead letter (Risky), then what the replay saved and sank.
    const traced = ctx();
    assert.equal(await traceCommand(['--flow', flow, '--key', 'k151', '--config', dir, '--json'], traced), 0);
    const report = JSON.parse(traced.lines.join('')) as import('../../src/repair/trace.js').TraceReport;
    assert.deepEqual(report.topics, { inputs: [input], outputs: [saved, out], deadLetters: dlq });
    assert.equal(report.journeys.length, 1, JSON.stringify(report.journeys, null, 1));
    const j = report.journeys[0]!;
    assert.equal(j.input?.topic, input);
    assert.match(j.input!.value!, /"id":"k151"/);
    // Records of one run may differ by a millisecond: the dead letter first, then the two outputs in any order.
    const hops = j.hops.map((h) => [h.kind, h.topic, h.by, h.code ?? '']);
    assert.deepEqual([hops[0], ...hops.slice(1).sort((a, b) => (a[1]! < b[1]! ? -1 : 1))], [
      ['dead_letter', dlq, 'Risky', 'KIS_ERR_FUNCTION_FAILED'],
      ...([['saved', saved, `${flow}/Keep`, ''], ['saved', out, '', '']].sort((a, b) => (a[1]! < b[1]! ? -1 : 1))),
    ]);
    const none = ctx();
    await traceCommand(['--flow', flow, '--key', 'nope', '--config', dir], none);
    assert.match(none.lines[0]!, /0 journeys/);

    const final = await readTopics(kafka, [out, replayedTopic(app, flow)]);
    const outRows = final.filter((r) => r.topic === out).map((r) => JSON.parse(r.value!) as { id: string; priced: number });
    const ids = outRows.map((r) => r.id).sort();
    assert.deepEqual(ids, Array.from({ length: 300 }, (_, n) => `k${n}`).sort(), 'every row out exactly once');
    assert.ok(outRows.every((r) => r.priced === Number(r.id.slice(1)) * 2));
    const records = final.filter((r) => r.topic !== out);
    assert.equal(new Set(records.map((r) => r.key)).size, 151, 'one record per replayed dead letter');
  });

  test('a replay killed mid-way and run again: every saved row exactly once (the row in flight is checked by its lineage)', async () => {
    const { flow, dir, out, saved } = await deadLettered();
    const admin = kafka.admin();
    await admin.connect();
    const count = async (topic: string): Promise<number> => (await admin.fetchTopicOffsets(topic)).reduce((n, o) => n + Number(o.high) - Number(o.low), 0);
    try {
      const base = await count(out);
      const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
      const script = path.join(dir, 'replay-child.mts');
      await writeFile(script, `import { dlqCommand } from ${JSON.stringify(path.join(repo, 'src/repair/dlq.ts'))};
(globalThis as { __kisflowRiskyFixed?: boolean; __kisflowRiskyDelayMs?: number }).__kisflowRiskyFixed = true;
(globalThis as { __kisflowRiskyDelayMs?: number }).__kisflowRiskyDelayMs = 20;
process.exitCode = await dlqCommand(['replay', '--flow', ${JSON.stringify(flow)}, '--config', ${JSON.stringify(dir)}]);
`);
      const child = spawn(process.execPath, ['--import', 'tsx', script], { cwd: repo, stdio: 'ignore' });
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      await waitFor('the child to replay some rows', async () => ((await count(out)) >= base + 40 ? true : undefined), 60_000);
      child.kill('SIGKILL');
      await exited;
      const before = await count(out);
      assert.ok(before < base + 150, `killed mid-way: ${before - base} of 150 out`);

      (globalThis as { __kisflowRiskyFixed?: boolean }).__kisflowRiskyFixed = true;
      const lines: string[] = [];
      assert.equal(await dlqCommand(['replay', '--flow', flow, '--config', dir], { stdout: { write: (t: string) => lines.push(t) }, logger }), 0);
      const records = await readTopics(kafka, [saved, out]);
      const per = (topic: string): Map<string, number> => {
        const m = new Map<string, number>();
        for (const r of records.filter((x) => x.topic === topic)) {
          const id = (JSON.parse(r.value!) as { id: string }).id;
          m.set(id, (m.get(id) ?? 0) + 1);
        }
        return m;
      };
      const savedIds = per(saved);
      assert.equal(savedIds.size, 300);
      assert.deepEqual([...savedIds.values()].filter((n) => n !== 1), [], 'every row saved exactly once');
      const outIds = per(out);
      assert.equal(outIds.size, 300);
      assert.ok([...outIds.values()].filter((n) => n > 1).length <= 1, 'the sink (no lineage) may repeat at most the row in flight');
    } finally {
      await admin.disconnect();
    }
  });
});
