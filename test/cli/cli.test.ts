// The kisflow command line, end to end, as a user runs it (the built dist/, real processes).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

const CLI = path.resolve('dist/src/cli/main.js');

interface Ran { code: number | null; stdout: string; stderr: string }

function kisflow(args: string[], env: NodeJS.ProcessEnv = {}, opts: { onSpawn?: (p: ReturnType<typeof spawn>) => void } = {}): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, LOG_LEVEL: 'info', KAFKA_BROKERS: '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    p.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    p.on('error', reject);
    p.on('close', (code) => resolve({ code, stdout, stderr }));
    opts.onSpawn?.(p);
  });
}

/** An endless generator at `rate` rows/s into one kis.sink step with the given params. */
function endlessRun(rate: number, sinkParams: string): string {
  return `kistype: source
sid: gen
type: generator
params: { rate: ${rate}, template: { n: "{{ $seq }}" } }
flows: [F]
---
kistype: flow
flow_name: F
flows: [{ fid: Out }]
---
kistype: func
fid: Out
fname: kis.sink
fmode: Expand
option: { default_params: ${sinkParams} }
`;
}

async function tempDir(): Promise<string> {
  return mkdtemp(path.join(tmpdir(), 'kisflow-cli-'));
}

test('kisflow run on the demo config: joins orders and payments and ends by itself, with exactly the expected rows', async () => {
  const dir = await tempDir();
  try {
    const out = path.join(dir, 'joined.jsonl');
    const r = await kisflow(['run', '--config', 'config'], { KISFLOW_DEMO_SINK: 'file', KISFLOW_DEMO_OUT: out });
    assert.equal(r.code, 0, r.stderr);
    const rows = (await readFile(out, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    // orders o1..o20 minus o7 (malformed line), o13 (no userid), o17 (amount <= 0); each joined with its payment
    const expectedIds = [1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 12, 14, 15, 16, 18, 19, 20];
    const byId = new Map(rows.map((row) => [row['orderid'], row]));
    assert.equal(rows.length, expectedIds.length);
    for (const n of expectedIds) {
      const amount = n * 12.5;
      const paid = n * 10;
      assert.deepEqual(byId.get(`o${n}`), {
        orderid: `o${n}`,
        userid: `u${(n - 1) % 5 + 1}`,
        item: ['茶叶', '咖啡', '键盘', '耳机', '雨伞'][n % 5],
        amount,
        paid,
        channel: (n - 1) % 2 === 0 ? 'alipay' : 'wechat',
        outstanding: amount - paid,
        status: amount - paid <= 0 ? 'settled' : 'partial',
      });
    }
    // the big orders flow read the connector topic itself
    const big = r.stdout.split('\n').filter((l) => l.startsWith('[BigOrders/')).map((l) => JSON.parse(l.slice(l.indexOf('] ') + 2)) as Record<string, unknown>);
    assert.deepEqual(big.map((b) => b['orderid']).sort(), ['o16', 'o18', 'o19', 'o20']);
    // logs: one clear line about embedded mode, and the run summary with the dead letters counted
    const logs = r.stderr.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(logs.filter((l) => String(l['msg']).startsWith('EMBEDDED MODE')).length, 1);
    const summary = logs.find((l) => l['msg'] === 'run finished')!;
    assert.deepEqual(summary['deadLetters'], { MyFlow1: 3, PayFlow: 0, BigOrders: 0, Revenue5Min: 3 });
    // the real-time figure: orders and revenue per 5 minutes of order time, the last window emitted when the input ended
    const figures = r.stdout.split('\n').filter((l) => l.startsWith('[Revenue5Min/')).map((l) => JSON.parse(l.slice(l.indexOf('] ') + 2)) as Record<string, unknown>);
    const at = (min: number): string => `2026-11-23T10:${String(min).padStart(2, '0')}:00.000Z`;
    assert.deepEqual(figures, [
      { orders: 4, revenue: 125, window: `${at(0)} .. ${at(5)}` },
      { orders: 4, revenue: 350, window: `${at(5)} .. ${at(10)}` },
      { orders: 4, revenue: 587.5, window: `${at(10)} .. ${at(15)}` },
      { orders: 4, revenue: 850, window: `${at(15)} .. ${at(20)}` },
      { orders: 1, revenue: 250, window: `${at(20)} .. ${at(25)}` },
    ]);
    assert.equal(summary['unmatched'], 3);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('kisflow validate: exit 0 on the demo; exit 1 listing every error of a bad directory', async () => {
  const ok = await kisflow(['validate', '--config', 'config']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /^ok: 4 flows, 11 functions, 2 connectors, 2 sources/);
  const dir = await tempDir();
  try {
    await writeFile(path.join(dir, 'a.yml'), 'kistype: func\nfid: A\nfname: Nope\nfmode: C\noption: { retry_duraton: 1 }\n');
    await writeFile(path.join(dir, 'b.yml'), 'kistype: flow\nflow_name: F\nflows: [{ fid: Ghost }]\n');
    const bad = await kisflow(['validate', '--config', dir]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /the config is not valid, nothing was started/);
    assert.match(bad.stderr, /a\.yml doc 1 at option\.retry_duraton \(line 5, col 11\): unknown key 'retry_duraton'/);
    assert.match(bad.stderr, /b\.yml doc 1 at flows\[0\]\.fid \(line 3, col 16\): function 'Ghost' is not declared/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('kisflow validate reports missing implementations and failing function modules', async () => {
  const dir = await tempDir();
  try {
    await mkdir(path.join(dir, 'fns'));
    await writeFile(path.join(dir, 'g.yml'), 'kistype: global\nfunctions: [fns, missing.js]\n---\nkistype: func\nfid: A\nfname: NotRegistered\nfmode: C\n');
    await writeFile(path.join(dir, 'fns', 'bad.mjs'), 'export default () => { throw new Error("cannot connect"); };\n');
    await writeFile(path.join(dir, 'fns', 'nodefault.mjs'), 'export const x = 1;\n');
    const r = await kisflow(['validate', '--config', dir]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /at functions\[0\]: module fns\/bad\.mjs failed to load: cannot connect/);
    assert.match(r.stderr, /at functions\[0\]: module fns\/nodefault\.mjs has no default export function/);
    assert.match(r.stderr, /at functions\[1\]: missing\.js does not exist/);
    assert.match(r.stderr, /g\.yml doc 2 at fname \(line 6, col 8\): no implementation named 'NotRegistered'/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('kisflow graph prints the config as a Mermaid flowchart', async () => {
  const r = await kisflow(['graph', '--config', 'config']);
  assert.equal(r.code, 0, r.stderr);
  const text = r.stdout;
  assert.match(text, /^flowchart LR\n/);
  const id = (label: string): string => new RegExp(`(n\\d+)[\\[(/]+"${label.replace(/[()]/g, '\\$&')}`).exec(text)?.[1] ?? 'missing';
  const src = id('source orders (file)');
  const conn = id('conn 测试KisConnector_1 (kafka)');
  assert.ok(text.includes(`${src} --> `), 'source -> first step');
  assert.match(text, new RegExp(`n\\d+ -->\\|save\\| ${conn}`));
  assert.equal((text.match(new RegExp(`${conn} -\\.->\\|load\\| n\\d+`, 'g')) ?? []).length, 2);
  assert.match(text, /subgraph n\d+\["flow MyFlow1"\]/);
});

test('kisflow export writes one file per object, and the export validates', async () => {
  const dir = await tempDir();
  try {
    const r = await kisflow(['export', '--config', 'config', '--out', dir]);
    assert.equal(r.code, 0, r.stderr);
    const files = (await readdir(dir)).sort();
    assert.equal(files.length, 1 + 2 + 4 + 11 + 2);
    assert.ok(files.includes('func-测试KisFunction_S1.yaml'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('SIGTERM stops an endless run cleanly (also when it arrives twice at once): exit 0, in-flight batches finish, the sink is flushed', async () => {
  const dir = await tempDir();
  try {
    await writeFile(path.join(dir, 'c.yml'), endlessRun(2000, '{ to: file, path: out.jsonl }'));
    let child: ReturnType<typeof spawn> | undefined;
    const running = kisflow(['run', '--config', dir], {}, { onSpawn: (p) => { child = p; } });
    // wait until rows are flowing, then ask it to stop
    for (let i = 0; i < 200; i++) {
      const text = await readFile(path.join(dir, 'out.jsonl'), 'utf8').catch(() => '');
      if (text.split('\n').length > 50) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    // twice at once, as `timeout` does (the child, then its process group): one request, not a forced exit
    child!.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 10));
    child!.kill('SIGTERM');
    const r = await running;
    assert.equal(r.code, 0, r.stderr);
    const lines = (await readFile(path.join(dir, 'out.jsonl'), 'utf8')).split('\n');
    assert.equal(lines.pop(), '', 'the file ends with a whole line');
    const ns = lines.map((l) => (JSON.parse(l) as { n: number }).n);
    assert.ok(ns.length > 50);
    assert.deepEqual(ns, ns.map((_, i) => i), 'every generated row up to the stop, in order, none lost');
    assert.match(r.stderr, /"msg":"stopping: sources stop, in-flight batches finish, sinks flush"/);
    assert.match(r.stderr, /"msg":"run finished"/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('usage errors exit 2 with the usage text', async () => {
  const r = await kisflow(['frobnicate']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /unknown command 'frobnicate'/);
  assert.match(r.stderr, /usage: kisflow <command>/);
  const e = await kisflow(['export', '--config', 'config']);
  assert.equal(e.code, 2);
  assert.match(e.stderr, /export needs --out DIR/);
});

test('prometheus_enable + prometheus_listen serve /metrics, /healthz and /readyz on prometheus_serve while the service runs', async () => {
  const dir = await tempDir();
  const port = 20000 + Math.floor(Math.random() * 20000);
  try {
    await writeFile(path.join(dir, 'c.yml'), `kistype: global
prometheus_enable: true
prometheus_listen: true
prometheus_serve: 127.0.0.1:${port}
---
` + endlessRun(500, '{ to: none }'));
    let child: ReturnType<typeof spawn> | undefined;
    const running = kisflow(['run', '--config', dir], {}, { onSpawn: (p) => { child = p; } });
    let text = '';
    for (let i = 0; i < 200 && !/flow_data_total\{flow_name="F"\} [1-9]/.test(text); i++) {
      await new Promise((r) => setTimeout(r, 25));
      text = await fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text(), () => '');
    }
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
    const health = await fetch(`http://127.0.0.1:${port}/healthz`);
    child!.kill('SIGTERM');
    const r = await running;
    assert.equal(r.code, 0, r.stderr);
    assert.equal(ready.status, 200);
    assert.equal(health.status, 200);
    assert.match(text, /flow_data_total\{flow_name="F"\} [1-9]/);
    assert.match(text, /func_schedule_cnts\{func_name="Out",func_mode="Expand"\} [1-9]/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a second signal exits at once, without waiting for the drain', async () => {
  const dir = await tempDir();
  try {
    await writeFile(path.join(dir, 'slow.mjs'), `export default (pool) => pool.faas('Slow', async (flow, rows) => {
  process.stdout.write('busy\\n');
  await new Promise((r) => setTimeout(r, 60000));
  flow.commitRows(rows);
});
`);
    await writeFile(path.join(dir, 'c.yml'), `kistype: global
functions: [slow.mjs]
---
kistype: source
sid: gen
type: generator
params: { template: { n: "{{ $seq }}" } }
flows: [F]
---
kistype: flow
flow_name: F
flows: [{ fid: Slow }]
---
kistype: func
fid: Slow
fmode: Calculate
`);
    let child: ReturnType<typeof spawn> | undefined;
    const running = kisflow(['run', '--config', dir], {}, { onSpawn: (p) => { child = p; } });
    let busy = false;
    child!.stdout!.on('data', (d: Buffer) => { if (d.toString().includes('busy')) busy = true; });
    for (let i = 0; i < 400 && !busy; i++) await new Promise((r) => setTimeout(r, 25));
    assert.ok(busy, 'a batch is in flight');
    child!.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 200));
    child!.kill('SIGTERM');
    const r = await running;
    assert.equal(r.code, 130);
    assert.match(r.stderr, /second signal: exiting now/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
