// One bad file per config error class: each message names the file, the document, the YAML path,
// the line and column, and what was expected and found.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { errorWith, loadYaml } from '../helpers.js';

const PRINT = 'kistype: func\nfid: P\nfname: kis.print\nfmode: C\n';

test('YAML that does not parse: file, document, line and column', () => {
  const r = loadYaml({ 'bad.yml': 'kistype: func\nfid: [unclosed\n' });
  const e = errorWith(r.errors, 'KIS_ERR_CONFIG_PARSE');
  assert.match(e.message, /^bad\.yml doc 1 \(line \d+, col \d+\): YAML does not parse/);
  assert.equal(e.context.file, 'bad.yml');
  assert.ok(e.cause, 'keeps the parser error as cause');
});

test('a duplicate key inside a mapping is a parse error', () => {
  const r = loadYaml({ 'dup.yml': 'kistype: func\nfid: A\nfid: B\nfmode: C\n' });
  assert.match(errorWith(r.errors, 'KIS_ERR_CONFIG_PARSE').message, /^dup\.yml doc 1 \(line 3, col 1\)/);
});

test('a misspelt key is an error naming it, where it is, and what is allowed', () => {
  const r = loadYaml({ 'f.yml': `${PRINT}---\nkistype: func\nfid: S\nfmode: Save\noption:\n  cid: c\n  retry_duraton: 5\n` });
  const e = errorWith(r.errors, 'KIS_ERR_CONFIG_SCHEMA');
  assert.equal(e.message,
    "f.yml doc 2 at option.retry_duraton (line 11, col 3): unknown key 'retry_duraton' (did you mean 'retry_duration'? allowed here: cid, cname, retry_times, retry_duration, return_duration, default_params, state)");
  assert.deepEqual([e.context.line, e.context.col, e.context.doc], [11, 3, 2]);
});

test('a value of the wrong type: expected and found', () => {
  const r = loadYaml({ 'f.yml': 'kistype: func\nfid: A\nfmode: C\noption:\n  retry_times: three\n' });
  assert.equal(errorWith(r.errors, 'KIS_ERR_CONFIG_SCHEMA').message,
    'f.yml doc 1 at option.retry_times (line 5, col 16): expected a whole number >= 0, found "three"');
});

test('a missing required key', () => {
  const r = loadYaml({ 'flow.yml': 'kistype: flow\nflow_name: F\n' });
  assert.match(errorWith(r.errors, 'KIS_ERR_CONFIG_SCHEMA').message, /^flow\.yml doc 1 at flows \(line 1, col 1\): missing required key, expected a list of/);
});

test('an fmode not among Verify/Save/Load/Calculate/Expand (or V/S/L/C/E)', () => {
  const r = loadYaml({ 'm.yml': 'kistype: func\nfid: A\nfmode: Transform\n' });
  assert.equal(errorWith(r.errors, 'KIS_ERR_CONFIG_SCHEMA').message,
    'm.yml doc 1 at fmode (line 3, col 8): expected one of Verify, Save, Load, Calculate, Expand, V, S, L, C, E, found "Transform"');
});

test('an unknown kistype', () => {
  const r = loadYaml({ 'k.yml': 'kistype: task\n' });
  assert.equal(errorWith(r.errors, 'KIS_ERR_CONFIG_KISTYPE').message,
    'k.yml doc 1 at kistype (line 1, col 10): expected kistype to be one of global, source, flow, func, conn, job, found "task"');
});

test('duplicate ids name both places', () => {
  const r = loadYaml({ 'a.yml': PRINT, 'b.yml': PRINT });
  assert.equal(errorWith(r.errors, 'KIS_ERR_CONFIG_DUPLICATE').message,
    "b.yml doc 1 at fid (line 2, col 6): func id 'P' is already declared in a.yml doc 1");
});

test('two global documents', () => {
  const r = loadYaml({ 'g.yml': 'kistype: global\n---\nkistype: global\n' });
  assert.match(errorWith(r.errors, 'KIS_ERR_CONFIG_DUPLICATE').message, /^g\.yml doc 2 at kistype .*a second kistype: global document; the first is g\.yml doc 1/);
});

