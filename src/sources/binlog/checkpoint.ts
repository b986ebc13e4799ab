// Where a binlog source resumes: the position after the last transaction whose batch was fully processed,
// and, during an initial snapshot, how far the snapshot got. Written only after the hand-off of a batch has
// resolved (everything it produced acknowledged). Kafka mode keeps it in a topic keyed by the source id;
// embedded mode (or checkpoint_file) in a local JSON file, replaced atomically.
import { mkdir, readFile, rename, open } from 'node:fs/promises';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import type { Consumer, Kafka, Producer } from 'kafkajs';
import type { Logger } from 'pino';
import { errorMessage, isKisError, KisError } from '../../kernel/errors.js';
import type { IncrementalProgress } from './incremental.js';

export interface SnapshotProgress {
  /** Every selected table, 'schema.table', in the order they are read. */
  readonly tables: readonly string[];
  /** Tables read completely. */
  readonly done: readonly string[];
  /** The table being read and the key of its last row handed on (null: from its start). */
  readonly table: string | null;
  readonly after: Record<string, unknown> | null;
  /** Rows read by the snapshot so far. */
  readonly rows: number;
  readonly finished: boolean;
}

export interface Checkpoint {
  readonly source: string;
  /** Binlog file and position to resume from (the end of the last processed transaction, or where the snapshot began). */
  readonly file: string;
  readonly pos: number;
  /** The GTID position (MariaDB) or set (MySQL) at that point; '' when unknown. */
  readonly gtid: string;
  /** Commit timestamp of the last processed transaction (ms), 0 when none yet. */
  readonly ts_ms: number;
  readonly updated_at: string;
  readonly snapshot?: SnapshotProgress;
  /** Re-snapshots requested while running (requestSnapshot, the signal table): the first is being read. */
  readonly incremental?: readonly IncrementalProgress[];
  /** Kafka mode: the election term that wrote it (kafka/election.ts); a load takes the last record of the highest epoch. */
  readonly epoch?: number;
}

export interface CheckpointStore {
  /** Where it is kept, for logs and errors. */
  readonly where: string;
  load(): Promise<Checkpoint | undefined>;
  save(cp: Checkpoint): Promise<void>;
  close(): Promise<void>;
  /** Starts reading ahead in the background, so that a later load (a standby taking over) is quick. */
  follow?(): void;
}

/**
 * Fencing at read: a record of an older term never replaces one of a newer term, whatever their order in the
 * log (a deposed reader paused between its lease check and its write lands behind the new term's records).
 * Records without an epoch (embedded mode, older versions) count as epoch 0.
 */
export function supersedes(candidate: { readonly epoch?: number }, current: { readonly epoch?: number } | undefined): boolean {
  return current === undefined || (candidate.epoch ?? 0) >= (current.epoch ?? 0);
}

function parse(text: string, where: string): Checkpoint {
  try {
    const v = JSON.parse(text) as Checkpoint;
    if (typeof v.file !== 'string' || typeof v.pos !== 'number') throw new Error('expected { file, pos, ... }');
    return v;
  } catch (err) {
    throw new KisError('KIS_ERR_SOURCE', `binlog checkpoint in ${where} is not readable: ${errorMessage(err)}`, { cause: err });
  }
}

export class FileCheckpointStore implements CheckpointStore {
  readonly where: string;
  private dirMade = false;
  constructor(private readonly file: string) {
    this.where = `file ${file}`;
  }

  async load(): Promise<Checkpoint | undefined> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new KisError('KIS_ERR_SOURCE', `cannot read the binlog checkpoint ${this.file}: ${errorMessage(err)}`, { cause: err });
    }
    return parse(text, this.where);
  }

  async save(cp: Checkpoint): Promise<void> {
    // Written to a side file, flushed, then renamed over the old one: a crash leaves the old or the new checkpoint, never half of one.
    // The directory once per store, not per write: this runs after every batch.
    if (!this.dirMade) {
      await mkdir(path.dirname(this.file), { recursive: true });
      this.dirMade = true;
    }
    const tmp = `${this.file}.tmp`;
    // One open for the write and the flush (a second open only to fsync cost a round trip per batch).
    // The directory removed while running (a cleanup job) is made again rather than stopping the source.
    const fh = await open(tmp, 'w').catch(async (err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
      await mkdir(path.dirname(this.file), { recursive: true });
      return open(tmp, 'w');
    });
    try {
      await fh.writeFile(JSON.stringify(cp) + '\n');
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, this.file);
  }

  async close(): Promise<void> {}
}

/** How long a load waits to have read the checkpoint topic up to its end. */
const LOAD_TIMEOUT_MS = 60_000;

interface Tail {
  readonly consumer: Consumer;
  /** Per partition, the offset after the last record read. */
  readonly next: Map<number, bigint>;
  /** The checkpoint of this source that wins so far (see supersedes). */
  best: { epoch: number; text: string } | undefined;
  crashed: unknown;
}

