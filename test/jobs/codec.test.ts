// The job codec and the reference checks: every field has behaviour, unknown keys are errors, and bad
// configs (an invalid cron, an unknown flow or handler, a cycle of children) get errors naming the place.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkJobs } from '../../src/config/jobs/checks.js';
import { JobHandlers } from '../../src/core/job-handlers.js';
import { normaliseJobs } from '../../src/config/jobs/codec.js';
import { parseYamlFile } from '../../src/config/yaml-docs.js';

function load(yaml: string, file = 'jobs/nightly.yml') {
  const { docs } = parseYamlFile(file, yaml, {});
  return normaliseJobs(docs);
}

test('a full job normalises with defaults, frozen', () => {
  const { jobs, errors } = load(`kistype: job
id: 日报
name: Daily report
scene: finance
trigger: { cron: '0 0 2 * * *', tz: Europe/Berlin }
runs: { flow: MyFlow1 }
params: { region: eu }
children: [cleanup]
timeout_ms: 60000
retry: { times: 2, backoff_ms: 500 }
block: discard_later
misfire: { policy: catch_up, window_ms: 600000 }
route: sharding_broadcast
run_log: { keep_runs: 20, log_lines: 50 }
---
kistype: job
id: cleanup
runs: { handler: cleanup }
`);
  assert.deepEqual(errors, []);
  const [a, b] = jobs;
  assert.equal(a?.trigger.kind, 'cron');
  assert.deepEqual([a?.scene, a?.block, a?.route, a?.retries, a?.backoffMs, a?.keepRuns, a?.logLines, a?.misfire.policy, a?.misfire.windowMs, a?.misfire.thresholdMs], ['finance', 'discard_later', 'sharding_broadcast', 2, 500, 20, 50, 'catch_up', 600000, 5000]);
  assert.deepEqual([b?.name, b?.scene, b?.trigger.kind, b?.block, b?.route, b?.timeoutMs, b?.misfire.policy, b?.enabled], ['cleanup', 'default', 'none', 'serial', 'first', 0, 'fire_once', true]);
  assert.ok(Object.isFrozen(a) && Object.isFrozen(a?.params));
  assert.deepEqual(checkJobs(jobs, ['MyFlow1'], ['cleanup']), []);
});

test('unknown keys, bad values and ambiguous choices are schema errors with line and column', () => {
  const { errors } = load(`kistype: job
id: a
runs: { handler: h }
retry_times: 3
---
kistype: job
id: b
runs: { flow: f, handler: h }
---
kistype: job
id: c
runs: { handler: h }
trigger: { every_ms: 1000, cron: '* * * * * *' }
---
kistype: job
id: d
runs: { handler: h }
block: queue
`);
  const msgs = errors.map((e) => e.message);
  assert.ok(msgs.some((m) => /jobs\/nightly\.yml doc 1 \(job\) at retry_times \(line 4, col 1\): unknown key 'retry_times'/.test(m)), msgs.join('\n'));
  assert.ok(msgs.some((m) => /doc 2 at runs .*exactly one of flow or handler/.test(m)), msgs.join('\n'));
  assert.ok(msgs.some((m) => /doc 3 at trigger .*exactly one of cron or every_ms/.test(m)), msgs.join('\n'));
  assert.ok(msgs.some((m) => /doc 4 \(job\) at block \(line 18.*one of serial, discard_later, cover_earlier/.test(m)), msgs.join('\n'));
});

test('an invalid cron names the file, document, line, the cron field and why', () => {
  const { errors } = load(`kistype: job
id: bad
trigger: { cron: '0 61 * * * *' }
runs: { handler: h }
`);
  assert.equal(errors.length, 1);
  assert.equal(errors[0]?.code, 'KIS_ERR_JOB_CRON');
  assert.match(errors[0]!.message, /^jobs\/nightly\.yml doc 1 at trigger\.cron \(line 3, col \d+\): invalid cron '0 61 \* \* \* \*': minute field: 61 is out of range 0-59$/);
  assert.equal(errors[0]?.context['field'], 'minute');
  const tz = load(`kistype: job\nid: z\ntrigger: { cron: '* * * * * *', tz: Moon/Base }\nruns: { handler: h }\n`).errors;
  assert.match(tz[0]!.message, /at trigger\.tz .*time zone 'Moon\/Base'/);
});

test('unknown flow, unknown handler, unknown child and a cycle of children: errors naming the files', () => {
  const a = parseYamlFile('jobs/a.yml', `kistype: job
id: a
runs: { flow: NoSuchFlow }
children: [b]
---
kistype: job
id: x
runs: { handler: nope }
children: [ghost]
`, {}).docs;
  const b = parseYamlFile('jobs/b.yml', `kistype: job
id: b
runs: { handler: h }
children: [c]
---
kistype: job
id: c
runs: { handler: h }
children: [a]
`, {}).docs;
  const n = normaliseJobs([...a, ...b]);
  assert.deepEqual(n.errors, []);
  const errors = checkJobs(n.jobs, ['MyFlow1'], ['h'], n.docs);
  const msgs = errors.map((e) => `${e.code} ${e.message}`);
  assert.ok(msgs.includes("KIS_ERR_CONFIG_REFERENCE jobs/a.yml doc 1 at runs.flow (line 3, col 15): job 'a' runs flow 'NoSuchFlow', which no flow document declares (known: MyFlow1)"), msgs.join('\n'));
  assert.ok(msgs.some((m) => /^KIS_ERR_JOB_HANDLER jobs\/a\.yml doc 2 at runs\.handler \(line 8.*'nope'.*\(known: h\)/.test(m)), msgs.join('\n'));
  assert.ok(msgs.some((m) => /^KIS_ERR_CONFIG_REFERENCE jobs\/a\.yml doc 2 at children\[0\] .*child 'ghost'/.test(m)), msgs.join('\n'));
  assert.ok(msgs.includes('KIS_ERR_JOB_CYCLE jobs/a.yml doc 1 at children (line 4, col 11): children form a cycle: a (jobs/a.yml doc 1) -> b (jobs/b.yml doc 1) -> c (jobs/b.yml doc 2) -> a'), msgs.join('\n'));
  assert.equal(errors.filter((e) => e.code === 'KIS_ERR_JOB_CYCLE').length, 1, 'the cycle is reported once');
  // Without the YAML documents, errors still name the file and document.
  assert.match(checkJobs(n.jobs, [], ['h'])[0]!.message, /^jobs\/a\.yml doc 1 at runs\.flow: /);
});

test('a duplicate id is an error naming the first declaration', () => {
  const { errors } = load(`kistype: job\nid: a\nruns: { handler: h }\n---\nkistype: job\nid: a\nruns: { handler: h }\n`);
  assert.equal(errors[0]?.code, 'KIS_ERR_CONFIG_DUPLICATE');
  assert.match(errors[0]!.message, /doc 2 at id .*already declared in jobs\/nightly\.yml doc 1/);
});

test('the handler registry: a duplicate or invalid registration is an error value', () => {
  const h = new JobHandlers();
  assert.equal(h.register('a', () => undefined), undefined);
  assert.equal(h.register('a', () => undefined)?.code, 'KIS_ERR_JOB_HANDLER');
  assert.match(h.register('', () => undefined)!.message, /non-empty name/);
  assert.match(h.register('b', 42 as never)!.message, /not a function/);
  assert.deepEqual(h.names(), ['a']);
});
