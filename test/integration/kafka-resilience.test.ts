// Resilience of the real service process (`kisflow run`) on Kafka: a kill -9 and a restart, a second
// replica joining the groups, a broker going down, injected Produce errors. Each test has its own mock
// cluster (faults are cluster-wide) and its own topics and app_id; every assertion is on state: the keys
// in the output topic, committed offsets, counts. Needs dist/ (`npm run build`; `npm test` builds first).
import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import type { Admin } from 'kafkajs';
import { DEFAULT_MAX_BATCH_ROWS } from '../../src/sources/kafka/kafka-source.js';
import { ApiKey, KafkaErrorCode, startMockCluster, type MockCluster } from '../infra/kafka-mock/index.js';
import {
  admin,
  committedToEnd,
  delivery,
  orderIds,
  pipelineNames,
  produceOrders,
  readTopic,
  recordCount,
  ServiceProcess,
  setUpPipeline,
  slowResponsesWhileRebalancing,
  waitFor,
  waitForAllKeys,
  type LogLine,
  type PipelineNames,
} from './kafka-helpers.js';

const INPUT_PARTITIONS = 4;
const SOURCE_BATCH_ROWS = 200; // max_batch_rows of the orders source in the config
const DRIVEN_BATCH_ROWS = DEFAULT_MAX_BATCH_ROWS; // a Load-driven flow reads its connector's topic in batches of the default size

interface Harness {
  readonly cluster: MockCluster;
  readonly names: PipelineNames;
  readonly dir: string;
  readonly admin: Admin;
  readonly services: ServiceProcess[];
}

/** One mock cluster, pipeline and admin per test; every service started is killed and everything torn down at the end. */
async function withPipeline(fn: (h: Harness) => Promise<void>): Promise<void> {
  const cluster = await startMockCluster({ brokers: 3 });
  const services: ServiceProcess[] = [];
  const a = admin(cluster.bootstrap);
  let cleanup: (() => Promise<void>) | undefined;
  try {
    const names = pipelineNames();
    const setup = await setUpPipeline(cluster, names);
    cleanup = setup.cleanup;
    await a.connect();
    await fn({ cluster, names, dir: setup.dir, admin: a, services });
  } finally {
    await Promise.all(services.map((s) => s.kill()));
    await a.disconnect().catch(() => undefined);
    await cleanup?.();
    await cluster.stop();
  }
}

function start(h: Harness, name: string): ServiceProcess {
  const s = ServiceProcess.start(name, h.dir, h.cluster.bootstrap);
  h.services.push(s);
  return s;
}

function orderidOf(value: string): string {
  return String((JSON.parse(value) as { orderid?: unknown }).orderid);
}

async function assertCommittedToEnd(h: Harness): Promise<void> {
  // The input group and the Publish group end up committed at the end of their topics.
  await waitFor('the input group to commit the end of the input topic', async () => ((await committedToEnd(h.admin, `${h.names.app}.orders`, h.names.input)) ? true : undefined), 30_000, 500);
  await waitFor('the Publish group to commit the end of the mid topic', async () => ((await committedToEnd(h.admin, `${h.names.app}.Publish`, h.names.mid)) ? true : undefined), 30_000, 500);
}

/** Nothing of these all-valid inputs went to a dead-letter topic. */
async function assertNoDeadLetters(h: Harness, ...services: ServiceProcess[]): Promise<void> {
  for (const topic of ['Enrich.dlq', 'Publish.dlq']) {
    const letters = await readTopic(h.cluster.bootstrap, topic);
    assert.equal(letters.length, 0, `${topic} holds ${letters.length} dead letters, first: ${JSON.stringify(letters[0]?.headers)}`);
  }
  for (const s of services) {
    assert.deepEqual(s.lines.filter((l) => /dead-letter/.test(String(l.msg))).map((l) => l.msg), [], `${s.name} logged dead letters`);
  }
}

function runFinished(s: ServiceProcess): { rowsIn: Record<string, number> } | undefined {
  return s.lines.find((l) => l.msg === 'run finished') as { rowsIn: Record<string, number> } | undefined;
}

/**
 * SIGTERM: the service drains and exits 0. The message says when the drain had finished ('run finished')
 * but the process stayed up anyway and was ended by the drain timeout (see the report in the test below).
 */
