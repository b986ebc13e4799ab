/**
 * Test harness for a real Kafka-protocol broker: the librdkafka mock cluster
 * (Debian `librdkafka-dev`, see launcher.c) plus `kcat` as an independent
 * client. Tests talk to it over loopback TCP with kafkajs or kcat.
 *
 *   const cluster = await startMockCluster({ topics: [{ name: 't', partitions: 6 }] });
 *   try { ...cluster.bootstrap... } finally { await cluster.stop(); }
 *
 * Broker ids are 1..N. The mock reports controller id 0 in Metadata.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ENSURE_DEPS = path.join(HERE, 'ensure-deps.sh');
const STDERR_LIMIT = 64 * 1024;

/** Kafka protocol request types (ApiKey) commonly used with pushErrors. */
export const ApiKey = {
  Produce: 0,
  Fetch: 1,
  ListOffsets: 2,
  Metadata: 3,
  OffsetCommit: 8,
  OffsetFetch: 9,
  FindCoordinator: 10,
  JoinGroup: 11,
  Heartbeat: 12,
  LeaveGroup: 13,
  SyncGroup: 14,
  DescribeGroups: 15,
  ListGroups: 16,
  ApiVersions: 18,
  CreateTopics: 19,
  InitProducerId: 22,
} as const;

/** Kafka protocol error codes (and one librdkafka-local code) for pushErrors. */
export const KafkaErrorCode = {
  UNKNOWN_TOPIC_OR_PARTITION: 3,
  LEADER_NOT_AVAILABLE: 5,
  NOT_LEADER_FOR_PARTITION: 6,
  REQUEST_TIMED_OUT: 7,
  COORDINATOR_LOAD_IN_PROGRESS: 14,
  COORDINATOR_NOT_AVAILABLE: 15,
  NOT_COORDINATOR: 16,
  NOT_ENOUGH_REPLICAS: 19,
  REBALANCE_IN_PROGRESS: 27,
  /** librdkafka RD_KAFKA_RESP_ERR__TRANSPORT: the mock broker drops the connection. */
  TRANSPORT: -195,
} as const;

export interface MockCluster {
  /** Comma-separated `host:port` list, usable as bootstrap.servers / KAFKA_BROKERS. */
  readonly bootstrap: string;
  /** `host:port` per broker; brokers[i] has broker id i + 1. */
  readonly brokers: string[];
  /** Broker ids (1..N). */
  readonly brokerIds: number[];
  readonly pid: number | undefined;
  /** Sends one raw launcher command; resolves with the text after "OK" ('' usually), rejects on ERR. */
  command(line: string): Promise<string>;
  createTopic(name: string, partitions: number, replication?: number): Promise<void>;
  /** Disconnects the broker and refuses connections. Does NOT move leadership. */
  brokerDown(id: number): Promise<void>;
  brokerUp(id: number): Promise<void>;
  setRtt(id: number, ms: number): Promise<void>;
  /** The next `count` requests of `apiKey` (any broker) fail with `errCode`. */
  pushErrors(apiKey: number, count: number, errCode: number): Promise<void>;
  /** Same, but only on one broker, optionally delaying each response by rttMs. */
  pushBrokerErrors(brokerId: number, apiKey: number, count: number, errCode: number, rttMs?: number): Promise<void>;
  clearErrors(apiKey: number): Promise<void>;
  /** Errors still queued by pushBrokerErrors for (brokerId, apiKey). */
  brokerErrorCount(brokerId: number, apiKey: number): Promise<number>;
  /** brokerId -1 makes the partition leader-less. Creates the topic if missing. */
  setPartitionLeader(topic: string, partition: number, brokerId: number): Promise<void>;
  setCoordinator(keyType: 'group' | 'transaction', key: string, brokerId: number): Promise<void>;
  /** Captured launcher stderr (last 64 KiB). */
  stderr(): string;
  /** Closes stdin (clean shutdown), SIGKILLs after timeoutMs. Idempotent. */
  stop(timeoutMs?: number): Promise<void>;
}

export interface StartMockClusterOptions {
  brokers?: number;
  topics?: Array<{ name: string; partitions: number; replication?: number }>;
  /** How long to wait for the BOOTSTRAP line. Default 20 s. */
  startTimeoutMs?: number;
}

// ---------------------------------------------------------------------------
// dependencies and process bookkeeping

let depsPromise: Promise<string> | undefined;

