// One binlog reader per source across replicas, elected through Kafka: every replica joins the consumer
// group <app_id>.<sid>.leader over a one-partition topic of the same name, and the member that is assigned
// partition 0 reads. When a rebalance begins, the reader stops (it finishes the batch in flight and
// checkpoints it); when the leader dies, the group gives partition 0 to another member after the session
// timeout, and that member resumes from the checkpoint.
import { AssignerProtocol, type Consumer, type Kafka, type PartitionAssigner } from 'kafkajs';
import type { Logger } from 'pino';
import { errorMessage, KisError } from '../kernel/errors.js';

export interface ElectionOptions {
  readonly source: string;
  readonly kafka: Kafka;
  readonly groupId: string;
  readonly topic: string;
  readonly logger: Logger;
  readonly sessionTimeoutMs: number;
  readonly onChange?: (leader: boolean) => void;
}

/**
 * Partition 0 goes to the member that held it in the last generation (so a replica joining does not move
 * the reader), else to the first member by id; the other partitions (if any) round-robin. Every member gets
 * an assignment, possibly empty: kafkajs' round-robin assigner leaves empty ones out, and the librdkafka mock
 * then holds the SyncGroup until the rebalance times out.
 */
export function electionAssigner(wasLeader: () => boolean): PartitionAssigner {
  return ({ cluster }) => ({
    name: 'KisBinlogElection',
    version: 1,
    async assign({ members, topics }) {
      const ids = members.map((m) => m.memberId).sort();
      const holder = members.find((m) => AssignerProtocol.MemberMetadata.decode(m.memberMetadata)?.userData.toString() === 'leader')?.memberId;
      const order = holder ? [holder, ...ids.filter((id) => id !== holder)] : ids;
      const plan = new Map<string, Record<string, number[]>>(order.map((id) => [id, {}]));
      let i = 0;
      for (const topic of topics) {
        for (const p of cluster.findTopicPartitionMetadata(topic).map((x) => x.partitionId).sort((a, b) => a - b)) {
          const owner = order[p === 0 ? 0 : i++ % order.length]!;
          (plan.get(owner)![topic] ??= []).push(p);
        }
      }
      return order.map((memberId) => ({
        memberId,
        memberAssignment: AssignerProtocol.MemberAssignment.encode({ version: 1, assignment: plan.get(memberId)!, userData: Buffer.alloc(0) }),
      }));
    },
    protocol({ topics }) {
      return { name: 'KisBinlogElection', metadata: AssignerProtocol.MemberMetadata.encode({ version: 1, topics, userData: Buffer.from(wasLeader() ? 'leader' : '') }) };
    },
  });
}

/** Runs `lead` while this replica holds partition 0 of the election topic; a lead that fails fails the election. */
export class LeaderElection {
  private consumer: Consumer | undefined;
  private leading: { abort: AbortController; done: Promise<void> } | undefined;
  private chain: Promise<void> = Promise.resolve();
  private joined = false;
  private heldLastGeneration = false;
  private failure: ((err: unknown) => void) | undefined;

  constructor(private readonly opts: ElectionOptions) {}

  get isLeader(): boolean {
    return this.leading !== undefined;
  }

  get hasJoined(): boolean {
    return this.joined;
  }

  async run(lead: (signal: AbortSignal) => Promise<void>, signal: AbortSignal): Promise<void> {
    const failed = new Promise<never>((_, reject) => {
      this.failure = reject;
    });
    failed.catch(() => undefined);
    const stopped = new Promise<void>((resolve) => {
      if (signal.aborted) resolve();
      else signal.addEventListener('abort', () => resolve(), { once: true });
    });
    try {
      while (!signal.aborted) {
        const crashed = await this.member(lead, signal, failed, stopped);
        if (!crashed) break;
        // The consumer died for good (the librdkafka mock answers some SyncGroups with INVALID_REQUEST): join again.
        this.opts.logger.warn({ source: this.opts.source, group: this.opts.groupId, err: errorMessage(crashed) }, 'binlog election: group member crashed; joining again');
        await new Promise((r) => setTimeout(r, 1_000));
      }
    } finally {
      await this.stopLeading();
    }
  }

