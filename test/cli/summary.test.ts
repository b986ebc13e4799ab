// The end of a run for a person: a short summary on stderr (terminals, or KISFLOW_SUMMARY=always), the
// unmatched keys named when the service gives them; and no KafkaJS partitioner warning at start.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { humanSummary, wantsSummary } from '../../src/cli/summary.js';

test('wantsSummary: terminals by default; KISFLOW_SUMMARY=always or never decides', () => {
  assert.equal(wantsSummary({}, true), true);
  assert.equal(wantsSummary({}, false), false);
  assert.equal(wantsSummary({}, undefined), false);
  assert.equal(wantsSummary({ KISFLOW_SUMMARY: 'always' }, false), true);
  assert.equal(wantsSummary({ KISFLOW_SUMMARY: 'never' }, true), false);
});

test('humanSummary: totals, counts per source and flow, dead-letter topics, unmatched keys (ten shown)', () => {
  const keys = Array.from({ length: 12 }, (_, i) => `u${i}_o${i}`);
  const text = humanSummary({
    mode: 'embedded', rowsIn: { orders: 20, payments: 20 }, rowsOut: { MyFlow1: 17, PayFlow: 5 }, deadLetters: { MyFlow1: 3, PayFlow: 0 },
    unmatched: 12, unmatchedKeys: keys,
  });
  assert.equal(text, [
    'kisflow: run finished (embedded mode): 40 rows in, 22 out, 3 dead-lettered, 12 unmatched',
    '  rows in by source:      orders 20, payments 20',
    '  rows out by flow:       MyFlow1 17, PayFlow 5',
    '  dead letters by flow:   MyFlow1 3',
    `  unmatched:              12 inner-join rows found no saved row to join; keys ${keys.slice(0, 10).join(', ')} and 2 more`,
    '  each dead letter carries its reason (header kis-error-message); the log names the first of each kind',
    '',
  ].join('\n'));
  const quiet = humanSummary({ mode: 'kafka', rowsIn: {}, rowsOut: {}, deadLetters: {}, unmatched: 0 });
  assert.equal(quiet.split('\n').length, 5);
  assert.match(quiet, /dead letters by flow: {3}none/);
});

test('kisflow run on the demo with KISFLOW_SUMMARY=always: the human summary follows the JSON log, which stays', async () => {
  const r = await new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
    const p = spawn(process.execPath, [path.resolve('dist/src/cli/main.js'), 'run', '--config', 'config'],
      { env: { ...process.env, KAFKA_BROKERS: '', KISFLOW_SUMMARY: 'always' }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    p.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    p.on('error', reject);
    p.on('close', (code) => resolve({ code, stderr }));
  });
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stderr.trim().split('\n');
  const human = lines.filter((l) => !l.startsWith('{'));
  assert.match(human[0]!, /^kisflow: run finished \(embedded mode\): 57 rows in, \d+ out, 6 dead-lettered, 3 unmatched$/);
  assert.ok(human.some((l) => /dead letters by flow: {3}MyFlow1 3 \(topic MyFlow1\.dlq\), Revenue5Min 3 \(topic Revenue5Min\.dlq\)/.test(l)), human.join('\n'));
  const json = lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(json.filter((l) => l['msg'] === 'run finished').length, 1, 'the JSON line for machines stays');
});

test('the CLI silences the KafkaJS partitioner warning before kafkajs loads', async () => {
  delete process.env['KAFKAJS_NO_PARTITIONER_WARNING'];
  await import('../../src/cli/quiet-libraries.js');
  assert.equal(process.env['KAFKAJS_NO_PARTITIONER_WARNING'], '1');
});
