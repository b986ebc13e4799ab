// The console backend in Kafka mode on the librdkafka mock cluster, two replicas (two Supervisors with their
// backends) in this process: status records in the status topic with the right counts, each replica's overview
// showing both, live numbers in the graph, a dead letter listed and replayed through the running service (its
// output in the saved topic, the replay recorded), a job triggered and its run listed as succeeded, validate and
// try on an edit, and apply changing the running flows on both replicas (config_version changes).
import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Kafka, logLevel } from 'kafkajs';
import pino from 'pino';
import type { PlatformBackend } from '../../../src/api/backend.js';
import { createPlatformBackend, preparePlatform, type PlatformParts, type StatusRecord } from '../../../src/api/platform/index.js';
import { jobTopics } from '../../../src/jobs/topics.js';
import { configEditsTopic, statusTopic } from '../../../src/kernel/names.js';
import { replayedTopic } from '../../../src/repair/names.js';
import { readTopics } from '../../../src/repair/read.js';
import { teeFlowObservers, teeSourceObservers } from '../../../src/observability/status-observer.js';
import { Supervisor } from '../../../src/runtime/supervisor.js';
import { randomName, startMockCluster, type MockCluster } from '../../infra/kafka-mock/index.js';
import { configDir, flowsYaml, waitFor, type Names } from './helpers.js';

const logger = pino({ level: process.env['LOG_LEVEL'] ?? 'silent' });
const fixed = (v: boolean): void => { (globalThis as { __kisPlatformFixed?: boolean }).__kisPlatformFixed = v; };

interface Replica {
  readonly parts: PlatformParts;
  readonly sup: Supervisor;
  readonly backend: PlatformBackend;
}