test('a flow step naming an unknown function, with a suggestion', () => {
  const r = loadYaml({ 'flow.yml': 'kistype: flow\nflow_name: F\nflows:\n  - fid: p\n', 'f.yml': PRINT });
  assert.equal(errorWith(r.errors, 'KIS_ERR_CONFIG_REFERENCE').message,
    "flow.yml doc 1 at flows[0].fid (line 4, col 10): function 'p' is not declared by any kistype: func document (did you mean 'P'?)");
});

test('option.cid naming an unknown connector', () => {
  const r = loadYaml({ 's.yml': 'kistype: func\nfid: S\nfmode: Save\noption: { cid: nowhere }\n' });
  assert.equal(errorWith(r.errors, 'KIS_ERR_CONFIG_REFERENCE').message,
    "s.yml doc 1 at option.cid (line 4, col 16): connector 'nowhere' is not declared by any kistype: conn document");
});

test('a Save function without a connector, and a Calculate function with one', () => {
  const r = loadYaml({ 's.yml': 'kistype: func\nfid: S\nfmode: S\n---\nkistype: func\nfid: C\nfmode: C\noption: { cid: k }\n---\nkistype: conn\ncid: k\ntype: kafka\n' });
  const msgs = r.errors.filter((e) => e.code === 'KIS_ERR_CONFIG_REFERENCE').map((e) => e.message);
  assert.ok(msgs.some((m) => m.startsWith('s.yml doc 1 at option') && m.includes('a Save function needs option.cid')), msgs.join('\n'));
  assert.ok(msgs.some((m) => m.startsWith('s.yml doc 2 at option.cid') && m.includes('a Calculate function has no use for a connector')), msgs.join('\n'));
});

test("a conn's save/load naming unknown functions or functions of the wrong mode", () => {
  const r = loadYaml({ 'c.yml': `kistype: conn
cid: k
type: kafka
save: [Ghost, L1]
load: [S1]
---
kistype: func
fid: L1
fmode: Load
option: { cid: k }
---
kistype: func
fid: S1
fmode: Save
option: { cid: k }
` });
  const msgs = r.errors.map((e) => e.message);
  assert.ok(msgs.includes("c.yml doc 1 at save[0] (line 4, col 8): function 'Ghost' is not declared by any kistype: func document (declared: L1, S1)"), msgs.join('\n'));
  assert.ok(msgs.includes("c.yml doc 1 at save[1] (line 4, col 15): function 'L1' is listed under save but its fmode is Load, expected Save"), msgs.join('\n'));
  assert.ok(msgs.includes("c.yml doc 1 at load[0] (line 5, col 8): function 'S1' is listed under load but its fmode is Save, expected Load"), msgs.join('\n'));
});

test('a source feeding an unknown flow', () => {
  const r = loadYaml({ 'src.yml': 'kistype: source\nsid: s\ntype: file\nparams: { path: x.jsonl }\nflows: [Nope]\n' });
  assert.equal(errorWith(r.errors, 'KIS_ERR_CONFIG_REFERENCE').message,
    "src.yml doc 1 at flows[0] (line 5, col 9): flow 'Nope' is not declared by any kistype: flow document");
});

test("a source's params are checked against its type", () => {
  const r = loadYaml({ 'src.yml': 'kistype: source\nsid: s\ntype: file\nparams: { paht: x.jsonl }\nflows: []\n' });
  const msgs = r.errors.map((e) => e.message);
  assert.ok(msgs.some((m) => m.startsWith('src.yml doc 1 (params of type file) at params.paht (line 4, col 11): unknown key \'paht\'')), msgs.join('\n'));
  assert.ok(msgs.some((m) => m.startsWith('src.yml doc 1 (params of type file) at params.path') && m.includes('missing required key')), msgs.join('\n'));
});

test('a kafka connector whose cid is not a topic name needs params.topic; its params are checked', () => {
  const r = loadYaml({ 'c.yml': 'kistype: conn\ncid: 订单\ntype: kafka\nparams: { partitions: 0 }\n' });
  const msgs = r.errors.map((e) => e.message);
  assert.ok(msgs.includes('c.yml doc 1 (params of type kafka) at params.partitions (line 4, col 23): expected a whole number > 0, found 0'), msgs.join('\n'));
  assert.ok(msgs.some((m) => m.includes("conn '订单' is not a valid Kafka topic name") && m.includes('params.topic is required')), msgs.join('\n'));
});

