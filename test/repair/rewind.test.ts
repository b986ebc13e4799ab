// Rewind by time on the mock cluster, with two "replicas": each a RewindAgent whose FlowControl stops and
// starts a real kafkajs consumer in the flow's group (what the runtime hook will do with the flow's source).
// The requester pauses them through the control topic, claims the empty group, commits the offsets of the
// time (by scanning record timestamps: the mock's ListOffsets ignores them), tombstones that flow's changelog
// and not another flow's, and resumes them: the records after the time come again. Bad requests are refused.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Kafka, logLevel, type Consumer } from 'kafkajs';
import pino from 'pino';
import { hasCode } from '../../src/kernel/errors.js';
import { changelogTopic } from '../../src/kernel/names.js';
import { prepareApp } from '../../src/runtime/app.js';
import { readTopics } from '../../src/repair/read.js';
import { flowChangelogs, rewindFlow, rewindPlan, RewindAgent, type FlowControl } from '../../src/repair/rewind.js';
import { randomName, startMockCluster, type MockCluster } from '../infra/kafka-mock/index.js';
import { waitUntil } from '../helpers.js';

const logger = pino({ level: process.env['LOG_LEVEL'] ?? 'silent' });

const waitFor = <T>(what: string, fn: () => Promise<T | undefined> | T | undefined, timeoutMs = 30_000): Promise<T> => waitUntil(what, fn, timeoutMs, 200);

/** A replica's flow: a consumer in the flow's group, stopped and started by the rewind. */
class Replica implements FlowControl {
  consumer: Consumer | undefined;
  readonly seen: string[] = [];
  resets = 0;
  constructor(private readonly kafka: Kafka, private readonly group: string, private readonly topic: string) {}
  async resume(): Promise<void> {
    const c = this.kafka.consumer({ groupId: this.group, maxWaitTimeInMs: 100, sessionTimeout: 10_000 });
    await c.connect();
    await c.subscribe({ topics: [this.topic], fromBeginning: true });
    await c.run({ eachMessage: async ({ message }) => { this.seen.push(message.value!.toString()); } });
    this.consumer = c;
  }
  async pause(): Promise<void> {
    await this.consumer?.disconnect();
    this.consumer = undefined;
  }
  async resetState(): Promise<void> {
    this.resets++;
  }
}

