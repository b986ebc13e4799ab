import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SEED_COMPLETE, errorWith, loadYaml } from '../helpers.js';

test('the seed documents load exactly as written, Chinese ids included', () => {
  const r = loadYaml(SEED_COMPLETE);
  assert.deepEqual(r.errors.map((e) => e.message), []);
  const c = r.config!;
  const s1 = c.funcs.get('测试KisFunction_S1')!;
  assert.equal(s1.fname, '测试KisFunction_S1');
  assert.equal(s1.mode, 'Save');
  assert.equal(s1.sourceName, '被校验的测试数据源1-用户订单维度');
  assert.deepEqual(s1.must, ['userid', 'orderid']);
  assert.equal(s1.cid, '测试KisConnector_1');
  assert.equal(s1.retryTimes, 3);
  assert.equal(s1.retryDuration, 500);
  assert.deepEqual(s1.defaultParams, { default1: 'default1_param', default2: 'default2_param' });
  const flow = c.flows.get('MyFlow1')!;
  assert.equal(flow.enabled, true);
  assert.deepEqual(flow.steps, [
    { fid: '测试PrintInput', params: { args1: 'value1', args2: 'value2' } },
    { fid: '测试KisFunction_S1', params: {} },
  ]);
  assert.equal(flow.deadLetterTopic, 'MyFlow1.dlq');
  const conn = c.conns.get('测试KisConnector_1')!;
  assert.equal(conn.type, 'redis');
  assert.deepEqual(conn.addrs, ['0.0.0.0:9988', '0.0.0.0:9999', '0.0.0.0:9990']);
  assert.deepEqual(conn.key, ['userid', 'orderid', 'option']);
  assert.deepEqual(conn.params, { args1: 'value1' });
  assert.deepEqual(conn.load, []);
  assert.deepEqual(conn.save, ['测试KisFunction_S1']);
  assert.deepEqual(c.global.prometheus, { enable: true, listen: true, serve: '0.0.0.0:20004' });
  assert.equal(c.global.kafka, undefined);
});

test("the Go original's variants load: fname steps, cname, return_duration, V/S/L/C/E", () => {
  const r = loadYaml(`kistype: func
fname: funcName1
fmode: V
source: { name: TiktokOrder, must: [order_id] }
option: { cname: "", return_duration: 20, retry_times: 1, default_params: {} }
---
kistype: func
fname: funcName2
fmode: S
option: { cname: ConnName1 }
---
kistype: conn
cname: ConnName1
type: kafka
key: order_id
save: [funcName2]
---
kistype: flow
status: 1
flow_name: flowName1
flows:
  - fname: funcName1
    params: { myKey1: flowValue1-1 }
  - fname: funcName2
`);
  assert.deepEqual(r.errors.map((e) => e.message), []);
  const c = r.config!;
  assert.equal(c.funcs.get('funcName1')!.mode, 'Verify');
  assert.equal(c.funcs.get('funcName1')!.cid, undefined, 'an empty cname means no connector');
  assert.equal(c.funcs.get('funcName1')!.retryDuration, 20);
  assert.equal(c.funcs.get('funcName2')!.cid, 'ConnName1');
  assert.equal(c.conns.get('ConnName1')!.cid, 'ConnName1');
  assert.deepEqual(c.flows.get('flowName1')!.steps.map((s) => s.fid), ['funcName1', 'funcName2']);
  assert.equal(c.flows.get('flowName1')!.id, 'flowName1');
});

test('config is frozen after validation', () => {
  const c = loadYaml(SEED_COMPLETE).config!;
  assert.throws(() => { (c.funcs.get('测试KisFunction_S1')!.must as string[]).push('x'); }, TypeError);
  assert.throws(() => { (c.global as { appId: string }).appId = 'x'; }, TypeError);
});