async function assertCleanStop(s: ServiceProcess): Promise<void> {
  const sent = Date.now();
  const exit = await s.stop();
  const finished = s.lines.find((l) => l.msg === 'run finished');
  const drainTimeout = s.lines.find((l) => /^drain timeout/.test(String(l.msg)));
  const why = finished && drainTimeout
    ? `'run finished' was logged ${Number(finished['time']) - sent} ms after SIGTERM, yet the process stayed up until the drain timeout ` +
      `(${Number(drainTimeout['time']) - sent} ms) and exited ${String(exit.code)} claiming in-flight batches were not committed. `
    : '';
  assert.deepEqual(exit, { code: 0, signal: null }, `${s.name} did not stop cleanly on SIGTERM. ${why}\n${s.tail()}`);
}

// Concurrent: the crash test spends most of its time waiting for the group to drop the killed member,
// and each test has its own cluster, so they do not interfere.
describe('kafka resilience of the kisflow service', { concurrency: true }, () => {
  test('kill -9 mid-stream, then restart: every orderid reaches the output topic, duplicates bounded by what was in flight', async (t: TestContext) => {
    await withPipeline(async (h) => {
      const N = 20_000;
      await produceOrders(h.cluster.bootstrap, h.names.input, 0, N);
      const first = start(h, 'first');
      await waitFor('the first rows in the output topic', async () => ((await recordCount(h.admin, h.names.out)) > 0 ? true : undefined), 60_000, 25);
      first.signal('SIGKILL');
      const killed = await first.exited;
      assert.equal(killed.signal, 'SIGKILL');
      const outAtKill = await recordCount(h.admin, h.names.out);
      const midAtKill = await recordCount(h.admin, h.names.mid);
      assert.ok(outAtKill > 0 && outAtKill < N, `the crash came mid-stream (${outAtKill} of ${N} rows were out)`);

      const second = start(h, 'second');
      const report = await waitForAllKeys(h.cluster.bootstrap, h.names.out, orderIds(0, N), 150_000, h.admin);
      assert.deepEqual(report.unexpected, []);
      assert.equal(report.distinct, N, 'no loss: the set of orderids out equals the set in');

      // Duplicate bound: what was processed but not yet committed when the process died. KafkaSource.onBatch
      // hands a partition's rows on in chunks (max_batch_rows) and commits each chunk after it was fully
      // processed (every Save and Expand acknowledged), while the next chunk is processed. So per partition
      // at most two chunks are uncommitted: the one in progress and the one whose commit is in flight (this
      // assumes an OffsetCommit returns before a chunk of 200 rows is through, as it does by far here).
      // Enrich: 4 partitions x 2 x 200 = 1,600 rows saved to mid twice. Publish reads mid in chunks of 500
      // (DEFAULT_MAX_BATCH_ROWS: a Load-driven flow has no max_batch_rows of its own): 4 x 2 x 500 = 4,000
      // rows written to out twice. Every duplicate in mid is published again, so out holds at most
      // 1,600 + 4,000 = 5,600 duplicates.
      const midReport = delivery((await readTopic(h.cluster.bootstrap, h.names.mid)).map((m) => ({ ...m, key: orderidOf(m.value) })), orderIds(0, N));
      assert.deepEqual(midReport.missing, []);
      const midBound = INPUT_PARTITIONS * 2 * SOURCE_BATCH_ROWS;
      const outBound = midBound + INPUT_PARTITIONS * 2 * DRIVEN_BATCH_ROWS;
      assert.ok(midReport.duplicates <= midBound, `mid holds ${midReport.duplicates} duplicates, more than the ${midBound} that can be in flight`);
      assert.ok(report.duplicates <= outBound, `out holds ${report.duplicates} duplicates, more than the ${outBound} that can be in flight`);
      t.diagnostic(`killed with ${midAtKill} rows in mid and ${outAtKill} in out; duplicates after restart: mid ${midReport.duplicates} (bound ${midBound}), out ${report.duplicates} (bound ${outBound})`);

      await assertCommittedToEnd(h);
      await assertNoDeadLetters(h, second);
      assert.ok(second.alive, second.tail());
      await assertCleanStop(second);
    });
  });

  test('a second replica joins: the partitions are split between the two, every orderid reaches the output topic, both stop cleanly', async (t: TestContext) => {
    await withPipeline(async (h) => {
      const N = 20_000;
      const CHUNK = 1_000;
      const a = start(h, 'A');
      await produceOrders(h.cluster.bootstrap, h.names.input, 0, 4 * CHUNK, CHUNK);
      await waitFor('A to process some rows', async () => ((await recordCount(h.admin, h.names.out)) > 0 ? true : undefined), 60_000, 100);
      const before = { orders: a.assignments('orders', h.names.input).length, publish: a.assignments('conn:mid', h.names.mid).length };
      // Without this the mock answers B's SyncGroup with INVALID_REQUEST and B's consumer crashes (see the helper).
      const restoreRtt = await slowResponsesWhileRebalancing(h.cluster);
      let split: { orders: { a: number[]; b: number[] }; publish: { a: number[]; b: number[] } };
      let b: ServiceProcess;
      try {
        b = start(h, 'B');
        // More rows arrive while B joins (the mock holds a rebalance for the session timeout, about 30 s).
        await produceOrders(h.cluster.bootstrap, h.names.input, 4 * CHUNK, N / 2, CHUNK);
        // After B joined, each replica got part of each group's topic: non-empty, disjoint, together all of it.
        const splitOf = (source: string, topic: string, aBefore: number): { a: number[]; b: number[] } | undefined => {
          const aNow = a.assignments(source, topic).slice(aBefore).at(-1);
          const bNow = b.assignments(source, topic).at(-1);
          if (!aNow || !bNow || aNow.length === 0 || bNow.length === 0) return undefined;
          const union = [...new Set([...aNow, ...bNow])].sort((x, y) => x - y);
          return union.length === INPUT_PARTITIONS && aNow.length + bNow.length === INPUT_PARTITIONS ? { a: aNow, b: bNow } : undefined;
        };
        split = await waitFor('the partitions of both groups to be split between A and B', () => {
          assert.ok(b.alive, `B exited: ${b.tail()}`);
          const orders = splitOf('orders', h.names.input, before.orders);
          const publish = splitOf('conn:mid', h.names.mid, before.publish);
          return orders && publish ? { orders, publish } : undefined;
        }, 90_000, 500);
      } finally {
        await restoreRtt();
      }
      assert.equal(a.assignments('orders', h.names.input)[0]?.length, INPUT_PARTITIONS, 'alone, A had every input partition');
      // The second half is processed by both replicas.
      await produceOrders(h.cluster.bootstrap, h.names.input, N / 2, N, CHUNK);

      const report = await waitForAllKeys(h.cluster.bootstrap, h.names.out, orderIds(0, N), 90_000, h.admin);
      assert.deepEqual(report.unexpected, []);
      assert.equal(report.distinct, N, 'no loss across the rebalance');
      await assertCommittedToEnd(h);
      assert.ok(a.alive && b.alive, `${a.tail()}\n${b.tail()}`);

      await Promise.all([assertCleanStop(a), assertCleanStop(b)]);
      // Both replicas did part of the work (the run summary counts the rows each read from the input).
      const aIn = runFinished(a)?.rowsIn['orders'] ?? 0;
      const bIn = runFinished(b)?.rowsIn['orders'] ?? 0;
      assert.ok(aIn > 0 && bIn > 0 && aIn + bIn >= N, `rows read from the input: A ${aIn}, B ${bIn}`);
      await assertNoDeadLetters(h, a, b);
      t.diagnostic(`input split A ${JSON.stringify(split.orders.a)} B ${JSON.stringify(split.orders.b)}, mid split A ${JSON.stringify(split.publish.a)} B ${JSON.stringify(split.publish.b)}; input rows read: A ${aIn}, B ${bIn}; duplicates out ${report.duplicates}`);
    });
  });

  test('a broker down for 5 s while rows stream in: every orderid reaches the output topic, the service lives, errors are logged per incident', async (t: TestContext) => {
    await withPipeline(async (h) => {
      const N = 10_000;
      const CHUNK = 500;
      // Broker 2 is the coordinator of both groups and leads partition 0 of every pipeline topic, so the
      // outage hits heartbeats and commits, fetches, and the service's own produces.
      await h.cluster.setCoordinator('group', `${h.names.app}.orders`, 2);
      await h.cluster.setCoordinator('group', `${h.names.app}.Publish`, 2);
      for (const topic of [h.names.input, h.names.mid, h.names.out]) await h.cluster.setPartitionLeader(topic, 0, 2);
      const svc = start(h, 'svc');
      await waitFor('the service to join both groups', () => (svc.assignments('orders', h.names.input).length > 0 && svc.assignments('conn:mid', h.names.mid).length > 0 ? true : undefined), 60_000);
      let outageStart: number | undefined;
      const outage = (async () => {
        await waitFor('rows flowing to the output topic', async () => ((await recordCount(h.admin, h.names.out)) > 0 ? true : undefined), 60_000, 100);
        outageStart = Date.now();
        await h.cluster.brokerDown(2);
        try {
          await new Promise((r) => setTimeout(r, 5_000));
        } finally {
          await h.cluster.brokerUp(2);
        }
      })();
      // kcat keeps (and retries) rows for broker 2's partitions while it is down.
      for (let i = 0; i < N; i += CHUNK) {
        await produceOrders(h.cluster.bootstrap, h.names.input, i, i + CHUNK, CHUNK);
        await new Promise((r) => setTimeout(r, 200));
      }
      await outage;

      const report = await waitForAllKeys(h.cluster.bootstrap, h.names.out, orderIds(0, N), 90_000, h.admin);
      assert.deepEqual(report.unexpected, []);
      assert.equal(report.distinct, N, 'no loss across the outage');
      await assertCommittedToEnd(h);
      assert.ok(svc.alive, `the service died: ${svc.tail()}`);

      // Once per incident, not per row or retry: the warnings and errors logged since the outage began.
      const since = (l: LogLine): boolean => Number(l['time']) >= (outageStart ?? 0);
      const warnings = svc.lines.filter((l) => (l.level ?? 0) >= 40 && since(l));
      const connection = warnings.filter((l) => /connect|closed|leader|coordinator|timed? ?out|ECONN|EPIPE/i.test(`${String(l.msg)} ${JSON.stringify(l['err'] ?? '')}`));
      t.diagnostic(`${warnings.length} warn+ lines since the outage (${connection.length} about the connection) for ${N} rows; duplicates out ${report.duplicates}`);
      for (const l of warnings) t.diagnostic(`  ${String(l.level)} ${String(l.msg)} ${String(l['err'] ?? '')}`.slice(0, 240));
      assert.ok(connection.length >= 1, 'the outage is logged');
      assert.ok(warnings.length < 50, `${warnings.length} warn+ lines for one outage:\n${warnings.slice(0, 20).map((l) => JSON.stringify(l)).join('\n')}`);
      await assertNoDeadLetters(h, svc);
      // Fails in about half of the runs: a bug in src/cli/main.ts (run). After the outage kafkajs can keep a
      // consumer connection to the broker that was down open past consumer.disconnect() (it was re-opened by
      // the heartbeat() that KafkaSource.onBatch sends after each chunk). The CLI neither exits once the run has
      // finished nor clears its drain-timeout timer, so the process outlives 'run finished' and exits 1 after
      // drain_timeout_ms (30 s), logging that in-flight batches were not committed (they were).
      await assertCleanStop(svc);
    });
  });

  test('injected Produce errors (NOT_LEADER_FOR_PARTITION, REQUEST_TIMED_OUT): nothing lost, the service lives and keeps processing', async (t: TestContext) => {
    await withPipeline(async (h) => {
      const N = 10_000;
      await produceOrders(h.cluster.bootstrap, h.names.input, 0, N / 2);
      const svc = start(h, 'svc');
      await waitFor('rows flowing to the output topic', async () => ((await recordCount(h.admin, h.names.out)) > 0 ? true : undefined), 60_000, 25);
      // The next 10 Produce requests, whoever sends them, fail (first in, first served); only the service
      // produces now. Once the output topic grows after that, the service has used up all 10: a Produce
      // succeeds only when none is left.
      await h.cluster.pushErrors(ApiKey.Produce, 5, KafkaErrorCode.NOT_LEADER_FOR_PARTITION);
      await h.cluster.pushErrors(ApiKey.Produce, 5, KafkaErrorCode.REQUEST_TIMED_OUT);
      const outAtInjection = await recordCount(h.admin, h.names.out);
      await waitFor('more rows out after the injection', async () => ((await recordCount(h.admin, h.names.out)) > outAtInjection ? true : undefined), 60_000, 100);
      // Rows produced after the incident are processed too.
      await produceOrders(h.cluster.bootstrap, h.names.input, N / 2, N);

      const report = await waitForAllKeys(h.cluster.bootstrap, h.names.out, orderIds(0, N), 90_000, h.admin);
      assert.deepEqual(report.unexpected, []);
      assert.equal(report.distinct, N, 'no loss with injected Produce errors');
      await assertCommittedToEnd(h);
      assert.ok(svc.alive, `the service died: ${svc.tail()}`);
      await assertNoDeadLetters(h, svc);
      const errors = svc.lines.filter((l) => (l.level ?? 0) >= 40);
      t.diagnostic(`injected at ${outAtInjection} rows out; duplicates out ${report.duplicates}; warn+ lines ${errors.length}`);
      for (const l of errors) t.diagnostic(`  ${String(l.level)} ${String(l.msg)} ${String(l['err'] ?? '')}`.slice(0, 240));
      assert.ok(errors.length < 20, `the injected errors are logged per incident, not per retry or row: ${errors.length} warn+ lines`);
      await assertCleanStop(svc);
    });
  });
});
