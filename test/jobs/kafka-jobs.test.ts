// KisJobs in Kafka mode on the librdkafka mock cluster, three replicas as child processes: a one-second job
// for about a minute with its owner killed -9 twice (catch_up: every second exactly once in the run log; no
// second twice), and a sharding broadcast (each tick runs shards 0, 1 and 2 once each). The run log is read
// with kcat, independently of the code under test.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { partitionForKey } from '../../src/kernel/partitioner.js';
import { jobTopics } from '../../src/jobs/topics.js';
import type { RunRecord } from '../../src/jobs/records.js';
import { kcatConsume, randomName, startMockCluster, type MockCluster } from '../infra/kafka-mock/index.js';
import { slowResponsesWhileRebalancing, waitFor } from '../integration/kafka-helpers.js';

const REPLICA = path.join(path.dirname(fileURLToPath(import.meta.url)), 'replica.ts');

class Replica {
  readonly lines: Array<Record<string, unknown>> = [];
  readonly exited: Promise<void>;
  private readonly child: ChildProcess;
  constructor(readonly name: string, env: Record<string, string>) {
    this.child = spawn(process.execPath, ['--import', 'tsx', REPLICA], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let buf = '';
    this.child.stdout!.setEncoding('utf8').on('data', (c: string) => {
      buf += c;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        try { this.lines.push(JSON.parse(buf.slice(0, nl)) as Record<string, unknown>); } catch { /* not ours */ }
        buf = buf.slice(nl + 1);
      }
    });
    this.stderr = '';
    this.child.stderr!.setEncoding('utf8').on('data', (c: string) => { this.stderr = (this.stderr + c).slice(-20_000); });
    this.exited = new Promise((r) => this.child.once('exit', () => r()));
  }
  stderr: string;
  get owned(): string[] {
    const l = [...this.lines].reverse().find((x) => x['event'] === 'owned');
    return (l?.['jobs'] as string[] | undefined) ?? [];
  }
  get members(): number {
    const l = [...this.lines].reverse().find((x) => x['event'] === 'owned');
    return (l?.['members'] as number | undefined) ?? 0;
  }
  get started(): boolean {
    return this.lines.some((x) => x['event'] === 'started');
  }
  kill9(): Promise<void> {
    this.child.kill('SIGKILL');
    return this.exited;
  }
  async stop(): Promise<void> {
    this.child.kill('SIGTERM');
    const t = setTimeout(() => this.child.kill('SIGKILL'), 20_000);
    await this.exited;
    clearTimeout(t);
  }
}

let cluster: MockCluster;
let dir: string;
const replicas: Replica[] = [];

