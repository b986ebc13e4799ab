// A stop is bounded even when the event loop is blocked: the watchdog thread kills the process after the
// drain timeout and its grace, having written why; a stop that ends in time cancels it.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';

function runScript(code: string): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string; ms: number }> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    p.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    p.on('error', reject);
    p.on('close', (exit, signal) => resolve({ code: exit, signal, stderr, ms: Date.now() - started }));
  });
}

const MODULE = pathToFileURL(path.resolve('src/cli/watchdog.ts')).href;

test('a process whose event loop is blocked is killed after drain timeout + grace, saying what it waited for', async () => {
  const r = await runScript(`import { startWatchdog } from '${MODULE}';
const w = startWatchdog(300, 'the service to drain', 200);
setTimeout(() => { w.waitingFor('sources to stop: binlog'); const end = Date.now() + 20000; while (Date.now() < end) {} }, 100);`);
  assert.equal(r.signal, 'SIGKILL');
  assert.ok(r.ms < 10_000, `took ${r.ms} ms`);
  const line = JSON.parse(r.stderr.trim().split('\n').pop()!) as Record<string, unknown>;
  assert.match(String(line['msg']), /^drain timeout: the process did not stop within drain_timeout_ms/);
  assert.equal(line['waitingFor'], 'sources to stop: binlog');
  assert.equal(line['drainTimeoutMs'], 300);
});

test('the watchdog neither keeps a finished process alive nor fires after cancel', async () => {
  const r = await runScript(`import { startWatchdog } from '${MODULE}';
const w = startWatchdog(200, 'x', 100);
setTimeout(() => w.cancel(), 50);
setTimeout(() => {}, 600);`);
  assert.equal(r.signal, null);
  assert.equal(r.code, 0);
  assert.equal(r.stderr, '');
  const quick = await runScript(`import { startWatchdog } from '${MODULE}';\nstartWatchdog(60000, 'x');`);
  assert.equal(quick.code, 0);
  assert.ok(quick.ms < 5000, `an idle process with a watchdog ended in ${quick.ms} ms`);
});