/** Installs/compiles once per process; resolves with the launcher binary path. */
export function ensureKafkaMockDeps(): Promise<string> {
  depsPromise ??= new Promise<string>((resolve, reject) => {
    execFile('bash', [ENSURE_DEPS], { maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) {
        depsPromise = undefined;
        reject(new Error(`kafka-mock: ensure-deps.sh failed (${err.message.split('\n')[0]})\n${stderr}${stdout}`));
        return;
      }
      const lines = stdout.split('\n').map((l) => l.trim()).filter((l) => l !== '');
      const bin = lines[lines.length - 1];
      if (bin === undefined) {
        depsPromise = undefined;
        reject(new Error(`kafka-mock: ensure-deps.sh printed no binary path\n${stderr}`));
        return;
      }
      resolve(bin);
    });
  });
  return depsPromise;
}

const liveChildren = new Set<ChildProcess>();
let exitHookInstalled = false;

function track(child: ChildProcess): void {
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const c of liveChildren) {
        try {
          c.kill('SIGKILL');
        } catch {
          /* already gone */
        }
      }
    });
  }
}

/** Keeps (or stops keeping) the event loop alive for a child and its pipes. */
function setRef(child: ChildProcess, on: boolean): void {
  for (const s of [child.stdin, child.stdout, child.stderr]) {
    const sock = s as unknown as Partial<Pick<Socket, 'ref' | 'unref'>> | null;
    if (on) sock?.ref?.();
    else sock?.unref?.();
  }
  if (on) child.ref();
  else child.unref();
}

function onLines(stream: NodeJS.ReadableStream, cb: (line: string) => void): void {
  let buf = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    buf += chunk;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl).replace(/\r$/, '');
      buf = buf.slice(nl + 1);
      cb(line);
    }
  });
}

// ---------------------------------------------------------------------------
// mock cluster

function assertInt(name: string, v: number, min: number): void {
  if (!Number.isInteger(v) || v < min) throw new Error(`kafka-mock: ${name} must be an integer >= ${min}, got ${v}`);
}

function assertToken(name: string, v: string): void {
  if (v === '' || /\s/.test(v)) throw new Error(`kafka-mock: ${name} must be non-empty without whitespace: ${JSON.stringify(v)}`);
}

