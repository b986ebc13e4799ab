// The console end to end: headless Chromium against a real `kisflow run` (the built CLI, a child process) on
// the librdkafka mock cluster. The config, written here, has a Kafka source feeding a flow whose Price step
// fails rows marked bad (dead letters) until a marker file exists, a handler job, and a platform section with
// an admin, an operator and a viewer. What is checked is what the page shows and what is in Kafka (read with
// kcat, independently of the service): rows in and live numbers, a dead letter replayed into the output topic,
// a job triggered from the page and its run record, a viewer refused, and the audit of it all.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import type { Me } from '../../src/api/contract.js';
import { hashPassword } from '../../src/api/auth/index.js';
import { jobTopics } from '../../src/jobs/topics.js';
import type { RunRecord } from '../../src/jobs/records.js';
import { auditTopic, configEditsTopic, statusTopic } from '../../src/kernel/names.js';
import { replayedTopic } from '../../src/repair/names.js';
import { kcatConsume, kcatProduce, randomName, type KcatMessage, startMockCluster, type MockCluster } from '../infra/kafka-mock/index.js';
import { launchChromium, type ConsoleBrowser } from './browser.js';
import { waitUntil } from '../helpers.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CLI = path.join(ROOT, 'dist/src/cli/main.js');
// Cheap scrypt for the test's users (the hash carries its cost, so the server checks with the same one).
const COST = { n: 1024, r: 8, p: 1 };
const USERS = { ada: 'ada-pw', otto: 'otto-pw', vera: 'vera-pw' } as const;

const waitFor = <T>(what: string, fn: () => Promise<T | undefined> | T | undefined, timeoutMs = 45_000): Promise<T> => waitUntil(what, fn, timeoutMs, 200);

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** Price fails any batch holding a row with bad: true until the marker file exists (the "fix" the operator deploys). */
function functionsModule(marker: string): string {
  return `import { existsSync } from 'node:fs';
export default (pool) => {
  pool.faas('Price', async (flow, rows) => {
    if (!existsSync(${JSON.stringify(marker)}) && rows.some((r) => r.bad)) throw new Error('cannot price a bad row yet');
    for (const r of rows) flow.commitRow({ ...r, total: r.qty * 2 }, r);
  });
  pool.jobHandler('stamp', async (ctx) => {
    ctx.logger.info('stamped day ' + String(ctx.params.day));
    return { rowsIn: 1, rowsOut: 1 };
  });
};
`;
}