test('a binlog source: its params, start, table patterns and addrs are checked', () => {
  const r = loadYaml({ 'b.yml': 'kistype: source\nsid: b\ntype: binlog\nflows: []\n' });
  const msgs = r.errors.map((e) => e.message);
  assert.ok(msgs.some((m) => m.startsWith('b.yml doc 1 (params of type binlog) at params.user') && m.includes('missing required key')), msgs.join('\n'));
  assert.ok(!msgs.some((m) => m.includes('not in this build yet')), msgs.join('\n'));
  const bad = loadYaml({ 'b.yml': 'kistype: source\nsid: b\ntype: binlog\nparams: { user: u, tables: [shop], start: "soon", snapshot: always }\nflows: []\n' });
  const badMsgs = bad.errors.map((e) => e.message);
  assert.ok(badMsgs.some((m) => m.includes('params.snapshot') && m.includes('always')), badMsgs.join('\n'));
  const bad2 = loadYaml({ 'b.yml': 'kistype: source\nsid: b\ntype: binlog\nparams: { user: u, tables: [shop], start: "soon" }\nflows: []\n' });
  const bad2Msgs = bad2.errors.map((e) => e.message);
  assert.ok(bad2Msgs.some((m) => m.includes('at params.start') && m.includes("expected end, beginning, '<file>:<pos>' or 'gtid:<set>', found 'soon'")), bad2Msgs.join('\n'));
  assert.ok(bad2Msgs.some((m) => m.includes('at params.tables[0]') && m.includes("expected 'schema.table'")), bad2Msgs.join('\n'));
  assert.ok(bad2Msgs.some((m) => m.includes('at addrs') && m.includes("the database 'host:port'")), bad2Msgs.join('\n'));
  const good = loadYaml({ 'b.yml': 'kistype: source\nsid: b\ntype: binlog\naddrs: 127.0.0.1:3306\nparams: { user: u, password: p, tables: ["shop.*"], start: "binlog.000001:4" }\nflows: []\n' });
  assert.deepEqual(good.errors.map((e) => e.message), []);
});

test('a Load step that is not first in a flow no source feeds', () => {
  const r = loadYaml({ 'f.yml': `${PRINT}---\nkistype: flow\nflow_name: F\nflows: [{ fid: P }, { fid: L }]\n---\nkistype: func\nfid: L\nfmode: L\noption: { cid: k }\n---\nkistype: conn\ncid: k\ntype: kafka\n` });
  assert.match(errorWith(r.errors, 'KIS_ERR_CONFIG_REFERENCE').message, /f\.yml doc 2 at flows\[1\] .*no source feeds this flow, so it is driven by its Load connector and the Load step must come first/);
});

test('every error is reported at once', () => {
  const r = loadYaml({
    'a.yml': 'kistype: func\nfid: A\nfmode: Q\n',
    'b.yml': 'kistype: flow\nflow_name: F\nflows: [{ fid: Missing }]\n',
    'c.yml': 'kistype: what\n',
  });
  assert.deepEqual(r.errors.map((e) => e.code).sort(), ['KIS_ERR_CONFIG_KISTYPE', 'KIS_ERR_CONFIG_REFERENCE', 'KIS_ERR_CONFIG_SCHEMA']);
  assert.equal(r.config, undefined);
});

test('a kafka connector\'s table_restore is changelog or topic', () => {
  const conn = (v: string): string => `kistype: conn\ncid: o\ntype: kafka\nkey: orderid\nparams: { topic: orders, table_restore: ${v} }\n`;
  assert.deepEqual(loadYaml({ 'c.yml': conn('topic') }).errors, []);
  assert.equal(loadYaml({ 'c.yml': conn('topic') }).config?.conns.get('o')?.params['table_restore'], 'topic');
  assert.match(errorWith(loadYaml({ 'c.yml': conn('changelogs') }).errors, 'KIS_ERR_CONFIG_SCHEMA').message,
    /^c\.yml doc 1 \(params of type kafka\) at params\.table_restore \(line 5, col \d+\): expected one of changelog, topic, found "changelogs"/);
});