export async function startMockCluster(opts: StartMockClusterOptions = {}): Promise<MockCluster> {
  const brokerCount = opts.brokers ?? 3;
  assertInt('brokers', brokerCount, 1);
  const args = ['--brokers', String(brokerCount)];
  for (const t of opts.topics ?? []) {
    assertToken('topic name', t.name);
    assertInt('partitions', t.partitions, 1);
    if (t.name.includes(':')) throw new Error(`kafka-mock: topic name must not contain ':' here: ${t.name}`);
    args.push('--topic', `${t.name}:${t.partitions}:${t.replication ?? Math.min(3, brokerCount)}`);
  }

  const bin = await ensureKafkaMockDeps();
  const child = spawn(bin, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  track(child);

  let stderrBuf = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    stderrBuf += chunk;
    if (stderrBuf.length > STDERR_LIMIT) stderrBuf = stderrBuf.slice(-STDERR_LIMIT);
  });
  // EPIPE when the launcher died is reported through the pending command instead.
  child.stdin?.on('error', () => {});

  let exited = false;
  let exitInfo = '';
  const exitPromise = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exited = true;
      exitInfo = signal ? `signal ${signal}` : `exit code ${code}`;
      resolve();
    });
  });

  type Waiter = { resolve: (value: string) => void; reject: (e: Error) => void; line: string };
  const waiters: Waiter[] = [];
  let bootstrapResolve: ((b: string) => void) | undefined;
  let bootstrapReject: ((e: Error) => void) | undefined;
  const bootstrapPromise = new Promise<string>((resolve, reject) => {
    bootstrapResolve = resolve;
    bootstrapReject = reject;
  });

  let pendingOps = 1; // startup
  const busy = (delta: number): void => {
    pendingOps += delta;
    if (!exited) setRef(child, pendingOps > 0);
  };

  onLines(child.stdout!, (line) => {
    if (bootstrapResolve) {
      const m = /^BOOTSTRAP (\S+)$/.exec(line);
      const r = bootstrapResolve;
      const j = bootstrapReject;
      bootstrapResolve = bootstrapReject = undefined;
      if (m?.[1]) r(m[1]);
      else j?.(new Error(`kafka-mock: unexpected first line ${JSON.stringify(line)}\n${stderrBuf}`));
      return;
    }
    const w = waiters.shift();
    if (!w) return;
    if (line === 'OK' || line.startsWith('OK ')) w.resolve(line.slice(3));
    else w.reject(new Error(`kafka-mock: '${w.line}' failed: ${line.replace(/^ERR /, '')}`));
  });

  child.once('error', (err) => {
    bootstrapReject?.(new Error(`kafka-mock: cannot start ${bin}: ${err.message}`));
  });
  void exitPromise.then(() => {
    const err = new Error(`kafka-mock: launcher exited (${exitInfo})\n${stderrBuf}`);
    bootstrapReject?.(err);
    bootstrapResolve = bootstrapReject = undefined;
    for (const w of waiters.splice(0)) w.reject(err);
  });

  const startTimeoutMs = opts.startTimeoutMs ?? 20_000;
  const timer = setTimeout(() => {
    bootstrapReject?.(new Error(`kafka-mock: no BOOTSTRAP line within ${startTimeoutMs} ms\n${stderrBuf}`));
    bootstrapResolve = bootstrapReject = undefined;
  }, startTimeoutMs);

  let bootstrap: string;
  try {
    bootstrap = await bootstrapPromise;
  } catch (e) {
    child.kill('SIGKILL');
    throw e;
  } finally {
    clearTimeout(timer);
    busy(-1);
  }

  let queue: Promise<unknown> = Promise.resolve();
  let stopping: Promise<void> | undefined;

  const send = (line: string): Promise<string> =>
    new Promise<string>((resolve, reject) => {
      if (exited || stopping) {
        reject(new Error(`kafka-mock: '${line}' failed: cluster is stopped`));
        return;
      }
      waiters.push({ line, resolve, reject });
      child.stdin!.write(`${line}\n`);
    });

  const command = (line: string): Promise<string> => {
    const trimmed = line.trim();
    if (trimmed === '' || /[\r\n]/.test(trimmed)) {
      return Promise.reject(new Error(`kafka-mock: invalid command ${JSON.stringify(line)}`));
    }
    busy(+1);
    const run = queue.then(() => send(trimmed));
    queue = run.then(
      () => busy(-1),
      () => busy(-1),
    );
    return run;
  };

  const ok = (line: string): Promise<void> => command(line).then(() => undefined);

  const brokers = bootstrap.split(',');
  const cluster: MockCluster = {
    bootstrap,
    brokers,
    brokerIds: brokers.map((_, i) => i + 1),
    pid: child.pid,
    command,
    createTopic(name, partitions, replication) {
      assertToken('topic name', name);
      assertInt('partitions', partitions, 1);
      return ok(`topic ${name} ${partitions} ${replication ?? Math.min(3, brokers.length)}`);
    },
    brokerDown: (id) => ok(`broker_down ${id}`),
    brokerUp: (id) => ok(`broker_up ${id}`),
    setRtt: (id, ms) => ok(`rtt ${id} ${ms}`),
    pushErrors: (apiKey, count, errCode) => ok(`push_errors ${apiKey} ${count} ${errCode}`),
    pushBrokerErrors: (brokerId, apiKey, count, errCode, rttMs = 0) =>
      ok(`broker_push_errors ${brokerId} ${apiKey} ${count} ${errCode} ${rttMs}`),
    clearErrors: (apiKey) => ok(`clear_errors ${apiKey}`),
    async brokerErrorCount(brokerId, apiKey) {
      const v = await command(`broker_error_count ${brokerId} ${apiKey}`);
      const n = Number(v);
      if (!Number.isInteger(n)) throw new Error(`kafka-mock: bad broker_error_count reply ${JSON.stringify(v)}`);
      return n;
    },
    setPartitionLeader(topic, partition, brokerId) {
      assertToken('topic name', topic);
      return ok(`partition_leader ${topic} ${partition} ${brokerId}`);
    },
    setCoordinator(keyType, key, brokerId) {
      assertToken('coordinator key', key);
      return ok(`coordinator ${keyType} ${key} ${brokerId}`);
    },
    stderr: () => stderrBuf,
    stop(timeoutMs = 5_000) {
      stopping ??= (async () => {
        if (exited) return;
        setRef(child, true);
        child.stdin!.end();
        let killTimer: NodeJS.Timeout | undefined;
        await Promise.race([
          exitPromise,
          new Promise<void>((resolve) => {
            killTimer = setTimeout(resolve, timeoutMs);
          }),
        ]);
        clearTimeout(killTimer);
        if (!exited) {
          child.kill('SIGKILL');
          await exitPromise;
        }
      })();
      return stopping;
    },
  };
  return cluster;
}

