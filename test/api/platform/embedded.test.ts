// The console backend in embedded mode, over a real running Supervisor: the status record's counts after rows
// flowed, overview, graph and history, a function's detail with its dead letters, dead letters kept in memory
// and replayed through the running service (the output lands on the connector's topic), a job triggered and its
// run listed, the config with its documents, validate with file and line, try, apply (restart needed), refusals.
import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { ApiRefusal, type PlatformBackend } from '../../../src/api/backend.js';
import { createPlatformBackend, preparePlatform, type PlatformParts } from '../../../src/api/platform/index.js';
import { PromFlowObserver } from '../../../src/observability/metrics.js';
import { teeFlowObservers, teeSourceObservers } from '../../../src/observability/status-observer.js';
import { Supervisor } from '../../../src/runtime/supervisor.js';
import { Registry } from 'prom-client';
import { configDir, flowsYaml, waitFor, type Names } from './helpers.js';

const logger = pino({ level: process.env['LOG_LEVEL'] ?? 'silent' });
const fixed = (v: boolean): void => { (globalThis as { __kisPlatformFixed?: boolean }).__kisPlatformFixed = v; };

async function refused(p: Promise<unknown>, status: number): Promise<ApiRefusal> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  assert.ok(err instanceof ApiRefusal, `expected a refusal ${status}, got ${String(err)}`);
  assert.equal(err.status, status, err.message);
  return err;
}