test('several documents in several files, with empty documents between, all load', () => {
  const r = loadYaml({
    'a/flows.yml': '---\nkistype: flow\nflow_name: F\nflows: [{ fid: P }]\n---\n',
    'b/funcs.yaml': 'kistype: func\nfid: P\nfname: kis.print\nfmode: C\n',
  });
  assert.deepEqual(r.errors, []);
  assert.equal(r.config!.flows.get('F')!.origin.file, 'a/flows.yml');
  assert.equal(r.config!.funcs.get('P')!.origin.file, 'b/funcs.yaml');
});

test('status: 0 keeps the flow loaded but disabled', () => {
  const r = loadYaml('kistype: flow\nflow_name: F\nstatus: 0\nflows: [{ fid: P }]\n---\nkistype: func\nfid: P\nfname: kis.print\nfmode: C\n');
  assert.equal(r.config!.flows.get('F')!.enabled, false);
});

test('a dead-letter topic is configurable, and derived safely from a non-ASCII flow id', () => {
  const r = loadYaml(`kistype: flow
flow_name: 订单流
flows: [{ fid: P }]
---
kistype: flow
flow_name: F2
dead_letter: { topic: my.dlq }
flows: [{ fid: P }]
---
kistype: func
fid: P
fname: kis.print
fmode: C
`);
  assert.deepEqual(r.errors, []);
  assert.match(r.config!.flows.get('订单流')!.deadLetterTopic, /^kisflow\.dlq\.[0-9a-f]{8}$/);
  assert.equal(r.config!.flows.get('F2')!.deadLetterTopic, 'my.dlq');
});

test('global: kafka brokers select Kafka mode; an empty list means embedded', () => {
  const on = loadYaml('kistype: global\nkafka: { brokers: "a:9092, b:9092" }\n').config!;
  assert.deepEqual(on.global.kafka, { brokers: ['a:9092', 'b:9092'], clientId: 'kisflow', tls: undefined, sasl: undefined, connectionTimeoutMs: 3000 });
  assert.equal(on.global.drainTimeoutMs, 30000);
  const off = loadYaml('kistype: global\nkafka: { brokers: "${KAFKA_BROKERS:-}" }\n').config!;
  assert.equal(off.global.kafka, undefined);
  const withId = loadYaml('kistype: global\napp_id: shop\ndrain_timeout_ms: 5000\nkafka:\n  brokers: [a:1]\n  client_id: cli\n  connection_timeout_ms: 900\n  tls: { ca: "${CA}", reject_unauthorized: false }\n  sasl: { mechanism: scram-sha-512, username: u, password: "${PW}" }\n', { CA: 'pem', PW: 'pw' }).config!;
  assert.equal(withId.global.appId, 'shop');
  assert.equal(withId.global.drainTimeoutMs, 5000);
  assert.deepEqual(withId.global.kafka, {
    brokers: ['a:1'], clientId: 'cli', connectionTimeoutMs: 900,
    tls: { ca: 'pem', rejectUnauthorized: false },
    sasl: { mechanism: 'scram-sha-512', username: 'u', password: 'pw' },
  });
});

test('a conn key names fields: underscores split, a list keeps them whole', () => {
  const c = loadYaml(`kistype: conn
cid: c1
type: kafka
key: userid_orderid
---
kistype: conn
cid: c2
type: kafka
key: [user_id, order_id]
params: { topic: t2, partitions: 8 }
`).config!;
  assert.deepEqual(c.conns.get('c1')!.key, ['userid', 'orderid']);
  assert.deepEqual(c.conns.get('c2')!.key, ['user_id', 'order_id']);
  assert.deepEqual(c.conns.get('c2')!.params, { topic: 't2', partitions: 8 });
});

test('errors name a missing kistype precisely', () => {
  const r = loadYaml('flow_name: x\n');
  assert.match(errorWith(r.errors, 'KIS_ERR_CONFIG_KISTYPE').message, /test\.yml doc 1 .*expected kistype to be one of global, source, flow, func, conn, job, found nothing/);
});