// ---------------------------------------------------------------------------
// kcat helpers

const KEY_DELIM = '\x1f';

interface RunResult {
  stdout: string;
  stderr: string;
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
}

function runKcat(
  args: string[],
  input: string | undefined,
  timeoutMs: number,
  onStdoutLine?: (line: string) => void,
): Promise<RunResult> {
  return new Promise<RunResult>((resolve, reject) => {
    const child = spawn('kcat', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    track(child);
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    if (onStdoutLine) onLines(child.stdout!, onStdoutLine);
    else {
      child.stdout!.setEncoding('utf8');
      child.stdout!.on('data', (c: string) => (stdout += c));
    }
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (c: string) => {
      stderr += c;
      if (stderr.length > STDERR_LIMIT) stderr = stderr.slice(-STDERR_LIMIT);
    });
    child.stdin!.on('error', () => {});
    let killTimer: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGTERM');
      killTimer = setTimeout(() => child.kill('SIGKILL'), 2_000);
    }, timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`kcat: cannot start (${err.message}); run test/infra/kafka-mock/ensure-deps.sh`));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      clearTimeout(killTimer);
      resolve({ stdout, stderr, code, signal, timedOut });
    });
    if (input !== undefined) child.stdin!.end(input);
    else child.stdin!.end();
  });
}

function xArgs(config: Record<string, string> | undefined): string[] {
  return Object.entries(config ?? {}).flatMap(([k, v]) => ['-X', `${k}=${v}`]);
}

export interface KcatProduceOptions {
  partition?: number;
  /** Headers added to every message of this call. */
  headers?: Record<string, string>;
  /** Extra librdkafka properties (-X k=v). */
  config?: Record<string, string>;
  timeoutMs?: number;
}

/**
 * Produces `lines` with `kcat -P` (one message per line, key split on \x1f).
 * A missing key produces a null key. Values must not contain newlines.
 * Resolves once kcat flushed every message; rejects on any delivery failure.
 */
export async function kcatProduce(
  bootstrap: string,
  topic: string,
  lines: Array<{ key?: string; value: string }>,
  opts: KcatProduceOptions = {},
): Promise<void> {
  if (lines.length === 0) return;
  let input = '';
  for (const [i, l] of lines.entries()) {
    if (/[\r\n]/.test(l.value) || (l.key !== undefined && /[\r\n]/.test(l.key))) {
      throw new Error(`kcatProduce: row ${i} contains a newline (unsupported by kcat -P)`);
    }
    if (l.key?.includes(KEY_DELIM) || (l.key === undefined && l.value.includes(KEY_DELIM))) {
      throw new Error(`kcatProduce: row ${i} contains the key delimiter \\x1f`);
    }
    if (l.value === '' && l.key === undefined) {
      throw new Error(`kcatProduce: row ${i} has neither key nor value (kcat skips empty lines)`);
    }
    input += l.key === undefined ? `${l.value}\n` : `${l.key}${KEY_DELIM}${l.value}\n`;
  }
  const args = ['-b', bootstrap, '-t', topic, '-P', '-K', KEY_DELIM];
  if (opts.partition !== undefined) args.push('-p', String(opts.partition));
  for (const [k, v] of Object.entries(opts.headers ?? {})) args.push('-H', `${k}=${v}`);
  args.push(...xArgs(opts.config));
  const r = await runKcat(args, input, opts.timeoutMs ?? 30_000);
  if (r.timedOut || r.code !== 0) {
    throw new Error(
      `kcatProduce to ${topic} failed (${r.timedOut ? 'timeout' : `exit ${r.code ?? r.signal}`}): ${r.stderr.trim()}`,
    );
  }
}

export interface KcatMessage {
  key: string | null;
  /** Message value; a null (tombstone) value is returned as ''. */
  value: string;
  partition: number;
  offset: number;
  timestamp: number;
  headers?: Record<string, string>;
}

