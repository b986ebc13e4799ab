// kistype: source, type: kafka — a consumer group over topics. Each assigned partition is processed in
// order, partitions concurrently up to a bound (kafkajs partitionsConsumedConcurrently); the next batch of
// a partition is not fetched until its current one is done, so a busy partition waits rather than buffers.
// An offset is committed only after the batch that holds it was handed on and its hand-off resolved
// (everything produced acknowledged, every Expand done), and never for a partition no longer owned.
import type { Batch as KafkaBatch, Consumer, ConsumerConfig, ConsumerRunConfig, EachBatchPayload, Kafka, KafkaMessage } from 'kafkajs';
import type { Logger } from 'pino';
import type { KafkaSourceParamsT } from '../../config/codecs.js';
import { errorMessage, KisError } from '../../kernel/errors.js';
import type { Position, Row } from '../../kernel/types.js';
import { coPartitionAssigner } from '../../kafka/assigners.js';
import { batchOf, NO_SOURCE_OBSERVER, type BatchHandler, type Source, type SourceObserver, type Undecodable } from '../../core/source.js';

export const DEFAULT_MAX_BATCH_ROWS = 500;
export const DEFAULT_PARTITIONS_CONCURRENTLY = 4;

export interface KafkaSourceOptions {
  readonly id: string;
  readonly kafka: Kafka;
  readonly groupId: string;
  readonly params: KafkaSourceParamsT;
  readonly logger: Logger;
  /** Lag, commit latency and rebalances go here. */
  readonly observer?: SourceObserver;
  /** Called with this member's partitions (by topic) after each rebalance, before any batch of the new generation. */
  readonly onAssigned?: (assignment: Readonly<Record<string, readonly number[]>>) => void;
  /**
   * With commit_interval_ms, called before offsets of a partition are committed (every commit path); false: they
   * are not committed (the partition's state is no longer here, its records are handed on again by its next owner).
   */
  readonly beforeCommit?: (partition: number) => Promise<boolean>;
  /** kafkajs partition assigners (default: co-partitioning, so joined topics meet in one member). */
  readonly partitionAssigners?: ConsumerConfig['partitionAssigners'];
}

/** The headers of a record without any: one shared frozen object, not an empty one per record. */
const NO_HEADERS: Readonly<Record<string, string>> = Object.freeze({});

function headersOf(m: KafkaMessage): Readonly<Record<string, string>> {
  const h = m.headers;
  if (h === undefined) return NO_HEADERS;
  let out: Record<string, string> | undefined;
  for (const k in h) {
    const v = h[k];
    if (v === undefined) continue;
    out ??= {};
    out[k] = Array.isArray(v) ? v.map((x) => x.toString()).join(',') : v.toString();
  }
  return out ?? NO_HEADERS;
}

/** Decodes one record's value by value_format; a JSON value that is not an object is undecodable. */
export function decodeValue(value: Buffer | null, format: 'json' | 'string' | 'bytes'): { row: Row } | { reason: string } {
  if (format === 'string') return { row: { value: value?.toString('utf8') ?? null } };
  if (format === 'bytes') return { row: { value: value?.toString('base64') ?? null } };
  const res = decodeJson(value);
  return typeof res === 'string' ? { reason: res } : { row: res };
}

/** A JSON record's row, or why it has none (a string): no wrapper object per record on the hot path. */
function decodeJson(value: Buffer | null): Row | string {
  if (value === null) return 'empty value (a tombstone), expected a JSON object';
  try {
    const v: unknown = JSON.parse(value.toString('utf8'));
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return `expected a JSON object, found ${Array.isArray(v) ? 'an array' : JSON.stringify(v)}`;
    return v as Row;
  } catch (err) {
    return `malformed JSON: ${errorMessage(err)}`;
  }
}

/** The kafkajs consumer settings of a kafka source. */
export function consumerConfig(groupId: string, params: KafkaSourceParamsT): ConsumerConfig {
  return {
    groupId,
    maxWaitTimeInMs: params.max_wait_ms ?? 100,
    allowAutoTopicCreation: true,
    retry: { retries: 10, initialRetryTime: 200, maxRetryTime: 3000 },
  };
}

/** How the consumer runs: offsets committed by us after each batch, partitions in parallel up to the bound. */
export function runConfig(params: KafkaSourceParamsT): Omit<ConsumerRunConfig, 'eachBatch' | 'eachMessage'> {
  return {
    autoCommit: false,
    eachBatchAutoResolve: false,
    partitionsConsumedConcurrently: params.partitions_concurrently ?? DEFAULT_PARTITIONS_CONCURRENTLY,
  };
}

export class KafkaSource implements Source {
  readonly finite = false;
  readonly id: string;
  private consumer: Consumer | undefined;
  private assigned = false;
  private readonly observer: SourceObserver;

  constructor(private readonly opts: KafkaSourceOptions) {
    this.id = opts.id;
    this.observer = opts.observer ?? NO_SOURCE_OBSERVER;
  }