describe('console backend, Kafka mode, two replicas', { timeout: 180_000 }, () => {
  let cluster: MockCluster;
  let kafka: Kafka;
  let n: Names;
  let input: string;
  let dir: string;
  const replicas: Replica[] = [];

  async function replica(): Promise<Replica> {
    const parts = await preparePlatform(dir, { kafka, logger });
    const sup = await Supervisor.start(parts.effective.dir, {
      logger, observer: teeFlowObservers(parts.observer), sourceObserver: teeSourceObservers(parts.observer), onDeadLetters: parts.deadLetters.add,
    });
    const backend = await createPlatformBackend({ parts, supervisor: sup, platform: { statusIntervalMs: 300, historyMinutes: 5 }, logger, version: 'test', kafka });
    const r = { parts, sup, backend };
    replicas.push(r);
    return r;
  }

  async function count(topic: string): Promise<number> {
    const admin = kafka.admin();
    await admin.connect();
    try {
      return (await admin.fetchTopicOffsets(topic)).reduce((s, o) => s + Number(o.high) - Number(o.low), 0);
    } finally {
      await admin.disconnect();
    }
  }

  before(async () => {
    fixed(false);
    cluster = await startMockCluster({ brokers: 1 });
    kafka = new Kafka({ brokers: cluster.bootstrap.split(','), logLevel: logLevel.NOTHING });
    const app = randomName('app');
    const flow = randomName('Orders').replace(/-/g, '_');
    input = randomName('in');
    n = {
      app, flow, kept: randomName('kept'),
      global: `kafka: { brokers: "${cluster.bootstrap}" }\nreload_interval_ms: 0\n`,
      source: `kistype: source\nsid: orders\ntype: kafka\nparams: { topics: [${input}], from_beginning: true }\nflows: [${flow}]\n`,
    };
    // The mock refuses CreateTopics: every topic is made first, with the counts the service expects.
    for (const [t, p] of [[input, 2], [n.kept, 1], [`${flow}.dlq`, 2], [statusTopic(app), 1], [configEditsTopic(app), 1], [replayedTopic(app, flow), 1]] as const) await cluster.createTopic(t, p);
    const jt = jobTopics(app);
    for (const t of [jt.jobs, jt.triggers, jt.runs]) await cluster.createTopic(t, 6);
    await cluster.createTopic(jt.commands, 1);
    dir = await configDir(n);
    // Both at once: they join their groups together, rather than the second one's join rebalancing the first.
    await Promise.all([replica(), replica()]);
  });
  after(async () => {
    for (const r of replicas) {
      await r.backend.close();
      r.sup.stop();
    }
    for (const r of replicas) {
      await r.sup.done().catch(() => undefined);
      await rm(r.parts.effective.dir, { recursive: true, force: true });
    }
    await cluster?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
    fixed(false);
  });

  test('status records: both replicas in the status topic with the flow\'s counts; each overview shows both; the graph has live numbers', async () => {
    const [a, b] = replicas as [Replica, Replica];
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic: input, messages: Array.from({ length: 20 }, (_, i) => ({ key: `k${i}`, value: JSON.stringify({ id: `k${i}`, qty: i + 1 }) })) });
    const live = await waitFor('a live rate on Price in the graph', async () => {
      const g = await a.backend.graph();
      return (g.nodes.find((x) => x.id === `function:${n.flow}/Price`)?.live.in_per_s ?? 0) > 0 ? g : undefined;
    }, 60_000);
    assert.ok(live.edges.some((e) => e.from === 'source:orders' && e.to === `flow:${n.flow}`));
    await waitFor('20 rows saved', async () => ((await count(n.kept)) >= 20 ? true : undefined), 60_000);
    await producer.send({ topic: input, messages: ['b1', 'b2', 'b3'].map((id, i) => ({ key: id, value: JSON.stringify({ id, qty: i + 5, bad: true }) })) });
    await producer.disconnect();
    await waitFor('3 dead letters', async () => ((await count(`${n.flow}.dlq`)) >= 3 ? true : undefined), 60_000);
    // The topic itself: the latest record of each replica, summed.
    const latest = await waitFor('both records with every row counted', async () => {
      const recs = new Map<string, StatusRecord>();
      for (const r of await readTopics(kafka, [statusTopic(n.app)])) if (r.key && r.value) recs.set(r.key, JSON.parse(r.value) as StatusRecord);
      const sum = (k: 'rows_in' | 'dead_letters'): number => [...recs.values()].reduce((s, r) => s + (r.flows[n.flow]?.[k] ?? 0), 0);
      return recs.size === 2 && sum('rows_in') === 23 && sum('dead_letters') === 3 ? recs : undefined;
    }, 60_000);
    assert.deepEqual([...latest.keys()].sort(), [a.backend.replica, b.backend.replica].sort());
    const recs = [...latest.values()];
    assert.equal(recs.reduce((s, r) => s + r.flows[n.flow]!.rows_out, 0), 20);
    assert.equal(recs.reduce((s, r) => s + r.flows[n.flow]!.dead_letters, 0), 3);
    assert.ok(recs.every((r) => r.mode === 'kafka' && r.config_version.length > 0));
    for (const r of [a, b]) {
      const o = await waitFor('the overview sums both replicas', async () => {
        const v = await r.backend.overview();
        return v.flows.find((f) => f.flow === n.flow)?.rows_in === 23 ? v : undefined;
      });
      assert.equal(o.replicas.length, 2);
      assert.ok(o.replicas.every((x) => !x.gone));
      assert.equal(o.flows.find((f) => f.flow === n.flow)!.replicas, 2);
    }
    // Records are made while batches run: the graph catches up with the dead letters by the next interval.
    await waitFor('the dead letters in the graph', async () => ((await a.backend.graph()).nodes.find((x) => x.id === `function:${n.flow}/Price`)!.live.dead_lettered === 3 ? true : undefined));
  });

  test('dead letters: listed from the topic, one replayed through the running service, its output saved and the replay recorded', async () => {
    const [a] = replicas as [Replica];
    const page = await a.backend.deadLetters({ flow: n.flow });
    assert.equal(page.total, 3);
    assert.equal(page.by_code['KIS_ERR_FUNCTION_FAILED'], 3);
    const b2 = page.letters.find((l) => l.row?.['id'] === 'b2')!;
    assert.equal(b2.headers['kis-fn'], 'Price');
    fixed(true);
    const r = await a.backend.replay({ flow: n.flow, ids: [b2.id] });
    assert.deepEqual([r.counts.out, r.rows.length, r.rows[0]!.id], [1, 1, b2.id]);
    const saved = (await readTopics(kafka, [n.kept])).map((x) => JSON.parse(x.value!) as Record<string, unknown>);
    assert.ok(saved.some((row) => row['id'] === 'b2' && row['total'] === 12), 'the replayed row was saved by Keep');
    const again = await a.backend.deadLetters({ flow: n.flow });
    assert.deepEqual(again.letters.filter((l) => l.replayed).map((l) => l.id), [b2.id]);
  });

  test('jobs: triggered from one replica, the run listed as succeeded; executors are the group\'s members', async () => {
    const [a] = replicas as [Replica];
    const t = await a.backend.trigger('report', {});
    assert.equal(t.job, 'report');
    const runs = await waitFor('a succeeded run', async () => {
      const v = await a.backend.jobRuns('report', 10);
      return v.runs.some((x) => x.status === 'succeeded') ? v : undefined;
    }, 60_000);
    assert.equal(runs.runs[0]!.scene, 'ops');
    const ex = await waitFor('two executors', async () => {
      const v = await a.backend.executors();
      return v.length === 2 && v.every((e) => e.heartbeat !== null) ? v : undefined;
    }, 60_000);
    assert.equal(ex.flatMap((e) => e.partitions).length, 1, 'the one job\'s partition is owned by one executor');
  });

  test('config edits: validate names the line, try runs the edit, apply changes the running flows on both replicas', async () => {
    const [a, b] = replicas as [Replica, Replica];
    const bad = await a.backend.validate({ 'flows.yml': flowsYaml(n).replace('{ fid: Price }', '{ fid: Pirce }') + `---\n${n.source!}` });
    assert.equal(bad.valid, false);
    assert.ok(bad.problems.some((p) => p.file === 'flows.yml' && p.line === 3), JSON.stringify(bad.problems));
    const edited = flowsYaml(n).replace('{ fid: Price }, { fid: Keep }', '{ fid: Price }, { fid: Stamp }, { fid: Keep }').replace('stamped: "job"', 'stamped: "qty + 100"') + `---\n${n.source!}`;
    const tried = await a.backend.tryFlow({ files: { 'flows.yml': edited }, flow: n.flow, rows: [{ id: 't1', qty: 1 }] });
    assert.deepEqual(tried.output.map((r) => r['stamped']), [101]);
    const before = (await a.backend.overview()).replicas.map((r) => r.config_version);
    const applied = await a.backend.apply({ 'flows.yml': edited }, 'stamp orders', 'ada');
    assert.deepEqual(applied, { version: 1, problems: [] });
    for (const r of [a, b]) {
      await waitFor('the new flow running', () => (r.sup.config.flows.get(n.flow)!.steps.some((s) => s.fid === 'Stamp') ? true : undefined), 60_000);
    }
    const after = await waitFor('new config versions in the status records', async () => {
      const v = (await a.backend.overview()).replicas;
      return v.every((r) => !before.includes(r.config_version)) && v.length === 2 ? v : undefined;
    }, 60_000);
    assert.equal(new Set(after.map((r) => r.config_version)).size, 1, 'both replicas run the same version');
    // A replica started after the edit reads it first and runs the edited flow from the start.
    const late = await preparePlatform(dir, { kafka, logger });
    assert.deepEqual(late.effective.edits.map((e) => e.version), [1]);
    assert.match(await readFile(path.join(late.effective.dir, 'flows.yml'), 'utf8'), /fid: Stamp \}, \{ fid: Keep/);
    await rm(late.effective.dir, { recursive: true, force: true });
    const c = await b.backend.config();
    assert.deepEqual(c.edits.map((e) => [e.version, e.user]), [[1, 'ada']]);
    assert.equal(c.documents.find((d) => d.id === n.flow)!.from, 'edit');
  });
});