export interface KcatConsumeOptions {
  /** Wait until exactly this many messages arrived (no -e); rejects on timeout. */
  count?: number;
  /** Default 20 s (kcat is killed afterwards). */
  timeoutMs?: number;
  partition?: number;
  /** kcat -o value: 'beginning' (default), 'end', an offset, or negative relative. */
  offset?: string | number;
  /** Stop at the end of each partition (-e). Default: true unless count is given. */
  exitAtEnd?: boolean;
  config?: Record<string, string>;
}

interface KcatJsonMessage {
  partition: number;
  offset: number;
  ts?: number;
  key: string | null;
  payload: string | null;
  headers?: string[];
}

/** Consumes with `kcat -C -J` (no consumer group; offsets are not committed). */
export async function kcatConsume(bootstrap: string, topic: string, opts: KcatConsumeOptions = {}): Promise<KcatMessage[]> {
  const exitAtEnd = opts.exitAtEnd ?? opts.count === undefined;
  // -u: unbuffered, so messages received before a timeout are not lost.
  const args = ['-b', bootstrap, '-t', topic, '-C', '-J', '-u', '-o', String(opts.offset ?? 'beginning')];
  if (exitAtEnd) args.push('-e');
  if (opts.count !== undefined) args.push('-c', String(opts.count));
  if (opts.partition !== undefined) args.push('-p', String(opts.partition));
  args.push(...xArgs(opts.config));
  const out: KcatMessage[] = [];
  let parseError: Error | undefined;
  const timeoutMs = opts.timeoutMs ?? 20_000;
  const r = await runKcat(args, undefined, timeoutMs, (line) => {
    if (line.trim() === '') return;
    try {
      const m = JSON.parse(line) as KcatJsonMessage;
      const msg: KcatMessage = {
        key: m.key,
        value: m.payload ?? '',
        partition: m.partition,
        offset: m.offset,
        timestamp: m.ts ?? -1,
      };
      if (m.headers && m.headers.length > 0) {
        const h: Record<string, string> = {};
        for (let i = 0; i + 1 < m.headers.length; i += 2) h[m.headers[i]!] = m.headers[i + 1]!;
        msg.headers = h;
      }
      out.push(msg);
    } catch (e) {
      parseError ??= new Error(`kcatConsume: cannot parse ${JSON.stringify(line)}: ${String(e)}`);
    }
  });
  if (parseError) throw parseError;
  if (r.timedOut) {
    throw new Error(
      `kcatConsume ${topic}: timed out after ${timeoutMs} ms with ${out.length}` +
        `${opts.count !== undefined ? `/${opts.count}` : ''} messages: ${r.stderr.trim()}`,
    );
  }
  if (r.code !== 0) throw new Error(`kcatConsume ${topic} failed (exit ${r.code ?? r.signal}): ${r.stderr.trim()}`);
  return out;
}

export interface KcatMetadata {
  controllerId: number;
  brokers: Array<{ id: number; name: string }>;
  topics: Array<{ topic: string; error?: string; partitions: Array<{ partition: number; leader: number; replicas: number[] }> }>;
}

/** Cluster/topic metadata via `kcat -L -J` (topic omitted: all topics). */
export async function kcatMetadata(bootstrap: string, topic?: string, timeoutMs = 15_000): Promise<KcatMetadata> {
  const args = ['-b', bootstrap, '-L', '-J'];
  if (topic !== undefined) args.push('-t', topic);
  const r = await runKcat(args, undefined, timeoutMs);
  if (r.timedOut || r.code !== 0) throw new Error(`kcatMetadata failed (${r.timedOut ? 'timeout' : `exit ${r.code}`}): ${r.stderr.trim()}`);
  const raw = JSON.parse(r.stdout) as {
    controllerid: number;
    brokers: Array<{ id: number; name: string }>;
    topics: Array<{ topic: string; error?: string; partitions?: Array<{ partition: number; leader: number; replicas?: Array<{ id: number }> }> }>;
  };
  return {
    controllerId: raw.controllerid,
    brokers: raw.brokers,
    topics: raw.topics.map((t) => ({
      topic: t.topic,
      ...(t.error !== undefined ? { error: t.error } : {}),
      partitions: (t.partitions ?? []).map((p) => ({
        partition: p.partition,
        leader: p.leader,
        replicas: (p.replicas ?? []).map((x) => x.id),
      })),
    })),
  };
}

/** Unique-enough name for per-test topics and groups. */
export function randomName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}