  async run(handle: BatchHandler, signal: AbortSignal): Promise<void> {
    const { kafka, groupId, params, logger } = this.opts;
    const consumer = kafka.consumer({ ...consumerConfig(groupId, params), partitionAssigners: this.opts.partitionAssigners ?? [coPartitionAssigner] });
    this.consumer = consumer;
    let crashed: ((err: unknown) => void) | undefined;
    const crash = new Promise<never>((_, reject) => { crashed = reject; });
    consumer.on(consumer.events.CRASH, (e) => {
      const { error, restart } = e.payload as { error: Error; restart: boolean };
      if (!restart) crashed?.(new KisError('KIS_ERR_SOURCE', `source '${this.id}': the consumer of group ${groupId} stopped: ${error.message}`, { cause: error }));
    });
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      const assignment = (e.payload as { memberAssignment: Record<string, number[]> }).memberAssignment;
      const list = Object.entries(assignment).map(([topic, partitions]) => ({ topic, partitions }));
      this.assigned = true;
      // Offsets the interval held back for partitions this member lost are never committed (their next owner hands them on again).
      for (const [k, p] of this.pending) if (!assignment[p.topic]?.includes(p.partition)) this.pending.delete(k);
      logger.info({ source: this.id, group: groupId, assignment: list }, 'partitions assigned');
      this.observer.rebalanced(this.id);
      this.opts.onAssigned?.(assignment);
    });
    try {
      await consumer.connect();
      await consumer.subscribe({ topics: [...params.topics], fromBeginning: params.from_beginning ?? false });
    } catch (err) {
      await consumer.disconnect().catch(() => undefined);
      throw new KisError('KIS_ERR_SOURCE', `source '${this.id}': cannot join consumer group ${groupId} on ${params.topics.join(', ')}: ${errorMessage(err)}`, { cause: err });
    }
    await consumer.run({ ...runConfig(params), eachBatch: (payload) => this.onBatch(payload, handle) });
    const interval = params.commit_interval_ms ?? 0;
    const committer = interval > 0 ? setInterval(() => void this.commitPending(consumer), interval) : undefined;
    committer?.unref();
    const stopped = new Promise<void>((resolve) => {
      if (signal.aborted) resolve();
      else signal.addEventListener('abort', () => resolve(), { once: true });
    });
    try {
      await Promise.race([stopped, crash]);
    } finally {
      if (committer) clearInterval(committer);
      this.stopping = true;
      // Offsets the interval held back are committed while the consumer still runs (commitOffsets does nothing once stop() began).
      await this.commitPending(consumer);
      // stop() waits for the batches in flight: they finish and commit, or are abandoned uncommitted
      await consumer.stop().catch(() => undefined);
      await consumer.disconnect().catch(() => undefined);
    }
  }

  get groupId(): string {
    return this.opts.groupId;
  }

  /**
   * Only with commit_interval_ms: committing every chunk, a flush after each chunk is as cheap, and a flush at
   * the commit (queued behind the next chunk's work) would let state run further ahead of the offsets.
   */
  get callsBeforeCommit(): boolean {
    return this.opts.beforeCommit !== undefined && (this.opts.params.commit_interval_ms ?? 0) > 0;
  }

  waiting(): string[] {
    if (!this.consumer) return [`source '${this.id}': not connected`];
    return this.assigned ? [] : [`source '${this.id}': consumer group ${this.opts.groupId} has not assigned partitions yet`];
  }

  /** Offsets processed and acknowledged but not committed yet (commit_interval_ms > 0), by topic and partition. */
  private readonly pending = new Map<string, { topic: string; partition: number; offset: string }>();
  private readonly lastCommit = new Map<string, number>();
  /** Set before a graceful stop: from then on every processed chunk is committed at once. */
  private stopping = false;

  private async onBatch(payload: EachBatchPayload, handle: BatchHandler): Promise<void> {
    const { batch, resolveOffset, heartbeat, isRunning, isStale, commitOffsetsIfNecessary } = payload;
    const max = this.opts.params.max_batch_rows ?? DEFAULT_MAX_BATCH_ROWS;
    const interval = this.opts.params.commit_interval_ms ?? 0;
    const key = `${batch.topic}\u0000${batch.partition}`;
    // Commits run in order, each after its chunk is fully processed, while the next chunk is processed;
    // all of them are done before this batch returns to kafkajs, which rebalances only between batches.
    let commits: Promise<void> = Promise.resolve();
    try {
      for (let i = 0; i < batch.messages.length; i += max) {
        if (!isRunning() || isStale()) return; // revoked or stopping: what is left stays uncommitted
        const chunk = batch.messages.length <= max ? batch.messages : batch.messages.slice(i, i + max);
        await handle(this.toBatch(batch, chunk));
        const last = chunk[chunk.length - 1]!;
        resolveOffset(last.offset);
        const next = (BigInt(last.offset) + 1n).toString();
        this.observer.lag(this.id, batch.topic, batch.partition, Math.max(0, Number(BigInt(batch.highWatermark) - BigInt(next))));
        const now = Date.now();
        // The interval runs from the partition's first chunk here, as Kafka Streams' commit.interval.ms does.
        if (interval > 0 && !this.lastCommit.has(key)) this.lastCommit.set(key, now);
        if (interval > 0 && now - this.lastCommit.get(key)! < interval && isRunning() && !this.stopping) {
          this.pending.set(key, { topic: batch.topic, partition: batch.partition, offset: next });
        } else {
          this.pending.delete(key);
          this.lastCommit.set(key, now);
          commits = commits.then(async () => {
            if (isStale()) return; // the partition moved while we worked: never commit for a partition no longer owned
            await this.commit(commitOffsetsIfNecessary, batch.topic, batch.partition, next);
          });
        }
        await heartbeat();
      }
    } finally {
      // Stopping with offsets held back by the interval: they are committed through this batch's own call.
      if ((!isRunning() || this.stopping) && this.pending.has(key) && !isStale()) {
        const p = this.pending.get(key)!;
        this.pending.delete(key);
        commits = commits.then(() => this.commit(commitOffsetsIfNecessary, p.topic, p.partition, p.offset));
      }
      await commits;
    }
  }

  /** Commits the offsets the interval held back (a timer while running, and before a graceful stop). */
  private async commitPending(consumer: Consumer): Promise<void> {
    if (this.pending.size === 0) return;
    const held = [...this.pending.values()];
    this.pending.clear();
    const now = Date.now();
    for (const p of held) this.lastCommit.set(`${p.topic}\u0000${p.partition}`, now);
    let list: typeof held;
    try {
      list = await this.committable(held);
    } catch (err) {
      // The hook failed the service already (what the offsets cover is not durable): nothing is committed.
      this.opts.logger.warn({ source: this.id, err: errorMessage(err) }, 'offsets not committed: flushing before the commit failed');
      return;
    }
    if (list.length === 0) return;
    try {
      const t0 = performance.now();
      await consumer.commitOffsets(list);
      this.observer.committed(this.id, performance.now() - t0);
    } catch (err) {
      this.refusedCommit(list[0]!.topic, list[0]!.partition, list[0]!.offset, err);
    }
  }

  /** The offsets whose partition's beforeCommit allows the commit (its work flushed first); a failure there throws. */
  private async committable<T extends { partition: number }>(list: readonly T[]): Promise<T[]> {
    const hook = this.callsBeforeCommit ? this.opts.beforeCommit : undefined;
    if (!hook) return [...list];
    const ok = await Promise.all(list.map((p) => hook(p.partition)));
    return list.filter((_, i) => ok[i]);
  }

  private refusedSince = 0;
  private refused = 0;

  /**
   * Commits through the batch's own commit call: consumer.commitOffsets() does nothing once stop() has
   * begun, which would leave the batches a graceful stop lets finish uncommitted (processed again later).
   */
  private async commit(commitOffsets: EachBatchPayload['commitOffsetsIfNecessary'], topic: string, partition: number, offset: string): Promise<void> {
    if ((await this.committable([{ topic, partition, offset }])).length === 0) return;
    try {
      const t0 = performance.now();
      await commitOffsets({ topics: [{ topic, partitions: [{ partition, offset }] }] });
      this.observer.committed(this.id, performance.now() - t0);
    } catch (err) {
      this.refusedCommit(topic, partition, offset, err);
    }
  }

  /**
   * A rebalance in progress refuses commits: the records are processed again by the next owner (at least
   * once). Logged once per incident (30 s), with how many were refused, not once per chunk.
   */
  private refusedCommit(topic: string, partition: number, offset: string, err: unknown): void {
    this.refused++;
    const now = Date.now();
    if (now - this.refusedSince > 30_000) {
      this.opts.logger.warn({ source: this.id, topic, partition, offset, refusedSinceLastWarning: this.refused, err: errorMessage(err) },
        'offset commit refused; the next owner of the partition will process these records again');
      this.refusedSince = now;
      this.refused = 0;
    }
  }

  private toBatch(batch: KafkaBatch, messages: KafkaMessage[]) {
    const format = this.opts.params.value_format ?? 'json';
    const { topic, partition } = batch;
    const source = this.id;
    const n = messages.length;
    const rows: Row[] = [];
    const positions: Position[] = [];
    let undecodable: Undecodable[] | undefined;
    // The hot path of every Kafka row: one position object per record, and no other allocation of ours.
    for (let i = 0; i < n; i++) {
      const m = messages[i]!;
      const position: Position = {
        source,
        partition,
        offset: m.offset,
        topic,
        key: m.key === null ? null : m.key.toString('utf8'),
        headers: headersOf(m),
        timestamp: m.timestamp,
      };
      let res: Row | string;
      if (format === 'json') res = decodeJson(m.value);
      else {
        const d = decodeValue(m.value, format);
        res = 'row' in d ? d.row : d.reason;
      }
      if (typeof res !== 'string') {
        rows.push(res);
        positions.push(position);
      } else {
        (undecodable ??= []).push({ raw: m.value?.toString('utf8') ?? '', ...(m.value ? { bytes: m.value } : {}), reason: `${topic}[${partition}]@${m.offset}: ${res}`, position });
      }
    }
    return batchOf(source, partition, rows, positions, undecodable ?? []);
  }
}
