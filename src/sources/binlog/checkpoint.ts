// Where a binlog source resumes: the position after the last transaction whose batch was fully processed,
// and, during an initial snapshot, how far the snapshot got. Written only after the hand-off of a batch has
// resolved (everything it produced acknowledged). Kafka mode keeps it in a topic keyed by the source id;
// embedded mode (or checkpoint_file) in a local JSON file, replaced atomically.
import { mkdir, readFile, rename, open } from 'node:fs/promises';
import path from 'node:path';
import type { Kafka, Producer } from 'kafkajs';
import type { Logger } from 'pino';
import { errorMessage, KisError } from '../../kernel/errors.js';
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
}

export interface CheckpointStore {
  /** Where it is kept, for logs and errors. */
  readonly where: string;
  load(): Promise<Checkpoint | undefined>;
  save(cp: Checkpoint): Promise<void>;
  close(): Promise<void>;
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

/** Checkpoints as records keyed by the source id in a (compacted where the cluster allows) topic; the last record of the key wins. */
export class KafkaCheckpointStore implements CheckpointStore {
  readonly where: string;
  private producer: Producer | undefined;

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

  async load(): Promise<Checkpoint | undefined> {
    await this.ensureTopic();
    const admin = this.kafka.admin();
    let ends: Array<{ partition: number; high: string; low: string }>;
    try {
      await admin.connect();
      ends = await admin.fetchTopicOffsets(this.topic).catch(() => []);
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
    const pending = new Map(ends.filter((e) => BigInt(e.high) > BigInt(e.low)).map((e) => [e.partition, BigInt(e.high) - 1n]));
    if (pending.size === 0) return undefined;
    // A throw-away group that reads the topic from the start up to the ends found above; nothing is committed.
    const consumer = this.kafka.consumer({ groupId: `${this.topic}.reader.${process.pid}.${Date.now()}`, maxWaitTimeInMs: 100 });
    let last: string | undefined;
    try {
      await consumer.connect();
      await consumer.subscribe({ topics: [this.topic], fromBeginning: true });
      await new Promise<void>((resolve, reject) => {
        consumer.run({
          autoCommit: false,
          eachMessage: async ({ partition, message }) => {
            if (message.key?.toString('utf8') === this.key && message.value) last = message.value.toString('utf8');
            const end = pending.get(partition);
            if (end !== undefined && BigInt(message.offset) >= end) pending.delete(partition);
            if (pending.size === 0) resolve();
          },
        }).catch(reject);
      });
    } catch (err) {
      throw new KisError('KIS_ERR_SOURCE', `cannot read the binlog checkpoint from ${this.where}: ${errorMessage(err)}`, { cause: err });
    } finally {
      await consumer.disconnect().catch(() => undefined);
    }
    return last === undefined ? undefined : parse(last, this.where);
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
  }
}
