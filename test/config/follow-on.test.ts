// Config errors point at the cause: a misspelt key names the key it was meant to be, and the ids of a
// document that failed to decode are not reported again as "not declared" where other documents use them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_ROW_LIMITS } from '../../src/kernel/limits.js';
import { errorWith, loadYaml, SEED_COMPLETE } from '../helpers.js';

test("a misspelt key in the seed's func: one error, with did-you-mean, and no follow-on 'not declared'", () => {
  const r = loadYaml(SEED_COMPLETE.replace('retry_duration: 500', 'retry_duraton: 500'));
  assert.equal(r.config, undefined);
  assert.deepEqual(r.errors.map((e) => e.code), ['KIS_ERR_CONFIG_SCHEMA'], r.errors.map((e) => e.message).join('\n'));
  assert.match(r.errors[0]!.message, /option\.retry_duraton .*unknown key 'retry_duraton' \(did you mean 'retry_duration'\?/);
});

test('an invalid conn, flow or source document: references to its id are not reported again', () => {
  const yaml = [
    'kistype: func\nfid: S\nfmode: Save\noption: { cid: C }',
    'kistype: conn\ncid: C\ntype: kafka\nsave: [S]\nkey: id\nparms: {}',           // misspelt params
    'kistype: flow\nflow_id: F\nflow_name: F\nflows: [{ fid: S }]\nstatuss: 1',    // misspelt status
    'kistype: source\nsid: Src\ntype: generator\nflows: [F]\nparams: { template: {}, count: 1 }',
  ].join('\n---\n');
  const r = loadYaml(yaml);
  const messages = r.errors.map((e) => e.message);
  assert.equal(r.errors.length, 2, messages.join('\n'));
  assert.ok(r.errors.every((e) => e.code === 'KIS_ERR_CONFIG_SCHEMA'));
  assert.match(messages[0]!, /unknown key 'parms' \(did you mean 'params'\?/);
  assert.match(messages[1]!, /unknown key 'statuss' \(did you mean 'status'\?/);
});

test('a reference to an id that no document declares is still reported, with did-you-mean', () => {
  const r = loadYaml('kistype: flow\nflow_name: F\nflows: [{ fid: Prnt }]\n---\nkistype: func\nfid: Print\nfname: kis.print\nfmode: C\n');
  assert.match(errorWith(r.errors, 'KIS_ERR_CONFIG_REFERENCE').message, /function 'Prnt' is not declared .*\(did you mean 'Print'\?\)/);
});

test('a misspelt kistype gets did-you-mean', () => {
  const r = loadYaml('kistype: fucn\nfid: A\nfmode: C\n');
  assert.match(errorWith(r.errors, 'KIS_ERR_CONFIG_KISTYPE').message, /found "fucn" \(did you mean 'func'\?\)/);
});

test('limits: defaults without a global document; each field sets its bound, on the global config and on every flow', () => {
  const flow = 'kistype: flow\nflow_name: F\nflows: [{ fid: P }]\n---\nkistype: func\nfid: P\nfname: kis.print\nfmode: C\n';
  const plain = loadYaml(flow);
  assert.deepEqual(plain.config?.global.limits, DEFAULT_ROW_LIMITS);
  assert.deepEqual(plain.config?.flows.get('F')?.limits, { maxDepth: 64, maxBytes: 1048576, maxKeys: 10000 });
  const set = loadYaml(`kistype: global\nlimits: { max_depth: 5, max_bytes: 2000, max_keys: 30 }\n---\n${flow}`);
  assert.deepEqual(set.config?.flows.get('F')?.limits, { maxDepth: 5, maxBytes: 2000, maxKeys: 30 });
  const partial = loadYaml(`kistype: global\nlimits: { max_keys: 7 }\n---\n${flow}`);
  assert.deepEqual(partial.config?.global.limits, { ...DEFAULT_ROW_LIMITS, maxKeys: 7 });
  const bad = loadYaml(`kistype: global\nlimits: { max_dept: 5, max_bytes: 0 }\n---\n${flow}`);
  const messages = bad.errors.map((e) => e.message).join('\n');
  assert.match(messages, /limits\.max_dept .*did you mean 'max_depth'/);
  assert.match(messages, /limits\.max_bytes .*expected a whole number > 0, found 0/);
});

test("Load params in a Load function's default_params are checked against the Load step codec", () => {
  const yaml = [
    'kistype: func\nfid: L\nfmode: Load\noption: { cid: C, default_params: { join: outer } }',
    'kistype: conn\ncid: C\ntype: kafka\nkey: id\nload: [L]',
    'kistype: source\nsid: S\ntype: generator\nflows: [F]\nparams: { template: {}, count: 1 }',
    'kistype: flow\nflow_name: F\nflows: [{ fid: L, params: { join_as: "" } }]',
  ].join('\n---\n');
  const messages = loadYaml(yaml).errors.map((e) => e.message).join('\n');
  assert.match(messages, /doc 1 \(default_params of a Load function\) at option\.default_params\.join .*expected one of inner, left, found "outer"/);
  assert.match(messages, /doc 4 at flows\[0\]\.params\.join_as .*expected a non-empty string/);
});
