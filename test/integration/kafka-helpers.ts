// Helpers for integration tests that run the real CLI (`node dist/src/cli/main.js run`) against the
// librdkafka mock cluster: a config directory per test, the service as a child process with its pino
// log lines parsed, and reads of topic state (high watermarks, committed offsets, keys in a topic).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import { kcatConsume, kcatProduce, randomName, type KcatMessage, type MockCluster } from '../infra/kafka-mock/index.js';
import { waitUntil } from '../helpers.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const CLI = path.join(ROOT, 'dist/src/cli/main.js');

export interface PipelineNames {
  readonly app: string;
  readonly input: string;
  readonly mid: string;
  readonly out: string;
}

export function pipelineNames(): PipelineNames {
  return { app: randomName('app'), input: randomName('in'), mid: randomName('mid'), out: randomName('out') };
}

export interface PipelineOptions {
  /** params.partitions of the mid connector (default 4). */
  readonly midPartitions?: number;
  /** More params of the mid connector, e.g. ', acks: 1'. */
  readonly midExtra?: string;
  /** More params of the kafka source, e.g. ', group_id: g'. */
  readonly sourceExtra?: string;
}

/** Enrich (Verify, Calculate, Save to mid) fed by the input topic; Publish (Load from mid, sink to out). */
export function pipelineYaml(n: PipelineNames, o: PipelineOptions = {}): string {
  return `kistype: global
app_id: ${n.app}
kafka: { brokers: "\${KAFKA_BROKERS}" }
---
kistype: source
sid: orders
type: kafka
params: { topics: [${n.input}], from_beginning: true, max_batch_rows: 200${o.sourceExtra ?? ''} }
flows: [Enrich]
---
kistype: conn
cid: mid
type: kafka
key: userid
params: { topic: ${n.mid}, partitions: ${o.midPartitions ?? 4}${o.midExtra ?? ''} }
save: [SaveMid]
load: [LoadMid]
---
kistype: flow
flow_name: Enrich
flows: [{ fid: Check }, { fid: Total }, { fid: SaveMid }]
---
kistype: flow
flow_name: Publish
flows: [{ fid: LoadMid }, { fid: Out }]
---
kistype: func
fid: Check
fname: kis.filter
fmode: Verify
source: { name: orders, must: [userid, orderid] }
option: { default_params: { where: "qty > 0" } }
---
kistype: func
fid: Total
fname: kis.map
fmode: Calculate
option: { default_params: { set: { total: "qty * price" } } }
---
kistype: func
fid: SaveMid
fmode: Save
option: { cid: mid }
---
kistype: func
fid: LoadMid
fmode: Load
option: { cid: mid }
---
kistype: func
fid: Out
fname: kis.sink
fmode: Expand
option: { default_params: { to: topic, topic: ${n.out}, key: orderid } }
`;
}