function epochOf(text: string): number {
  try {
    const e = (JSON.parse(text) as { epoch?: unknown }).epoch;
    return typeof e === 'number' ? e : 0;
  } catch {
    return 0;
  }
}

/** Checkpoints as records keyed by the source id in a (compacted where the cluster allows) topic; the last record of the key wins. */
export class KafkaCheckpointStore implements CheckpointStore {
  readonly where: string;
  private producer: Producer | undefined;
  private tail: Promise<Tail> | undefined;

  constructor(private readonly kafka: Kafka, private readonly topic: string, private readonly key: string, private readonly logger: Logger) {
    this.where = `topic ${topic} (key ${key})`;
  }

  /** Creates the topic, one partition and compacted, where the cluster allows it; elsewhere auto-creation makes it. */
  async ensureTopic(): Promise<void> {
    const admin = this.kafka.admin();
    try {
      await admin.connect();
      const existing = await admin.listTopics();
      if (!existing.includes(this.topic)) {
        await admin.createTopics({
          waitForLeaders: true,
          topics: [{ topic: this.topic, numPartitions: 1, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] }],
        }).catch((err: unknown) => this.logger.debug({ topic: this.topic, err: errorMessage(err) }, 'binlog checkpoint topic not created (auto-creation will)'));
      }
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }

  follow(): void {
    if (!this.tail) {
      this.tail = this.startTail();
      this.tail.catch(() => undefined);
    }
  }

  /** A consumer of a throw-away group reading the topic from its start for as long as the store is open; nothing is committed. */
  private async startTail(): Promise<Tail> {
    await this.ensureTopic();
    const consumer = this.kafka.consumer({ groupId: `${this.topic}.reader.${process.pid}.${randomUUID()}`, maxWaitTimeInMs: 100 });
    const tail: Tail = { consumer, next: new Map(), best: undefined, crashed: undefined };
    consumer.on(consumer.events.CRASH, (e) => {
      const { error, restart } = e.payload as { error: Error; restart: boolean };
      if (!restart) tail.crashed = error;
    });
    try {
      await consumer.connect();
      await consumer.subscribe({ topics: [this.topic], fromBeginning: true });
      await consumer.run({
        autoCommit: false,
        eachMessage: async ({ partition, message }) => {
          if (message.key?.toString('utf8') === this.key && message.value) {
            const text = message.value.toString('utf8');
            const epoch = epochOf(text);
            if (supersedes({ epoch }, tail.best)) tail.best = { epoch, text };
          }
          tail.next.set(partition, BigInt(message.offset) + 1n);
        },
      });
    } catch (err) {
      await consumer.disconnect().catch(() => undefined);
      throw err;
    }
    return tail;
  }

  async load(): Promise<Checkpoint | undefined> {
    try {
      this.follow();
      const tail = await this.tail!;
      const admin = this.kafka.admin();
      let ends: Array<{ partition: number; high: string; low: string }>;
      try {
        await admin.connect();
        ends = await admin.fetchTopicOffsets(this.topic).catch(() => []);
      } finally {
        await admin.disconnect().catch(() => undefined);
      }
      // Read up to the ends found now: every checkpoint written before this load (a takeover waits for nothing else).
      const deadline = Date.now() + LOAD_TIMEOUT_MS;
      const behind = (): boolean => ends.some((e) => BigInt(e.high) > BigInt(e.low) && (tail.next.get(e.partition) ?? BigInt(e.low)) < BigInt(e.high));
      while (behind()) {
        if (tail.crashed) throw tail.crashed;
        if (Date.now() > deadline) throw new Error(`not read up to the end within ${LOAD_TIMEOUT_MS / 1000} s`);
        await new Promise((r) => setTimeout(r, 10));
      }
      return tail.best === undefined ? undefined : parse(tail.best.text, this.where);
    } catch (err) {
      if (isKisError(err)) throw err;
      await this.stopTail();
      throw new KisError('KIS_ERR_SOURCE', `cannot read the binlog checkpoint from ${this.where}: ${errorMessage(err)}`, { cause: err });
    }
  }

  private async stopTail(): Promise<void> {
    const t = this.tail;
    this.tail = undefined;
    const tail = await t?.catch(() => undefined);
    await tail?.consumer.disconnect().catch(() => undefined);
  }

  async save(cp: Checkpoint): Promise<void> {
    if (!this.producer) {
      const p = this.kafka.producer({ allowAutoTopicCreation: true });
      await p.connect();
      this.producer = p;
    }
    await this.producer.send({ topic: this.topic, acks: -1, messages: [{ key: this.key, value: JSON.stringify(cp) }] });
  }

  async close(): Promise<void> {
    const p = this.producer;
    this.producer = undefined;
    await p?.disconnect().catch(() => undefined);
    await this.stopTail();
  }
}