describe('console end to end: Chromium, kisflow run, the mock Kafka cluster', { timeout: 240_000 }, () => {
  let cluster: MockCluster;
  let chrome: ConsoleBrowser;
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let stderr = '';
  let dir: string;
  let url: string;
  let marker: string;
  const app = randomName('e2e');
  const flow = randomName('Orders').replace(/-/g, '_');
  const input = randomName('in');
  const kept = randomName('kept');
  const dlq = `${flow}.dlq`;

  async function signIn(user: keyof typeof USERS, hash = ''): Promise<Page> {
    const page = await chrome.newPage();
    await page.goto(`${url}${hash}`);
    await page.getByTestId('login-user').fill(user);
    await page.getByTestId('login-password').fill(USERS[user]);
    await page.getByTestId('login-submit').click();
    await page.getByTestId('nav').waitFor();
    return page;
  }

  async function read(topic: string): Promise<KcatMessage[]> {
    return kcatConsume(cluster.bootstrap, topic, { timeoutMs: 30_000 });
  }

  before(async () => {
    cluster = await startMockCluster({ brokers: 1 });
    // The mock refuses CreateTopics: every topic the service uses is made first, with the counts it expects.
    const jt = jobTopics(app);
    for (const [t, p] of [
      [input, 1], [kept, 1], [dlq, 1], [statusTopic(app), 1], [auditTopic(app), 1], [configEditsTopic(app), 1], [replayedTopic(app, flow), 1],
      [jt.jobs, 6], [jt.triggers, 6], [jt.runs, 6], [jt.commands, 1],
    ] as const) await cluster.createTopic(t, p);
    dir = await mkdtemp(path.join(tmpdir(), 'kisflow-e2e-'));
    marker = path.join(dir, 'price-fixed');
    const port = await freePort();
    url = `http://127.0.0.1:${port}/`;
    const [ada, otto, vera] = await Promise.all(Object.values(USERS).map((pw) => hashPassword(pw, COST)));
    await writeFile(path.join(dir, 'fns.mjs'), functionsModule(marker));
    await writeFile(path.join(dir, 'global.yml'), `kistype: global
app_id: ${app}
functions: [fns.mjs]
kafka: { brokers: "${cluster.bootstrap}" }
reload_interval_ms: 0
platform:
  listen: "127.0.0.1:${port}"
  status_interval_ms: 1000
  session_secret: "e2e-session-secret"
  users:
    - { name: ada, role: admin, password_hash: "${ada}" }
    - { name: otto, role: operator, password_hash: "${otto}" }
    - { name: vera, role: viewer, password_hash: "${vera}" }
`);
    await writeFile(path.join(dir, 'flows.yml'), `kistype: source
sid: orders
type: kafka
params: { topics: [${input}], from_beginning: true }
flows: [${flow}]
---
kistype: flow
flow_name: ${flow}
flows: [{ fid: Check }, { fid: Price }, { fid: Keep }]
---
kistype: func
fid: Check
fname: kis.map
fmode: Verify
source: { name: orders, must: [id] }
option: { default_params: { set: { checked: "true" } } }
---
kistype: func
fid: Price
fname: Price
fmode: Calculate
option: { retry_times: 0 }
---
kistype: func
fid: Keep
fmode: Save
option: { cid: kept }
---
kistype: conn
cid: kept
type: kafka
key: id
params: { topic: ${kept}, partitions: 1 }
save: [Keep]
---
kistype: job
id: stamp
scene: ops
runs: { handler: stamp }
params: { day: none }
`);
    chrome = await launchChromium();
    const proc = spawn(process.execPath, [CLI, 'run', '--config', dir], {
      env: { ...process.env, LOG_LEVEL: process.env['LOG_LEVEL'] ?? 'info', KAFKA_BROKERS: cluster.bootstrap }, stdio: ['ignore', 'ignore', 'pipe'],
    });
    child = proc;
    proc.stderr!.setEncoding('utf8').on('data', (c: string) => { stderr = (stderr + c).slice(-30_000); });
    exited = new Promise((r) => proc.once('exit', () => r()));
    // The service's log, for a failure's diagnosis: next to the screenshots, outside the repository.
    proc.stderr!.pipe(createWriteStream(path.join(chrome.shotsDir, 'kisflow-run.log')));
    await waitFor('the console to answer', async () => {
      if (proc.exitCode !== null) throw new Error(`kisflow run exited with ${proc.exitCode}:\n${stderr}`);
      const res = await fetch(`${url}api/openapi.json`).catch(() => undefined);
      return res?.ok ? true : undefined;
    }, 90_000);
  });

  after(async () => {
    await chrome?.close();
    if (child && child.exitCode === null) {
      child.kill('SIGTERM');
      const t = setTimeout(() => child?.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(t);
    }
    await cluster?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
    if (chrome) console.error(`console e2e screenshots and the service's log: ${chrome.shotsDir}`);
  });

  test('unauthenticated: api/overview is 401', async () => {
    const res = await fetch(`${url}api/overview`);
    assert.equal(res.status, 401);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'API_UNAUTHENTICATED');
  });

  test('the operator signs in; the overview shows rows in, the graph live numbers on a function node', async () => {
    await kcatProduce(cluster.bootstrap, input, Array.from({ length: 10 }, (_, i) => ({ key: `g${i}`, value: JSON.stringify({ id: `g${i}`, qty: i + 1 }) })));
    await waitFor('10 rows in the output topic', async () => ((await read(kept)).length >= 10 ? true : undefined));
    // The bad rows come in their own batch, after the good ones were saved, so only they are dead-lettered.
    await kcatProduce(cluster.bootstrap, input, ['b1', 'b2', 'b3'].map((id, i) => ({ key: id, value: JSON.stringify({ id, qty: i + 5, bad: true }) })));
    await waitFor('3 dead letters in the dlq topic', async () => ((await read(dlq)).length >= 3 ? true : undefined));

    const page = await signIn('otto');
    assert.equal(await page.getByTestId('me-role').textContent(), 'operator');
    // The overview refreshes itself; the status record carries every row once the next interval passed.
    await page.getByTestId(`overview-flow-${flow}-rows_in`).filter({ hasText: /^13$/ }).waitFor({ timeout: 45_000 });
    assert.equal(await page.getByTestId(`overview-flow-${flow}-dead_letters`).textContent(), '3');
    await chrome.shot(page, 'e2e-overview');

    await page.getByTestId('nav-graph').click();
    // Counts since start on the function: Price dead-lettered the three bad rows.
    await page.getByTestId(`graph-node-function:${flow}/Price-dead_lettered`).filter({ hasText: /^3 dl$/ }).waitFor({ timeout: 45_000 });
    // A live rate: rows keep flowing (a few every half second) until the node shows a non-zero rows/s.
    let flowing = true;
    const feeder = (async () => {
      for (let n = 0; flowing; n++) {
        await kcatProduce(cluster.bootstrap, input, [0, 1, 2].map((i) => ({ key: `h${n}-${i}`, value: JSON.stringify({ id: `h${n}-${i}`, qty: 1 }) })));
        await new Promise((r) => setTimeout(r, 500));
      }
    })();
    try {
      await page.getByTestId(`graph-node-function:${flow}/Price-in_per_s`).filter({ hasText: /^(?!0\.0\/s)\d+\.\d\/s in$/ }).waitFor({ timeout: 45_000 });
    } finally {
      flowing = false;
      await feeder;
    }
    await chrome.shot(page, 'e2e-graph');
  });

  test('dead letters: the operator replays one after the fix; its output is in the output topic and the page marks it replayed', async () => {
    const letters = (await read(dlq)).filter((m) => m.value.includes('"b2"'));
    assert.equal(letters.length, 1);
    // A letter's id names its dlq partition and offset.
    const id = `${dlq}/${letters[0]!.partition}@${letters[0]!.offset}`;
    const page = await signIn('otto', `#/dead-letters?flow=${flow}`);
    await page.getByTestId('dl-total').filter({ hasText: '3 matching' }).waitFor();
    const rows = page.getByTestId('dl-table').locator('tbody tr');
    assert.equal(await rows.count(), 3);
    await page.getByTestId(`dl-row-${id}`).click();
    assert.match((await page.getByTestId('dl-detail').textContent()) ?? '', /"id": "b2"/);
    await writeFile(marker, 'fixed\n');
    await page.getByTestId(`dl-select-${id}`).check();
    await page.getByTestId('dl-replay-selected').click();
    await page.getByTestId('replay-count-out').filter({ hasText: /^1$/ }).waitFor();
    const saved = (await read(kept)).map((m) => JSON.parse(m.value) as Record<string, unknown>);
    assert.deepEqual(saved.filter((r) => r['id'] === 'b2').map((r) => r['total']), [12], 'the replayed row was priced and saved once');
    assert.equal(saved.filter((r) => r['id'] === 'b1' || r['id'] === 'b3').length, 0, 'the others were not replayed');
    await page.getByTestId(`dl-row-${id}`).getByText('replayed').waitFor();
    assert.equal(await page.getByTestId('dl-table').getByText('replayed', { exact: true }).count(), 1);
    await chrome.shot(page, 'e2e-dead-letters');
  });

  test('jobs: the operator triggers stamp with params; the run shows succeeded and its record is in the run log', async () => {
    const page = await signIn('otto', '#/jobs');
    await page.getByTestId('trigger-open-stamp').click();
    await page.getByTestId('trigger-params-stamp').fill('{"day": "2026-11-30"}');
    await page.getByTestId('trigger-send-stamp').click();
    await page.getByTestId('notice-message').filter({ hasText: /trigger of stamp sent/ }).waitFor();
    const run = await waitFor('a succeeded run of stamp in the run log', async () => {
      const recs = (await read(jobTopics(app).runs)).map((m) => JSON.parse(m.value) as RunRecord);
      return recs.find((r) => r.job === 'stamp' && r.status === 'succeeded');
    });
    assert.equal(run.trigger, 'manual');
    assert.ok(run.log.some((l) => l.includes('stamped day 2026-11-30')), `the params reached the handler: ${JSON.stringify(run.log)}`);
    await page.getByTestId('job-link-stamp').click();
    await page.getByTestId(`run-${run.run_id}-status`).filter({ hasText: 'succeeded' }).waitFor({ timeout: 45_000 });
    await page.getByTestId(`run-log-${run.run_id}`).locator('summary').click();
    await page.getByTestId(`run-log-${run.run_id}`).getByText(/stamped day 2026-11-30/).waitFor();
    await chrome.shot(page, 'e2e-job');
  });

  test('a viewer sees no action buttons; a POST from the viewer\'s page is refused with 403 and no trigger is sent', async () => {
    const page = await signIn('vera', `#/dead-letters?flow=${flow}`);
    await page.getByTestId('dl-total').waitFor();
    await page.getByTestId('dl-table').locator('tbody tr').first().waitFor();
    assert.equal(await page.locator('[data-role-action]').count(), 0);
    assert.equal(await page.locator('[data-testid^="dl-select-"]').count(), 0);
    await page.getByTestId('nav-jobs').click();
    await page.getByTestId('job-stamp').waitFor();
    assert.equal(await page.locator('[data-role-action]').count(), 0);
    assert.equal(await page.getByTestId('trigger-open-stamp').count(), 0);
    assert.equal(await page.getByTestId('nav-audit').count(), 0);

    const triggersBefore = (await read(jobTopics(app).jobs)).length;
    // The viewer's own session and CSRF token: the server, not the page, refuses.
    const answer = await page.evaluate(async () => {
      const me = (await (await fetch('api/me')).json()) as Me;
      const res = await fetch('api/jobs/stamp/trigger', {
        method: 'POST', headers: { 'content-type': 'application/json', 'x-kis-csrf': me.csrf }, body: JSON.stringify({ params: { day: 'viewer' } }),
      });
      return { role: me.role, status: res.status, body: (await res.json()) as { error: { code: string } } };
    });
    assert.deepEqual([answer.role, answer.status, answer.body.error.code], ['viewer', 403, 'API_FORBIDDEN']);
    // Manual triggers go to the jobs topic before the answer; a refused one never does.
    assert.equal((await read(jobTopics(app).jobs)).length, triggersBefore);
    const runs = (await read(jobTopics(app).runs)).map((m) => JSON.parse(m.value) as RunRecord);
    assert.equal(runs.filter((r) => r.log.some((l) => l.includes('viewer'))).length, 0);
  });

  test('the admin\'s audit lists the operator\'s replay and trigger; the admin logs out', async () => {
    const page = await signIn('ada', '#/audit');
    await page.getByTestId('audit-0').waitFor();
    const rows = await page.getByTestId('audit').locator('tbody tr').allTextContents();
    const by = (action: string): string | undefined => rows.find((r) => r.includes('otto') && r.includes('operator') && r.includes(action) && r.includes('ok'));
    assert.ok(by('replay')?.includes(flow), `a replay of ${flow} by otto in:\n${rows.join('\n')}`);
    assert.ok(by('trigger')?.includes('stamp'), `a trigger of stamp by otto in:\n${rows.join('\n')}`);
    assert.ok(rows.some((r) => r.includes('vera') && r.includes('trigger') && r.includes('refused')), 'the viewer\'s refused trigger is audited too');
    await chrome.shot(page, 'e2e-audit');
    // The audit topic holds the same records, written before each answer.
    const recs = (await read(auditTopic(app))).map((m) => JSON.parse(m.value) as { user: string; action: string; target: string; outcome: string });
    assert.ok(recs.some((r) => r.user === 'otto' && r.action === 'replay' && r.target === flow && r.outcome === 'ok'));
    assert.ok(recs.some((r) => r.user === 'otto' && r.action === 'trigger' && r.target === 'stamp' && r.outcome === 'ok'));

    // Log out: the real server clears the cookie, so a reload stays on the login form.
    await page.getByTestId('logout').click();
    await page.getByTestId('login-form').waitFor();
    await page.reload();
    await page.getByTestId('login-form').waitFor();
    assert.equal(await page.getByTestId('nav').count(), 0);
    assert.equal((await page.evaluate(async () => (await fetch('api/me')).status)), 401);
  });
});