describe('console backend, embedded mode', { timeout: 60_000 }, () => {
  const n: Names = { app: 'kis-console-embedded', flow: 'Orders', kept: 'kept-orders' };
  let dir: string;
  let parts: PlatformParts;
  let sup: Supervisor;
  let backend: PlatformBackend;
  let registry: Registry;

  before(async () => {
    fixed(false);
    dir = await configDir(n);
    parts = await preparePlatform(dir);
    registry = new Registry();
    const prom = new PromFlowObserver(registry);
    sup = await Supervisor.start(parts.effective.dir, {
      logger, registry,
      observer: teeFlowObservers(prom, parts.observer), sourceObserver: teeSourceObservers(prom, parts.observer),
      onDeadLetters: parts.deadLetters.add,
    });
    backend = await createPlatformBackend({ parts, supervisor: sup, platform: { statusIntervalMs: 200, historyMinutes: 1 }, logger, version: 'test' });
    const rows = Array.from({ length: 10 }, (_, i) => ({ id: `k${i}`, qty: i + 1 }));
    await sup.current.feed('test', [n.flow], rows);
    await sup.current.feed('test', [n.flow], [{ qty: 1 }, { qty: 2 }]);
    await sup.current.feed('test', [n.flow], [{ id: 'b1', qty: 5, bad: true }, { id: 'b2', qty: 6, bad: true }, { id: 'b3', qty: 7, bad: true }]);
    await sup.current.settle();
  });
  after(async () => {
    await backend?.close();
    sup?.stop();
    await sup?.done().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
    await rm(parts.effective.dir, { recursive: true, force: true });
    fixed(false);
  });

  test('overview: the local replica, counts of the flow after rows flowed', async () => {
    const o = await waitFor('counts in the status record', async () => {
      const v = await backend.overview();
      return v.flows.find((f) => f.flow === n.flow)?.rows_in === 15 ? v : undefined;
    });
    assert.equal(o.mode, 'embedded');
    assert.equal(o.replicas.length, 1);
    assert.equal(o.replicas[0]!.replica, backend.replica);
    assert.equal(o.replicas[0]!.gone, false);
    assert.ok(o.replicas[0]!.config_version.length > 0);
    const f = o.flows.find((x) => x.flow === n.flow)!;
    assert.equal(f.rows_out, 10);
    assert.equal(f.errors, 5, 'two rejected by Check, three dead-lettered by Price');
    assert.equal(f.dead_letters, 5);
    assert.equal(f.replicas, 1);
    const price = o.replicas[0]!.functions.find((x) => x.fid === 'Price')!;
    assert.equal(price.rows_in, 13);
    assert.equal(price.dead_lettered, 3);
    assert.ok(price.p99_ms !== null && price.p99_ms >= 0);
  });

  test('graph and history: live rates after rows flow', async () => {
    const g = await waitFor('a live rate on Price', async () => {
      await sup.current.feed('test', [n.flow], [{ id: 'g1', qty: 1 }]);
      const v = await backend.graph();
      return (v.nodes.find((x) => x.id === `function:${n.flow}/Price`)?.live.in_per_s ?? 0) > 0 ? v : undefined;
    });
    const check = g.nodes.find((x) => x.id === `function:${n.flow}/Check`)!;
    assert.equal(check.live.rejected, 2);
    assert.equal(check.type, 'Verify');
    assert.ok(g.edges.some((e) => e.from === `function:${n.flow}/Keep` && e.to === 'connector:kept' && e.kind === 'save'));
    assert.ok(g.edges.some((e) => e.from === `flow:${n.flow}` && e.to === `function:${n.flow}/Check` && e.kind === 'step'));
    const h = await waitFor('a history point with rows', async () => {
      const v = await backend.history(n.flow, 5);
      return v.flows[n.flow]!.some((p) => p.in_per_s > 0) ? v : undefined;
    });
    assert.equal(h.step_ms, 200);
    assert.ok(h.flows[n.flow]!.every((p, i, a) => i === 0 || p.t >= a[i - 1]!.t), 'oldest first');
    await refused(backend.history('Nope', 5), 404);
  });

  test('function detail with its latest dead letters', async () => {
    const d = await backend.functionDetail(n.flow, 'Price');
    assert.equal(d.mode, 'Calculate');
    assert.equal(d.recent_dead_letters.length, 3);
    assert.ok(d.recent_dead_letters.every((x) => x.fn === 'Price' && x.code === 'KIS_ERR_FUNCTION_FAILED'), JSON.stringify(d.recent_dead_letters.map((x) => x.code)));
    assert.deepEqual(d.origin, { file: 'flows.yml', doc: 4 });
    await refused(backend.functionDetail(n.flow, 'Nope'), 404);
  });

  test('dead letters: listed, replayed through the running service, recorded as replayed', async () => {
    const page = await backend.deadLetters({ flow: n.flow });
    assert.equal(page.total, 5);
    assert.equal(page.by_fn['Price'], 3);
    assert.equal(page.by_fn['Check'], 2);
    const b2 = page.letters.find((l) => l.row?.['id'] === 'b2')!;
    assert.equal(b2.replayed, false);
    fixed(true);
    const r = await backend.replay({ flow: n.flow, ids: [b2.id] });
    assert.equal(r.counts.out, 1);
    assert.deepEqual(r.rows.map((x) => [x.id, x.outcome, x.from]), [[b2.id, 'out', 'Price']]);
    const saved = sup.current.log!.get(n.kept)!.all().map((x) => x.value);
    assert.ok(saved.some((row) => row['id'] === 'b2' && row['total'] === 12), 'the replayed row was saved by Keep');
    const again = await backend.deadLetters({ flow: n.flow, fn: 'Price' });
    assert.equal(again.total, 3);
    assert.equal(again.letters.find((l) => l.id === b2.id)!.replayed, true);
    const twice = await backend.replay({ flow: n.flow, ids: [b2.id] });
    assert.equal(twice.counts.skipped_replayed, 1);
    await refused(backend.replay({ flow: n.flow, ids: ['not-an-id'] }), 400);
    await refused(backend.deadLetters({ flow: 'Nope' }), 404);
  });

  test('jobs: listed, triggered, the run succeeded; daily ratio; executors', async () => {
    const jobs = await backend.jobs(undefined);
    assert.deepEqual(jobs.map((j) => [j.job, j.scene, j.runs_what]), [['report', 'ops', 'flow:Report']]);
    assert.equal(backend.sceneOfJob('report'), 'ops');
    const t = await backend.trigger('report', { region: 'eu' });
    assert.equal(t.job, 'report');
    const runs = await waitFor('a succeeded run', async () => {
      const v = await backend.jobRuns('report', 10);
      return v.runs.some((r) => r.status === 'succeeded') ? v : undefined;
    });
    const run = runs.runs.find((r) => r.status === 'succeeded')!;
    assert.equal(await backend.sceneOfRun(run.run_id), 'ops');
    const daily = await backend.jobDaily(7);
    assert.equal(daily.days.length, 7);
    assert.ok(daily.by_scene.some((d) => d.key === 'ops' && d.succeeded >= 1 && d.ratio === 1));
    const ex = await backend.executors();
    assert.equal(ex.length, 1);
    assert.deepEqual(ex[0]!.partitions, [0]);
    await refused(backend.trigger('nope', {}), 404);
    await refused(backend.jobRuns('nope', 10), 404);
    await refused(backend.kill('no-such-run'), 404);
  });

  test('config: documents with file and text, modules, no problems', async () => {
    const c = await backend.config();
    assert.deepEqual(c.problems, []);
    const flow = c.documents.find((d) => d.kistype === 'flow' && d.id === n.flow)!;
    assert.equal(flow.file, 'flows.yml');
    assert.equal(flow.doc, 1);
    assert.equal(flow.from, 'mounted');
    assert.match(flow.yaml, /flows: \[\{ fid: Check \}/);
    assert.ok(c.documents.some((d) => d.kistype === 'global' && d.id === 'global'));
    assert.ok(c.documents.some((d) => d.kistype === 'job' && d.id === 'report'));
    assert.equal(c.modules[0]!.file, 'fns.mjs');
    assert.match(c.modules[0]!.text, /pool\.faas\('Price'/);
  });

  test('validate: a bad edit is reported with its file and line; a good one is valid', async () => {
    const bad = flowsYaml(n).replace('flows: [{ fid: Check }, { fid: Price }, { fid: Keep }]', 'flows: [{ fid: Check }, { fid: Pirce }, { fid: Keep }]');
    const v = await backend.validate({ 'flows.yml': bad });
    assert.equal(v.valid, false);
    const p = v.problems.find((x) => x.message.includes('Pirce'))!;
    assert.ok(p, JSON.stringify(v.problems));
    assert.equal(p.file, 'flows.yml');
    assert.equal(p.line, 3);
    assert.equal((await backend.validate({ 'flows.yml': flowsYaml(n) })).valid, true);
    await refused(backend.validate({ '../etc/x.yml': 'a: 1' }), 400);
  });

  test('try: the edited flow on sample rows, nothing written', async () => {
    // The edit adds a step, Stamp, whose expression is changed too.
    const edited = flowsYaml(n).replace('{ fid: Price }, { fid: Keep }', '{ fid: Price }, { fid: Stamp }, { fid: Keep }').replace('stamped: "job"', 'stamped: "qty + 100"');
    const before = sup.current.log!.get(n.kept)!.all().length;
    const r = await backend.tryFlow({ files: { 'flows.yml': edited }, flow: n.flow, rows: [{ id: 't1', qty: 3 }, { qty: 4 }] });
    assert.deepEqual(r.problems, []);
    assert.equal(r.output.length, 1);
    assert.equal(r.output[0]!['stamped'], 103);
    assert.equal(r.output[0]!['total'], 6);
    assert.deepEqual(r.rejects.map((x) => [x.fn, x.code]), [['Check', 'KIS_ERR_ROW_MISSING_FIELD']]);
    assert.deepEqual(r.saved['kept']?.map((x) => [x['id'], x['stamped']]), [['t1', 103]]);
    assert.equal(sup.current.log!.get(n.kept)!.all().length, before, 'the running service saw nothing');
    const broken = await backend.tryFlow({ files: { 'flows.yml': 'kistype: flow\nflow_name: X\nflows: [{ fid: Nope }]\n' }, flow: 'X', rows: [] });
    assert.ok(broken.problems.length > 0);
  });

  test('apply in embedded mode: versioned, written to the effective directory, takes effect at restart', async () => {
    const edited = flowsYaml(n).replace('set: { checked: "true" }', 'set: { checked: "applied" }');
    const r = await backend.apply({ 'flows.yml': edited }, 'checked says applied', 'ada');
    assert.equal(r.version, 1);
    assert.equal(r.problems[0]!.code, 'API_RESTART_NEEDED');
    assert.match(await readFile(path.join(parts.effective.dir, 'flows.yml'), 'utf8'), /checked: "applied"/);
    assert.match(await readFile(path.join(dir, 'flows.yml'), 'utf8'), /checked: "true"/, 'the mounted file is untouched');
    const c = await backend.config();
    assert.deepEqual(c.edits.map((e) => [e.version, e.user, e.message, e.files]), [[1, 'ada', 'checked says applied', ['flows.yml']]]);
    assert.equal(c.documents.find((d) => d.id === n.flow)!.from, 'edit');
    await refused(backend.apply({ 'flows.yml': 'kistype: flow\nflow_name: Y\nflows: [{ fid: Nope }]\n' }, 'broken', 'ada'), 422);
  });

  test('embedded edits survive a restart when the effective directory is a stable one', async () => {
    const stable = path.join(path.dirname(parts.effective.dir), `${path.basename(parts.effective.dir)}-stable`);
    try {
      const first = await preparePlatform(dir, { effectiveDir: stable });
      const edited = flowsYaml(n).replace('set: { checked: "true" }', 'set: { checked: "kept" }');
      first.effective.take({ version: 1, at: 1, user: 'ada', message: 'm', files: ['flows.yml'], content: { 'flows.yml': edited }, nonce: 'x' });
      await first.effective.persist();
      const again = await preparePlatform(dir, { effectiveDir: stable });
      assert.deepEqual(again.effective.edits.map((e) => e.version), [1]);
      assert.match(await readFile(path.join(stable, 'flows.yml'), 'utf8'), /checked: "kept"/);
    } finally {
      await rm(stable, { recursive: true, force: true });
      await rm(`${stable}.edits.json`, { force: true });
    }
  });

  test('rewind and snapshot are refused in embedded mode', async () => {
    await refused(backend.rewind(n.flow, { to: 'earliest' }), 409);
    await refused(backend.rewind('Nope', { to: 'earliest' }), 404);
    await refused(backend.snapshot('nope', { tables: ['a.b'] }), 404);
  });
});
