// The console's page in headless Chromium against the stub API (test/console/stub-server.ts): what the page
// shows and what it sends. The end-to-end tests against the real service come with the HTTP layer.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import type { ReplayRequest, TriggerRequest } from '../../src/api/contract.js';
import { launchChromium, type ConsoleBrowser } from './browser.js';
import { startStubServer, type StubServer } from './stub-server.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

let build: string;
let stub: StubServer;
let prefixed: StubServer;
let chrome: ConsoleBrowser;

async function signIn(url: string, user: string, password: string): Promise<Page> {
  const page = await chrome.newPage();
  await page.goto(url);
  await page.getByTestId('login-user').fill(user);
  await page.getByTestId('login-password').fill(password);
  await page.getByTestId('login-submit').click();
  await page.getByTestId('nav').waitFor();
  return page;
}

async function text(page: Page, testid: string): Promise<string> {
  const loc = page.getByTestId(testid);
  await loc.waitFor();
  return (await loc.textContent()) ?? '';
}

function lastPost(server: StubServer, route: string) {
  return server.requests.filter((r) => r.method === 'POST' && r.route === route).at(-1);
}

describe('console UI in Chromium (stub API)', () => {
  before(async () => {
    build = mkdtempSync(path.join(tmpdir(), 'kisflow-console-build-'));
    const res = spawnSync(process.execPath, [path.join(ROOT, 'scripts/build-console.mjs'), '--out', build], { encoding: 'utf8' });
    assert.equal(res.status, 0, `console build failed:\n${res.stdout}${res.stderr}`);
    stub = await startStubServer(build, '/');
    prefixed = await startStubServer(build, '/kisflow/');
    chrome = await launchChromium();
  });

  after(async () => {
    await chrome?.close();
    await stub?.close();
    await prefixed?.close();
    if (build) rmSync(build, { recursive: true, force: true });
    if (chrome) console.error(`console screenshots: ${chrome.shotsDir}`);
  });

  test('login: a wrong password shows the reason; the right one opens the console as that user', async () => {
    const page = await chrome.newPage();
    const problems: string[] = [];
    page.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()); });
    const elsewhere: string[] = [];
    page.on('request', (r) => { if (!r.url().startsWith(new URL(stub.url).origin)) elsewhere.push(r.url()); });
    await page.goto(stub.url);
    await page.getByTestId('login-user').fill('admin');
    await page.getByTestId('login-password').fill('nope');
    await page.getByTestId('login-submit').click();
    await page.getByText('wrong user or password').waitFor();
    await chrome.shot(page, 'login');
    await page.getByTestId('login-password').fill('admin-pw');
    await page.getByTestId('login-submit').click();
    assert.equal(await text(page, 'me-user'), 'admin');
    assert.equal(await text(page, 'me-role'), 'admin');
    // The session is the HttpOnly cookie: a reload stays signed in and the page never sees the cookie.
    await page.reload();
    assert.equal(await text(page, 'me-user'), 'admin');
    assert.equal(await page.evaluate('document.cookie'), '');
    // Nothing broke the Content-Security-Policy (no inline script, no eval).
    assert.deepEqual(problems.filter((p) => /Content Security Policy/i.test(p)), []);
    // Everything the page loads comes from the server it was served by (works offline, no CDN).
    assert.deepEqual(elsewhere, []);
  });

  test('overview shows each flow\'s numbers, the charts and the replicas with the gone one marked', async () => {
    const page = await signIn(stub.url, 'admin', 'admin-pw');
    assert.equal(await text(page, 'overview-flow-MyFlow1-in_per_s'), '42.5');
    assert.equal(await text(page, 'overview-flow-MyFlow1-dead_letters'), '3');
    assert.equal(await text(page, 'overview-flow-MyFlow1-lag_records'), '40');
    assert.equal(await text(page, 'overview-flow-PayFlow-in_per_s'), '7.3');
    assert.equal(await text(page, 'overview-flow-PayFlow-replicas'), '1');
    assert.match(await text(page, 'replica-r-2-state'), /gone/);
    assert.match(await text(page, 'replica-r-1-state'), /ready/);
    assert.equal(await text(page, 'overview-replicas-live'), '1 / 2');
    for (const chart of ['chart-rows', 'chart-errors', 'chart-lag']) {
      assert.equal(await page.getByTestId(chart).locator('path.line').count(), 2, chart);
    }
    await chrome.shot(page, 'overview');
  });

  test('the graph shows live numbers that change between refreshes, and a function opens its page', async () => {
    const page = await signIn(`${stub.url}#/graph`, 'admin', 'admin-pw');
    const id = 'graph-node-function:MyFlow1/VerifyOrder-in_per_s';
    const first = await text(page, id);
    assert.match(first, /^\d+\.\d\/s in$/);
    // The next refresh draws new figures (the stub's numbers move on every request).
    await page.getByTestId(id).filter({ hasNotText: first }).waitFor();
    const second = await text(page, id);
    assert.notEqual(second, first);
    assert.equal(await page.getByTestId('graph-svg').locator('g.node').count(), 9);
    assert.equal(await page.getByTestId('graph-svg').locator('path.edge').count(), 8);
    assert.equal(await text(page, 'graph-node-function:MyFlow1/VerifyOrder-dead_lettered'), '3 dl');
    assert.equal(await text(page, 'graph-node-function:MyFlow1/VerifyOrder-p99_ms'), 'p99 1.4 ms');
    assert.equal(await text(page, 'graph-node-flow:MyFlow1-lag_records'), 'lag 40');
    // Layered left to right: source, flow, its functions in step order, then the connector.
    const x = async (node: string): Promise<number> => (await page.getByTestId(`graph-node-${node}`).boundingBox())!.x;
    const xs = await Promise.all(['source:orders', 'flow:MyFlow1', 'function:MyFlow1/VerifyOrder', 'function:MyFlow1/SaveOrder', 'connector:Orders'].map(x));
    assert.deepEqual([...xs].sort((a, b) => a - b), xs);
    await chrome.shot(page, 'graph');
    await page.getByTestId('graph-node-function:MyFlow1/VerifyOrder').click();
    await page.waitForURL(/#\/flows\/MyFlow1\/functions\/VerifyOrder$/);
    assert.match(await text(page, 'function-params'), /"min_amount": 0/);
    assert.equal(await text(page, 'function-dead_lettered'), '3');
    assert.equal(await page.getByTestId('function-dead-letters').locator('tbody tr').count(), 2);
    await chrome.shot(page, 'function');
  });

  test('dead letters: a row shows its JSON and headers; replaying a selection sends the ids and shows the counts', async () => {
    const page = await signIn(`${stub.url}#/dead-letters?flow=MyFlow1`, 'ops', 'ops-pw');
    await page.getByTestId('dl-row-MyFlow1.dlq/0@1').click();
    assert.match(await text(page, 'dl-detail-row'), /"amount": -5/);
    assert.match(await text(page, 'dl-detail-headers'), /"kis-code": "KIS_ERR_REJECTED"/);
    await page.getByTestId('dl-select-MyFlow1.dlq/0@1').check();
    await page.getByTestId('dl-select-MyFlow1.dlq/0@3').check();
    assert.equal(await text(page, 'dl-replay-selected'), 'Replay selected (2)');
    await page.getByTestId('dl-replay-selected').click();
    assert.equal(await text(page, 'replay-count-out'), '1');
    assert.equal(await text(page, 'replay-count-skipped_undecodable'), '1');
    const sent = lastPost(stub, 'dead-letters/replay');
    assert.ok(sent);
    assert.deepEqual(sent.body as ReplayRequest, { flow: 'MyFlow1', ids: ['MyFlow1.dlq/0@1', 'MyFlow1.dlq/0@3'], from_start: false });
    assert.ok(sent.csrf && sent.csrf.length > 0, 'the POST carried the CSRF token');
    await chrome.shot(page, 'dead-letters');

    // Replay all matching the filter sends the filter, not ids.
    await page.getByTestId('dl-filter-code').fill('KIS_ERR_REJECTED');
    await page.getByTestId('dl-search').click();
    await page.getByText('2 matching').waitFor();
    await page.getByTestId('dl-replay-all').click();
    await page.getByTestId('replay-count-out').getByText('2').waitFor();
    assert.deepEqual(lastPost(stub, 'dead-letters/replay')!.body as ReplayRequest, { flow: 'MyFlow1', filter: { code: 'KIS_ERR_REJECTED' }, from_start: false });
  });

  test('trigger now sends the params; params that are not a JSON object are refused in the page', async () => {
    const page = await signIn(`${stub.url}#/jobs`, 'ops', 'ops-pw');
    await page.getByTestId('trigger-open-nightly-settle').click();
    const before = stub.requests.filter((r) => r.route === 'jobs/nightly-settle/trigger').length;
    await page.getByTestId('trigger-params-nightly-settle').fill('{"day": ');
    await page.getByTestId('trigger-send-nightly-settle').click();
    assert.match(await text(page, 'trigger-problem-nightly-settle'), /not JSON/);
    assert.equal(stub.requests.filter((r) => r.route === 'jobs/nightly-settle/trigger').length, before);
    await page.getByTestId('trigger-params-nightly-settle').fill('{"day": "2026-11-29", "dry_run": true}');
    await page.getByTestId('trigger-send-nightly-settle').click();
    assert.match(await text(page, 'notice-message'), /trigger of nightly-settle sent \(request req-\d+\)/);
    assert.deepEqual(lastPost(stub, 'jobs/nightly-settle/trigger')!.body as TriggerRequest, { params: { day: '2026-11-29', dry_run: true } });
    // Scenes: this operator acts on billing only, so the reports job offers no trigger.
    await page.getByTestId('job-weekly-report').waitFor();
    assert.equal(await page.getByTestId('trigger-open-weekly-report').count(), 0);
    assert.equal(await text(page, 'job-nightly-settle-ratio'), '96.0%');
    assert.ok(await page.getByTestId('chart-jobs-daily').locator('path.line').count() >= 2);
    await chrome.shot(page, 'jobs');
    await page.getByTestId('job-link-invoice-mail').click();
    await page.getByTestId('run-invoice-mail-r3').waitFor();
    assert.match(await text(page, 'run-invoice-mail-r1-status'), /failed/);
    assert.equal(await page.getByTestId('kill-invoice-mail-r3').count(), 1, 'the running run has a kill button');
    assert.equal(await page.getByTestId('kill-invoice-mail-r2').count(), 0, 'a finished run has none');
    await page.getByTestId('run-log-invoice-mail-r1').locator('summary').click();
    await page.getByTestId('run-log-invoice-mail-r1').locator('pre').getByText('storage: connection refused').waitFor();
    await chrome.shot(page, 'job');
  });

  test('a viewer sees no action buttons, and no admin pages', async () => {
    const viewer = await signIn(stub.url, 'view', 'view-pw');
    const operator = await signIn(stub.url, 'ops', 'ops-pw');
    const pages: [string, string][] = [
      ['#/overview', 'overview-flows'], ['#/graph', 'graph-svg'], ['#/flows/MyFlow1/functions/VerifyOrder', 'function-params'],
      ['#/dead-letters?flow=MyFlow1', 'dl-table'], ['#/jobs', 'jobs-scene-billing'], ['#/jobs/invoice-mail', 'job-runs'], ['#/config', 'config-documents'],
    ];
    let operatorButtons = 0;
    for (const [hash, ready] of pages) {
      for (const page of [viewer, operator]) {
        await page.goto(`${stub.url}${hash}`);
        await page.getByTestId(ready).waitFor();
        // The dead letters' rows come after the table's frame; wait for one so their checkboxes would be there.
        if (hash.startsWith('#/dead-letters')) await page.getByTestId('dl-row-MyFlow1.dlq/0@1').waitFor();
        if (hash === '#/jobs/invoice-mail') await page.getByTestId('run-invoice-mail-r3').waitFor();
        const n = await page.locator('[data-role-action]').count();
        if (page === viewer) assert.equal(n, 0, `viewer on ${hash} sees ${n} action button(s)`);
        else operatorButtons += n;
      }
    }
    assert.ok(operatorButtons >= 6, `the operator saw only ${operatorButtons} action buttons`);
    assert.equal(await viewer.getByTestId('dl-select-MyFlow1.dlq/0@1').count(), 0);
    assert.equal(await viewer.getByTestId('nav-users').count(), 0);
    assert.equal(await viewer.getByTestId('nav-audit').count(), 0);
    await viewer.goto(`${stub.url}#/dead-letters?flow=MyFlow1`);
    await viewer.getByTestId('dl-row-MyFlow1.dlq/0@1').waitFor();
    await chrome.shot(viewer, 'viewer-dead-letters');
  });

  test('a refusal from the server (403) is shown with its message', async () => {
    const page = await signIn(`${stub.url}#/jobs/invoice-mail`, 'ops', 'ops-pw');
    stub.refuse.set('POST runs/invoice-mail-r3/kill', { status: 403, code: 'API_FORBIDDEN', message: 'ops is a viewer now; kill needs operator' });
    try {
      await page.getByTestId('kill-invoice-mail-r3').click();
      assert.equal(await text(page, 'error-code'), 'API_FORBIDDEN');
      assert.equal(await text(page, 'error-message'), 'ops is a viewer now; kill needs operator');
      await chrome.shot(page, 'refused');
    }
    finally {
      stub.refuse.delete('POST runs/invoice-mail-r3/kill');
    }
  });

  test('config: validate shows problems with file and line; an admin applies an edit with a message; try shows the output', async () => {
    const page = await signIn(`${stub.url}#/config`, 'admin', 'admin-pw');
    await page.getByTestId('doc-flow-MyFlow1').click();
    const editor = page.getByTestId('config-editor');
    assert.match(await editor.inputValue(), /flow_name: MyFlow1[\s\S]*---\nkistype: func/);
    await editor.fill('kistype: flow\nflow_name: MyFlow1\n---\nkistype: func\nfname: VerifyOrder\nfmode: Nope\n');
    await page.getByTestId('config-validate').click();
    await page.getByTestId('validate-problems').waitFor();
    const problem = page.getByTestId('validate-problems').locator('tbody tr').first();
    assert.match((await problem.textContent()) ?? '', /KIS_ERR_CONFIG\s*flows\.yaml\s*6\s*8/);
    await page.getByTestId('try-rows').fill('[{"amount": 5}, {"amount": -1}]');
    await page.getByTestId('config-try').click();
    assert.match(await text(page, 'try-output'), /"amount": 5/);
    assert.match(await text(page, 'try-rejects'), /KIS_ERR_REJECTED/);
    await page.getByTestId('apply-message').fill('stricter fmode');
    await page.getByTestId('config-apply').click();
    assert.match(await text(page, 'notice-message'), /applied as version 3/);
    const applied = lastPost(stub, 'config/apply')!.body as { files: Record<string, string>; message: string };
    assert.equal(applied.message, 'stricter fmode');
    assert.deepEqual(Object.keys(applied.files), ['flows.yaml']);
    await chrome.shot(page, 'config');
    await page.getByTestId('nav-audit').click();
    await page.getByTestId('audit-0').waitFor();
    await page.getByTestId('nav-users').click();
    assert.match(await text(page, 'user-ops'), /operator\s*billing/);
  });

  test('repair: an operator rewinds a flow to the earliest offsets and asks a binlog source for a new snapshot', async () => {
    const page = await signIn(stub.url, 'ops', 'ops-pw');
    await page.getByTestId('overview-flows').waitFor();
    await page.getByTestId('rewind-flow').selectOption('PayFlow');
    await page.getByTestId('rewind-earliest').check();
    await page.getByTestId('rewind-send').click();
    assert.match(await text(page, 'notice-message'), /rewound PayFlow: 2 partition\(s\)/);
    assert.deepEqual(lastPost(stub, 'flows/PayFlow/rewind')!.body, { to: 'earliest' });
    await page.getByTestId('snapshot-source').selectOption('payments');
    await page.getByTestId('snapshot-tables').fill('shop.orders, shop.users');
    await page.getByTestId('snapshot-send').click();
    // The rewind's notice is still up until the snapshot's answer replaces it.
    await page.getByTestId('notice-message').filter({ hasText: 'snapshot of shop.orders, shop.users requested from payments' }).waitFor();
    assert.deepEqual(lastPost(stub, 'sources/payments/snapshot')!.body, { tables: ['shop.orders', 'shop.users'] });
  });

  test('a lost session (401) brings back the login form, and signing in again returns to the same view', async () => {
    const page = await signIn(`${stub.url}#/graph`, 'view', 'view-pw');
    await page.getByTestId('graph-svg').waitFor();
    stub.dropSessions();
    // The graph's next refresh is answered 401.
    await page.getByTestId('login-form').waitFor();
    assert.equal(await page.getByTestId('nav').count(), 0);
    await page.getByTestId('login-user').fill('view');
    await page.getByTestId('login-password').fill('view-pw');
    await page.getByTestId('login-submit').click();
    await page.getByTestId('graph-svg').waitFor();
    assert.match(page.url(), /#\/graph$/);
  });

  test('log out: the header\'s button posts api/logout with the CSRF token and brings back the login form; a reload stays signed out', async () => {
    const page = await signIn(`${stub.url}#/jobs`, 'view', 'view-pw');
    await page.getByTestId('jobs-scene-billing').waitFor();
    await page.getByTestId('logout').click();
    await page.getByTestId('login-form').waitFor();
    assert.equal(await page.getByTestId('nav').count(), 0);
    const sent = lastPost(stub, 'logout');
    assert.ok(sent?.csrf && sent.csrf.length > 0, 'the logout carried the CSRF token');
    // The session is gone on the server (the stub forgot it), not only hidden by the page.
    await page.reload();
    await page.getByTestId('login-form').waitFor();
    assert.equal(await page.getByTestId('nav').count(), 0);
  });

  test('the console works under the base path /kisflow/, deep links included', async () => {
    const page = await signIn(`${prefixed.url}some/old/link#/jobs`, 'admin', 'admin-pw');
    await page.getByTestId('jobs-scene-billing').waitFor();
    await page.getByTestId('nav-overview').click();
    assert.equal(await text(page, 'overview-flow-MyFlow1-in_per_s'), '42.5');
    assert.ok(prefixed.requests.some((r) => r.route === 'overview'), 'the API was asked under /kisflow/api/');
    assert.ok(page.url().startsWith(prefixed.url));
    await chrome.shot(page, 'base-path');
  });
});