/** Pre-creates the pipeline's topics (the mock refuses admin CreateTopics) and writes its config. */
export async function setUpPipeline(cluster: MockCluster, n: PipelineNames): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`);
  await cluster.createTopic(n.input, 4);
  await cluster.createTopic(n.mid, 4);
  await cluster.createTopic(n.out, 4);
  const dir = await mkdtemp(path.join(tmpdir(), 'kisflow-resilience-'));
  await writeFile(path.join(dir, 'pipeline.yml'), pipelineYaml(n));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** A valid order row: one distinct orderid per index. */
export function orderLine(i: number): { key: string; value: string } {
  const userid = `u${i % 97}`;
  return { key: userid, value: JSON.stringify({ userid, orderid: `o${i}`, qty: (i % 3) + 1, price: 2 }) };
}

export function orderIds(from: number, to: number): string[] {
  return Array.from({ length: to - from }, (_, k) => `o${from + k}`);
}

/** Produces rows [from, to) with kcat, in kcat calls of at most `chunk` rows. */
export async function produceOrders(bootstrap: string, topic: string, from: number, to: number, chunk = 20_000): Promise<void> {
  for (let i = from; i < to; i += chunk) {
    const lines = Array.from({ length: Math.min(chunk, to - i) }, (_, k) => orderLine(i + k));
    await kcatProduce(bootstrap, topic, lines, { timeoutMs: 60_000 });
  }
}

export interface LogLine {
  readonly level?: number;
  readonly msg?: string;
  readonly [field: string]: unknown;
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

/** The CLI `run` as a child process; stderr pino lines are parsed as they arrive. */
export class ServiceProcess {
  readonly lines: LogLine[] = [];
  /** Lines of stderr that are not JSON (a crash trace, a usage error). */
  readonly rawLines: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly child: ChildProcess;
  private exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;

  private constructor(readonly name: string, dir: string, bootstrap: string) {
    this.child = spawn(process.execPath, [CLI, 'run', '--config', dir], {
      env: { ...process.env, KAFKA_BROKERS: bootstrap, LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    live.add(this.child);
    this.child.stdout!.resume();
    let buf = '';
    this.child.stderr!.setEncoding('utf8');
    this.child.stderr!.on('data', (chunk: string) => {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        this.onLine(line);
      }
    });
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        live.delete(this.child);
        if (buf !== '') this.onLine(buf);
        this.exitInfo = { code, signal };
        resolve(this.exitInfo);
      });
    });
  }

  static start(name: string, dir: string, bootstrap: string): ServiceProcess {
    return new ServiceProcess(name, dir, bootstrap);
  }

  get alive(): boolean {
    return this.exitInfo === undefined;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  private onLine(line: string): void {
    if (line.trim() === '') return;
    try {
      const v: unknown = JSON.parse(line);
      if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
        this.lines.push(v as LogLine);
        return;
      }
    } catch {
      /* not a log line */
    }
    this.rawLines.push(line);
  }

  /** Input-topic assignments this process logged ('partitions assigned' of the given source), in order. */
  assignments(source: string, topic: string): number[][] {
    return this.lines
      .filter((l) => l.msg === 'partitions assigned' && l['source'] === source)
      .map((l) => {
        const list = (l['assignment'] ?? []) as Array<{ topic: string; partitions: number[] }>;
        return [...(list.find((a) => a.topic === topic)?.partitions ?? [])].sort((a, b) => a - b);
      });
  }

  signal(sig: NodeJS.Signals): void {
    if (this.alive) this.child.kill(sig);
  }

  /** SIGTERM, then the exit status; SIGKILL past the deadline (the status then says so). */
  async stop(timeoutMs = 40_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    this.signal('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const res = await Promise.race([
      this.exited,
      new Promise<undefined>((resolve) => { timer = setTimeout(() => resolve(undefined), timeoutMs); }),
    ]);
    clearTimeout(timer);
    if (res) return res;
    this.signal('SIGKILL');
    return this.exited;
  }

  /** For finally blocks: never leaves the process behind. */
  async kill(): Promise<void> {
    if (!this.alive) return;
    this.signal('SIGKILL');
    await this.exited;
  }

  /** The last lines of the log, for assertion messages. */
  tail(n = 15): string {
    const all = [...this.lines.map((l) => JSON.stringify(l)), ...this.rawLines];
    return `${this.name} (last ${n} of ${all.length} log lines):\n${all.slice(-n).join('\n')}`;
  }
}

/**
 * Works around a quirk of the librdkafka 2.0.2 mock coordinator so that a second member can join a
 * running group. The mock completes a sync as soon as the leader's SyncGroup carries every member's
 * assignment, and answers a follower whose SyncGroup arrives after that with INVALID_REQUEST (a real
 * broker returns the assignment); kafkajs treats INVALID_REQUEST as fatal and the follower's consumer
 * crashes. Plain kafkajs consumers show the same thing, so it is not the service's doing: the follower
 * loses a race of about a millisecond, because both JoinGroup answers go out together and the leader only
 * refreshes metadata before it syncs. Slowing every broker's responses by `rttMs` while the group
 * rebalances makes that metadata round trip long enough for the follower's SyncGroup to arrive first (the
 * mock's Metadata handler ignores injected errors and delays, so only the broker-wide RTT works). Returns
 * a function that sets the RTT back to 0.
 */
export async function slowResponsesWhileRebalancing(cluster: MockCluster, rttMs = 100): Promise<() => Promise<void>> {
  for (const id of cluster.brokerIds) await cluster.setRtt(id, rttMs);
  return async () => {
    for (const id of cluster.brokerIds) await cluster.setRtt(id, 0).catch(() => undefined);
  };
}

export function waitFor<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, timeoutMs: number, everyMs = 250): Promise<T> {
  return waitUntil(what, fn, timeoutMs, everyMs);
}

export function admin(bootstrap: string): Admin {
  return new Kafka({ clientId: 'resilience-test', brokers: bootstrap.split(','), logLevel: logLevel.NOTHING, retry: { retries: 3 } }).admin();
}

/** Sum of the high watermarks of a topic: how many records it holds (nothing is deleted in these tests). */
export async function recordCount(a: Admin, topic: string): Promise<number> {
  const offsets = await a.fetchTopicOffsets(topic);
  return offsets.reduce((sum, p) => sum + Number(p.high), 0);
}

/** True when the group has committed the high watermark of every partition of the topic. */
export async function committedToEnd(a: Admin, groupId: string, topic: string): Promise<boolean> {
  const ends = await a.fetchTopicOffsets(topic);
  const [committed] = await a.fetchOffsets({ groupId, topics: [topic] });
  return ends.every((e) => committed?.partitions.find((p) => p.partition === e.partition)?.offset === e.high);
}

/** Every record of a topic (kcat, no group); [] while the topic cannot be read. */
export async function readTopic(bootstrap: string, topic: string): Promise<KcatMessage[]> {
  return kcatConsume(bootstrap, topic, { timeoutMs: 30_000 }).catch(() => []);
}

export interface DeliveryReport {
  readonly records: number;
  readonly distinct: number;
  readonly missing: string[];
  readonly unexpected: string[];
  readonly duplicates: number;
}

/** Compares the keys of a topic's records with the expected set: what is missing, and how many extra copies. */
export function delivery(messages: readonly KcatMessage[], expected: readonly string[]): DeliveryReport {
  const want = new Set(expected);
  const seen = new Map<string, number>();
  for (const m of messages) seen.set(m.key ?? '<null>', (seen.get(m.key ?? '<null>') ?? 0) + 1);
  const missing = expected.filter((k) => !seen.has(k));
  const unexpected = [...seen.keys()].filter((k) => !want.has(k));
  return { records: messages.length, distinct: seen.size, missing, unexpected, duplicates: messages.length - seen.size };
}

/** Waits until every expected key is in the topic; returns the delivery report of the last read. */
export async function waitForAllKeys(bootstrap: string, topic: string, expected: readonly string[], timeoutMs: number, a: Admin): Promise<DeliveryReport> {
  let last: DeliveryReport | undefined;
  try {
    return await waitFor(`all ${expected.length} keys in ${topic}`, async () => {
      // Cheap check first: a full read only once the topic holds enough records.
      if ((await recordCount(a, topic)) < expected.length) return undefined;
      last = delivery(await readTopic(bootstrap, topic), expected);
      return last.missing.length === 0 ? last : undefined;
    }, timeoutMs, 500);
  } catch (err) {
    const seen = last ?? delivery(await readTopic(bootstrap, topic), expected);
    throw new Error(`${(err as Error).message}: ${seen.missing.length} missing (first: ${seen.missing.slice(0, 5).join(', ')}), ${seen.records} records read`);
  }
}