  /** One group membership; resolves with the crash that ended it, or undefined when the source stops. */
  private async member(lead: (signal: AbortSignal) => Promise<void>, signal: AbortSignal, failed: Promise<never>, stopped: Promise<void>): Promise<unknown> {
    const { kafka, groupId, topic, logger, source } = this.opts;
    const consumer = kafka.consumer({
      groupId,
      sessionTimeout: this.opts.sessionTimeoutMs,
      rebalanceTimeout: Math.max(60_000, this.opts.sessionTimeoutMs),
      heartbeatInterval: Math.max(500, Math.min(3_000, Math.floor(this.opts.sessionTimeoutMs / 5))),
      allowAutoTopicCreation: true,
      maxWaitTimeInMs: 500,
      partitionAssigners: [electionAssigner(() => this.heldLastGeneration)],
    });
    this.consumer = consumer;
    let crashedWith: ((err: unknown) => void) | undefined;
    const crash = new Promise<unknown>((resolve) => { crashedWith = resolve; });
    consumer.on(consumer.events.CRASH, (e) => {
      const { error, restart } = e.payload as { error: Error; restart: boolean };
      if (!restart) crashedWith?.(error);
    });
    consumer.on(consumer.events.REBALANCING, () => {
      // Stop reading before the partition may move: the next owner starts from our last checkpoint.
      if (this.leading) logger.info({ source, group: groupId }, 'binlog election: rebalance; the reader stops');
      void this.stopLeading();
    });
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      this.joined = true;
      const assignment = (e.payload as { memberAssignment: Record<string, number[]> }).memberAssignment;
      const mine = (assignment[topic] ?? []).includes(0);
      this.heldLastGeneration = mine;
      logger.info({ source, group: groupId, leader: mine }, mine ? 'binlog election: this replica reads the binlog' : 'binlog election: another replica reads the binlog');
      if (mine) this.startLeading(lead);
      else void this.stopLeading();
    });
    try {
      await this.ensureTopic();
      await consumer.connect();
      await consumer.subscribe({ topics: [topic], fromBeginning: false });
      await consumer.run({ autoCommit: true, eachMessage: async () => undefined });
    } catch (err) {
      await consumer.disconnect().catch(() => undefined);
      throw new KisError('KIS_ERR_SOURCE', `source '${source}': cannot join the binlog election group ${groupId} on ${topic}: ${errorMessage(err)}`, { cause: err });
    }
    try {
      return await Promise.race([stopped.then(() => undefined), crash, failed]);
    } finally {
      await this.stopLeading();
      await consumer.disconnect().catch(() => undefined);
      this.consumer = undefined;
      this.joined = false;
      void signal;
    }
  }

  /** One partition where the cluster lets us create topics; elsewhere auto-creation (any count works: only partition 0 elects). */
  private async ensureTopic(): Promise<void> {
    const admin = this.opts.kafka.admin();
    try {
      await admin.connect();
      if (!(await admin.listTopics()).includes(this.opts.topic)) {
        await admin.createTopics({ waitForLeaders: true, topics: [{ topic: this.opts.topic, numPartitions: 1 }] })
          .catch((err: unknown) => this.opts.logger.debug({ topic: this.opts.topic, err: errorMessage(err) }, 'binlog election topic not created (auto-creation will)'));
      }
    } catch (err) {
      this.opts.logger.debug({ topic: this.opts.topic, err: errorMessage(err) }, 'binlog election topic not checked');
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }

  private startLeading(lead: (signal: AbortSignal) => Promise<void>): void {
    if (this.leading) return;
    const abort = new AbortController();
    // A new term starts only after the previous one has fully stopped (its last checkpoint written).
    const done = this.chain.then(async () => {
      if (abort.signal.aborted) return;
      this.opts.onChange?.(true);
      try {
        await lead(abort.signal);
      } catch (err) {
        this.failure?.(err);
      } finally {
        this.opts.onChange?.(false);
      }
    });
    this.leading = { abort, done };
    this.chain = done;
  }

  private async stopLeading(): Promise<void> {
    const l = this.leading;
    if (!l) return;
    this.leading = undefined;
    l.abort.abort();
    await l.done;
  }
}