describe('rewind a flow on the mock cluster', { timeout: 120_000 }, () => {
  let cluster: MockCluster;
  let kafka: Kafka;
  let dir: string;

  before(async () => {
    cluster = await startMockCluster({ brokers: 1 });
    kafka = new Kafka({ brokers: cluster.bootstrap.split(','), logLevel: process.env['KLOG'] ? logLevel.INFO : logLevel.NOTHING });
    dir = await mkdtemp(path.join(tmpdir(), 'kisflow-rewind-'));
  });
  after(async () => {
    await cluster?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('by time while two replicas run: they pause, the offsets move, only that flow\'s changelog is reset, they resume and read again', async () => {
    const app = randomName('app');
    const input = randomName('in');
    const other = randomName('in2');
    await cluster.createTopic(input, 2);
    await cluster.createTopic(other, 2);
    await writeFile(path.join(dir, 'flows.yml'), `kistype: global
app_id: ${app}
kafka: { brokers: "${cluster.bootstrap}" }
---
kistype: source
sid: clicks
type: kafka
params: { topics: [${input}] }
flows: [Counted]
---
kistype: source
sid: views
type: kafka
params: { topics: [${other}] }
flows: [Other]
---
kistype: source
sid: both
type: kafka
params: { topics: [${other}], group_id: ${app}.both }
flows: [SharedA, SharedB]
---
kistype: source
sid: shopdb
type: binlog
addrs: 127.0.0.1:1
params: { user: kisflow, tables: [shop.orders] }
flows: [FromDb]
---
kistype: flow
flow_name: Counted
flows: [{ fid: CountIt }]
---
kistype: flow
flow_name: Other
flows: [{ fid: CountOther }]
---
kistype: flow
flow_name: SharedA
flows: [{ fid: Plain }]
---
kistype: flow
flow_name: SharedB
flows: [{ fid: Plain }]
---
kistype: flow
flow_name: FromDb
flows: [{ fid: Plain }]
---
kistype: func
fid: CountIt
fname: kis.map
fmode: Calculate
option: { state: {}, default_params: { set: { seen: "1" } } }
---
kistype: func
fid: CountOther
fname: kis.map
fmode: Calculate
option: { state: {}, default_params: { set: { seen: "1" } } }
---
kistype: func
fid: Plain
fname: kis.map
fmode: Calculate
option: { default_params: { set: { seen: "1" } } }
`);
    const prepared = await prepareApp(dir);
    const config = prepared.config;
    const mine = changelogTopic(app, 'Counted', 'CountIt');
    const theirs = changelogTopic(app, 'Other', 'CountOther');
    assert.deepEqual(flowChangelogs(config, prepared.pool, 'Counted'), [mine]);

    // Bad requests: clear errors, nothing done.
    const now = Date.now();
    const refused = (flow: string, to: Parameters<typeof rewindPlan>[2], re: RegExp): void => {
      assert.throws(() => rewindPlan(config, flow, to, now), (e: unknown) => hasCode(e, 'KIS_ERR_REPAIR_REQUEST') && re.test((e as Error).message));
    };
    refused('Nope', { kind: 'beginning' }, /no flow 'Nope'/);
    refused('Counted', { kind: 'time', at: now + 3_600_000 }, /in the future/);
    refused('SharedA', { kind: 'beginning' }, /shares its consumer group .* with 'SharedB'/);
    refused('FromDb', { kind: 'beginning' }, /type binlog.*re-snapshot/);
    refused('Counted', { kind: 'offsets', offsets: { [other]: { 0: '0' } } }, /not one of its inputs/);

    const producer = kafka.producer();
    await producer.connect();
    const old = now - 120_000;
    const recent = now - 10_000;
    await producer.send({ topic: input, messages: Array.from({ length: 10 }, (_, i) => ({ key: `k${i}`, value: `v${i}`, partition: i % 2, timestamp: String(i < 5 ? old + i : recent + i) })) });
    for (const t of [mine, theirs]) await cluster.createTopic(t, 2);
    await producer.send({ topic: mine, messages: [{ key: 'u1', value: '{"n":1}', partition: 0 }, { key: 'u2', value: '{"n":2}', partition: 1 }] });
    await producer.send({ topic: theirs, messages: [{ key: 'u1', value: '{"n":7}', partition: 0 }] });
    await producer.disconnect();

    const group = `${app}.clicks`;
    const replicas = [new Replica(kafka, group, input), new Replica(kafka, group, input)];
    const agents = replicas.map((r) => new RewindAgent(kafka, app, r, logger, new Set(['Counted'])));
    try {
      for (const a of agents) await a.start();
      for (const r of replicas) await r.resume();
      const total = (): number => replicas.reduce((n, r) => n + r.seen.length, 0);
      await waitFor('10 records read', () => (total() >= 10 ? true : undefined));
      const admin = kafka.admin();
      await admin.connect();
      await waitFor('the offsets committed', async () => {
        const o = await admin.fetchOffsets({ groupId: group, topics: [input] });
        return o[0]!.partitions.every((p) => p.offset === '5') ? true : undefined;
      });
      await admin.disconnect();

      // Both replicas settled (their own start may read some records twice: at least once); counted from here.
      await new Promise((r) => setTimeout(r, 1_000));
      const before = new Map<string, number>();
      for (const v of replicas.flatMap((r) => r.seen)) before.set(v, (before.get(v) ?? 0) + 1);
      const report = await rewindFlow(kafka, config, 'Counted', { kind: 'time', at: now - 60_000 }, [mine], { logger, timeLookup: 'scan', pauseTimeoutMs: 30_000, now });
      assert.deepEqual(report.offsets.map((o) => [o.partition, o.from, o.to]).sort(), [[0, '5', '3'], [1, '5', '2']]);
      assert.deepEqual(report.changelogs, { [mine]: 2 });
      const delta = (): Map<string, number> => {
        const m = new Map<string, number>();
        for (const v of replicas.flatMap((r) => r.seen)) m.set(v, (m.get(v) ?? 0) + 1);
        for (const [v, n] of before) m.set(v, (m.get(v) ?? 0) - n);
        return m;
      };
      await waitFor('the records after the time read again', () => (['v5', 'v6', 'v7', 'v8', 'v9'].every((v) => (delta().get(v) ?? 0) >= 1) ? true : undefined));
      await new Promise((r) => setTimeout(r, 500));
      assert.deepEqual(['v0', 'v1', 'v2', 'v3', 'v4'].map((v) => delta().get(v)), [0, 0, 0, 0, 0], 'nothing before the time again');
      assert.deepEqual(replicas.map((r) => r.resets), [1, 1], 'every replica dropped the flow\'s state');
      assert.deepEqual(agents.map((a) => [...a.paused]), [[], []]);

      const logs = await readTopics(kafka, [mine, theirs]);
      const lastOf = (topic: string): Map<string, string | null> => new Map(logs.filter((r) => r.topic === topic).map((r) => [r.key!, r.value]));
      assert.deepEqual([...lastOf(mine)], [['u1', null], ['u2', null]], 'every key of the rewound flow tombstoned');
      assert.deepEqual([...lastOf(theirs)], [['u1', '{"n":7}']], 'the other flow untouched');
    } finally {
      for (const a of agents) await a.stop();
      for (const r of replicas) await r.pause();
    }
  });
});