before(async () => {
  cluster = await startMockCluster({ brokers: 3 });
  dir = await mkdtemp(path.join(tmpdir(), 'kisjobs-'));
});
after(async () => {
  await Promise.all(replicas.map((r) => r.kill9()));
  await cluster?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function setUp(yaml: string): Promise<{ app: string; env: Record<string, string> }> {
  const app = randomName('jobs');
  const t = jobTopics(app);
  // The mock refuses CreateTopics: pre-create the topics with the counts the service expects.
  await cluster.createTopic(t.jobs, 6);
  await cluster.createTopic(t.triggers, 6);
  await cluster.createTopic(t.runs, 6);
  await cluster.createTopic(t.commands, 1);
  const file = path.join(dir, `${app}.yml`);
  await writeFile(file, yaml);
  return { app, env: { KAFKA_BROKERS: cluster.bootstrap, APP_ID: app, JOBS_FILE: file, SESSION_TIMEOUT_MS: '6000' } };
}

function start(name: string, env: Record<string, string>): Replica {
  const r = new Replica(name, env);
  replicas.push(r);
  return r;
}

async function runs(app: string): Promise<RunRecord[]> {
  const msgs = await kcatConsume(cluster.bootstrap, jobTopics(app).runs, { timeoutMs: 30_000 });
  return msgs.map((m) => JSON.parse(m.value) as RunRecord);
}

/** The latest record of each run id. */
function latest(records: readonly RunRecord[]): RunRecord[] {
  const m = new Map<string, RunRecord>();
  for (const r of records) if (!(m.get(r.run_id) && r.status === 'running')) m.set(r.run_id, r);
  return [...m.values()];
}

test('three replicas, one-second jobs, the owner killed -9 twice: every second exactly once with catch_up, none twice with fire_once or do_nothing', async (t: TestContext) => {
  // once-2 and none-14 hash to the partition of tick (3 of 6), so one owner holds all three and each kill hits all.
  assert.deepEqual(['once-2', 'none-14'].map((id) => partitionForKey(id, 6)), [partitionForKey('tick', 6), partitionForKey('tick', 6)]);
  const { app, env } = await setUp(['tick:catch_up', 'once-2:fire_once', 'none-14:do_nothing'].map((x) => {
    const [id, policy] = x.split(':');
    return `kistype: job\nid: ${id}\ntrigger: { every_ms: 1000 }\nmisfire: { policy: ${policy}, window_ms: 300000, threshold_ms: 1500 }\nruns: { handler: ok }\n`;
  }).join('---\n'));
  const restoreRtt = await slowResponsesWhileRebalancing(cluster);
  try {
    const rs = [start('r1', env), start('r2', env), start('r3', env)];
    const killed: string[] = [];
    const ownerOf = (): Replica | undefined => rs.find((r) => !killed.includes(r.name) && r.owned.includes('tick'));
    const members = (): number => Math.max(...rs.map((r) => r.members));
    await waitFor('three members and an owner', () => (members() === 3 && ownerOf() ? true : undefined), 60_000);
    for (let k = 0; k < 2; k++) {
      await new Promise((r) => setTimeout(r, 12_000));
      const owner = ownerOf()!;
      killed.push(owner.name);
      await owner.kill9();
      const alive = rs.filter((r) => !killed.includes(r.name));
      await waitFor(`a new owner after killing ${owner.name}`, () => (alive.some((r) => r.owned.includes('tick')) ? true : undefined), 60_000);
    }
    await new Promise((r) => setTimeout(r, 10_000));
    await Promise.all(rs.filter((r) => !killed.includes(r.name)).map((r) => r.stop()));
    t.diagnostic(`killed ${killed.join(', ')}`);
  } finally {
    await restoreRtt();
  }
  const records = latest(await runs(app));
  const perTickOf = (job: string): Map<number, RunRecord[]> => {
    const m = new Map<number, RunRecord[]>();
    for (const r of records) if (r.job === job && r.status !== 'discarded') m.set(r.scheduled_at, [...(m.get(r.scheduled_at) ?? []), r]);
    return m;
  };
  const twiceIn = (m: Map<number, RunRecord[]>): string[] => [...m].filter(([, v]) => v.length > 1).map(([k, v]) => `${new Date(k).toISOString()} x${v.length}`);

  const perTick = perTickOf('tick');
  const ran = [...perTick.values()].flat();
  const ticks = [...perTick.keys()].sort((a, b) => a - b);
  const first = ticks[0]!;
  const last = ticks[ticks.length - 1]!;
  const missing: string[] = [];
  for (let s = first; s <= last; s += 1000) if (!perTick.has(s)) missing.push(new Date(s).toISOString());
  const executors = new Set(ran.map((r) => r.executor));
  const misfires = ran.filter((r) => r.trigger === 'misfire').length;
  t.diagnostic(`catch_up: ${ticks.length} seconds from ${new Date(first).toISOString()} to ${new Date(last).toISOString()}, ${executors.size} executors, ${misfires} caught up as misfires`);
  assert.deepEqual(twiceIn(perTick), [], 'catch_up: no second ran twice');
  assert.deepEqual(missing, [], 'catch_up: every second ran');
  assert.ok(ticks.length >= 45, `about a minute of seconds (${ticks.length})`);
  assert.equal(executors.size, 3, 'three owners in turn');
  assert.ok(misfires > 0, 'the seconds missed during take-overs were caught up');

  const once = perTickOf('once-2');
  const none = perTickOf('none-14');
  const onceMisfires = [...once.values()].flat().filter((r) => r.trigger === 'misfire').length;
  const noneMisfires = [...none.values()].flat().filter((r) => r.trigger === 'misfire').length;
  t.diagnostic(`fire_once: ${once.size} seconds, ${onceMisfires} misfire runs; do_nothing: ${none.size} seconds, ${noneMisfires} misfire runs`);
  assert.deepEqual(twiceIn(once), [], 'fire_once: no second ran twice');
  assert.deepEqual(twiceIn(none), [], 'do_nothing: no second ran twice');
  assert.ok(onceMisfires >= 1 && onceMisfires <= 2, `fire_once: one run per take-over for the missed seconds (${onceMisfires})`);
  assert.equal(noneMisfires, 0, 'do_nothing: missed seconds are skipped');
  assert.ok(once.size < ticks.length && none.size < once.size, 'fewer seconds ran than with catch_up');
});

test('sharding broadcast over three replicas: each tick runs shards 0, 1 and 2 once each; round robin spreads ticks over them', async (t: TestContext) => {
  const { app, env } = await setUp(`kistype: job
id: shard
trigger: { every_ms: 1000 }
route: sharding_broadcast
runs: { handler: ok }
---
kistype: job
id: rr
trigger: { every_ms: 1000 }
route: round_robin
runs: { handler: ok }
`);
  const restoreRtt = await slowResponsesWhileRebalancing(cluster);
  const rs = [start('s1', env), start('s2', env), start('s3', env)];
  try {
    await waitFor('three members known to the owner', () => (rs.some((r) => r.owned.includes('shard') && r.members === 3) ? true : undefined), 60_000);
    await new Promise((r) => setTimeout(r, 8_000));
  } finally {
    await Promise.all(rs.map((r) => r.stop()));
    await restoreRtt();
  }
  const all = latest(await runs(app)).filter((r) => r.job === 'shard');
  const full = all.filter((r) => r.shards === 3);
  const perTick = new Map<number, RunRecord[]>();
  for (const r of full) perTick.set(r.scheduled_at, [...(perTick.get(r.scheduled_at) ?? []), r]);
  const ticks = [...perTick.keys()].sort((a, b) => a - b);
  // The last tick may have been cut by the stop; every other one is whole.
  const whole = ticks.slice(0, -1);
  t.diagnostic(`${whole.length} ticks with 3 shards`);
  assert.ok(whole.length >= 5, `enough ticks with three shards (${whole.length})`);
  for (const tick of whole) {
    const shards = perTick.get(tick)!.map((r) => r.shard).sort();
    assert.deepEqual(shards, [0, 1, 2], `tick ${new Date(tick).toISOString()}`);
    assert.equal(new Set(perTick.get(tick)!.map((r) => r.executor)).size, 3, 'on three executors');
    assert.ok(perTick.get(tick)!.every((r) => r.status === 'succeeded'));
  }
  // Round robin: once three executors are known, ticks go to each of them in turn, every tick once.
  const rr = latest(await runs(app)).filter((r) => r.job === 'rr' && r.scheduled_at >= whole[0]! && r.scheduled_at <= whole[whole.length - 1]!);
  const rrTicks = new Map<number, number>();
  for (const r of rr) rrTicks.set(r.scheduled_at, (rrTicks.get(r.scheduled_at) ?? 0) + 1);
  t.diagnostic(`round robin: ${rr.length} runs on ${new Set(rr.map((r) => r.executor)).size} executors`);
  assert.ok([...rrTicks.values()].every((n) => n === 1), 'round robin: every tick once');
  assert.equal(new Set(rr.map((r) => r.executor)).size, 3, 'round robin: on all three executors');
});
