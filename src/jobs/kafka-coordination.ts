// Jobs coordinated through Kafka. Replicas are members of the consumer group <app_id>.jobs over the jobs
// topic; a job belongs to the partition murmur2(job id) % N, and the member assigned that partition owns
// (fires) the job. Each replica tails the trigger log (to know every job's last fired tick), the run log
// (reports) and the commands topic (kill, dispatch) from a private, commit-less consumer.
//
// Fencing a replica that lost a partition but has not noticed yet:
//  1. On REBALANCING it drops every job at once; it fires again only after the next GROUP_JOIN, and then
//     only for partitions whose trigger log it has read to the end (the end as of the join).
//  2. Before each fire (and again after appending the trigger) it checks a lease: the last successful
//     heartbeat is younger than session timeout - 2 heartbeat intervals. The coordinator cannot have given
//     the partition away before the session of this member expired, which is later than the lease.
//  3. The trigger is appended (acks=all) before the run starts, and the run starts only if the claim still
//     holds once the append is acknowledged; the next owner reads the log to its end before firing, so it
//     sees every tick this replica ran. A tick refused that way fires again when this replica takes the
//     partition back in the very next generation (nobody else can have read it).
// Residual risk: a process paused (GC, SIGSTOP, a VM freeze) between the second check and the start of the
// run, for longer than the rest of its lease, can run a tick the next owner fires too; without the second
// check the window would be a whole session timeout. A tick whose append was in flight when its partition
// moved to another replica runs there only if that replica's read did not include it (at most once). Kafka
// transactions (a producer fenced by epoch per partition) would close both and are left for later.
import type { Admin, Consumer, Kafka, Producer } from 'kafkajs';
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { errorMessage } from '../kernel/errors.js';
import { partitionForKey } from '../kernel/partitioner.js';
import { localExecutor, type CoordinationEvents, type JobCoordination } from './coordination.js';
import { parseJson, type Dispatch, type ExecutorInfo, type JobCommand, type RunRecord, type TriggerEntry, type TriggerRequest } from './records.js';
import { jobsAssigner, MEMBERS_PREFIX } from './kafka-group.js';
import { ensureJobTopics, jobTopics, type JobTopics } from './topics.js';

export interface KafkaCoordinationOptions {
  readonly kafka: Kafka;
  readonly appId: string;
  readonly jobIds: readonly string[];
  readonly logger: Logger;
  /** Partitions of the jobs and trigger topics where they can be created (default 6). */
  readonly partitions?: number;
  readonly replicationFactor?: number;
  /** Group session timeout (default 10 s): how long a dead owner holds its jobs. */
  readonly sessionTimeoutMs?: number;
  /** retention.ms of the run log (default 7 days). */
  readonly runLogRetentionMs?: number;
}

const MANUAL_KEY = '\u0000manual';
/** Produce requests in flight at once. */
const MAX_SENDS = 4;

export class KafkaCoordination implements JobCoordination {
  readonly mode = 'kafka' as const;
  readonly executor = localExecutor();
  readonly topics: JobTopics;
  private readonly sessionTimeoutMs: number;
  private readonly heartbeatMs: number;
  private partitions = 0;
  private readonly jobsOf = new Map<number, string[]>();
  private admin: Admin | undefined;
  private producer: Producer | undefined;
  private tail: Consumer | undefined;
  private group: Consumer | undefined;
  private events: CoordinationEvents | undefined;
  private stopping = false;
  private rebalancing = true;
  private generation = 0;
  private lastHeartbeat = 0;
  private readonly owned = new Set<number>();
  /** Partitions owned in the generation before the current rebalance. */
  private ownedBefore = new Set<number>();
  /** Ticks logged but not run (claim lost meanwhile), with the generation they were refused in. */
  private readonly refused = new Map<string, { tick: number; gen: number }>();
  private readonly ready = new Map<number, Promise<boolean>>();
  private members: ExecutorInfo[] = [];
  private readonly lastFired = new Map<string, number>();
  private readonly tailPos = new Map<number, number>();
  private tailWaiters: Array<{ p: number; offset: number; resolve: () => void }> = [];
  private pending: Array<{ topic: string; key: string; value: string; partition?: number; done: (err?: unknown) => void }> = [];
  private flushScheduled = false;
  private sending = 0;
  private readonly inflight = new Set<Promise<unknown>>();
  private memberLoop: Promise<void> | undefined;

  constructor(private readonly opts: KafkaCoordinationOptions) {
    this.topics = jobTopics(opts.appId);
    this.sessionTimeoutMs = opts.sessionTimeoutMs ?? 10_000;
    this.heartbeatMs = Math.max(300, Math.min(3_000, Math.floor(this.sessionTimeoutMs / 5)));
  }

  partitionOf(job: string): number {
    return partitionForKey(job, this.partitions);
  }

  async start(events: CoordinationEvents): Promise<void> {
    this.events = events;
    const { kafka, logger } = this.opts;
    this.admin = kafka.admin();
    await this.admin.connect();
    this.partitions = await ensureJobTopics(this.admin, this.topics, { partitions: this.opts.partitions ?? 6, runLogRetentionMs: this.opts.runLogRetentionMs ?? 7 * 86_400_000, ...(this.opts.replicationFactor ? { replicationFactor: this.opts.replicationFactor } : {}) }, logger);
    for (const id of this.opts.jobIds) {
      const p = this.partitionOf(id);
      (this.jobsOf.get(p) ?? this.jobsOf.set(p, []).get(p)!).push(id);
    }
    this.producer = kafka.producer({ allowAutoTopicCreation: true });
    await this.producer.connect();
    await this.startTail();
    this.memberLoop = this.runMember();
    logger.info({ executor: this.executor.id, group: this.topics.group, partitions: this.partitions }, 'jobs: coordinated through Kafka');
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.loseAll();
    await this.group?.disconnect().catch(() => undefined);
    await this.memberLoop;
    this.flush();
    await Promise.all([...this.inflight]);
    await this.tail?.disconnect().catch(() => undefined);
    await this.producer?.disconnect().catch(() => undefined);
    await this.admin?.disconnect().catch(() => undefined);
    this.events = undefined;
  }

  claim(job: string): number | undefined {
    return this.confirm(job, this.generation) ? this.generation : undefined;
  }

  notRun(job: string, tick: number): void {
    const prev = this.refused.get(job);
    this.refused.set(job, { tick: Math.min(prev?.tick ?? tick, tick), gen: this.generation });
  }

  confirm(job: string, claim: number): boolean {
    return !this.stopping && !this.rebalancing && claim === this.generation && this.owned.has(this.partitionOf(job))
      && Date.now() - this.lastHeartbeat < this.sessionTimeoutMs - 2 * this.heartbeatMs;
  }

  executors(): readonly ExecutorInfo[] {
    return this.members.length > 0 ? this.members : [this.executor];
  }

  appendTrigger(e: TriggerEntry): Promise<void> {
    const key = e.kind === 'manual' || e.kind === 'parent' ? e.job + MANUAL_KEY : e.job;
    return this.send(this.topics.triggers, key, JSON.stringify(e), this.partitionOf(e.job));
  }

  publishRun(rec: RunRecord): Promise<void> {
    return this.send(this.topics.runs, rec.run_id, JSON.stringify(rec));
  }

  dispatch(to: string, d: Dispatch): Promise<void> {
    const cmd: JobCommand = { type: 'dispatch', to, ...d };
    return this.send(this.topics.commands, d.run_id, JSON.stringify(cmd), 0);
  }

  requestTrigger(req: TriggerRequest): Promise<void> {
    return this.send(this.topics.jobs, req.job, JSON.stringify({ type: 'trigger', ...req } satisfies JobCommand), this.partitionOf(req.job));
  }

  requestKill(runId: string): Promise<void> {
    return this.send(this.topics.commands, runId, JSON.stringify({ type: 'kill', run_id: runId, at: Date.now() } satisfies JobCommand), 0);
  }

  /** Records produced together in one request (10,000 ticks at the top of a minute are one send). */
  private send(topic: string, key: string, value: string, partition?: number): Promise<void> {
    const p = new Promise<void>((resolve, reject) => {
      this.pending.push({ topic, key, value, ...(partition !== undefined ? { partition } : {}), done: (err) => (err ? reject(err) : resolve()) });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    });
    const tracked = p.catch(() => undefined).finally(() => this.inflight.delete(tracked));
    this.inflight.add(tracked);
    return p;
  }

  /** Up to MAX_SENDS produce requests in flight; a job's triggers stay in order because each waits for the previous ack. */
  private flush(): void {
    this.flushScheduled = false;
    while (this.producer && this.pending.length > 0 && this.sending < MAX_SENDS) {
      const batch = this.pending.splice(0, 2000);
      const byTopic = new Map<string, Array<{ key: string; value: string; partition?: number }>>();
      for (const m of batch) (byTopic.get(m.topic) ?? byTopic.set(m.topic, []).get(m.topic)!).push({ key: m.key, value: m.value, ...(m.partition !== undefined ? { partition: m.partition } : {}) });
      this.sending++;
      void this.producer.sendBatch({ acks: -1, topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })) })
        .then(() => { for (const m of batch) m.done(); }, (err: unknown) => { for (const m of batch) m.done(err); })
        .finally(() => {
          this.sending--;
          this.flush();
        });
    }
  }

  /** Trigger log and run log from the beginning, commands from now on; nothing committed. */
  private async startTail(): Promise<void> {
    const t = this.topics;
    const tail = this.opts.kafka.consumer({ groupId: `${t.group}.tail.${randomUUID()}`, maxWaitTimeInMs: 100, sessionTimeout: 30_000, allowAutoTopicCreation: true });
    this.tail = tail;
    const joined = new Promise<void>((resolve) => tail.on(tail.events.GROUP_JOIN, () => resolve()));
    await tail.connect();
    await tail.subscribe({ topics: [t.triggers, t.runs], fromBeginning: true });
    await tail.subscribe({ topics: [t.commands], fromBeginning: false });
    await tail.run({
      autoCommit: false,
      partitionsConsumedConcurrently: 4,
      eachBatch: async ({ batch }) => {
        for (const m of batch.messages) {
          const value = m.value?.toString() ?? null;
          if (batch.topic === t.triggers) this.onTrigger(m.key?.toString() ?? '', value);
          else if (batch.topic === t.runs) {
            const rec = parseJson<RunRecord>(value);
            if (rec?.run_id) this.events?.runRecorded(rec);
          } else this.onCommand(parseJson<JobCommand>(value));
        }
        const last = batch.messages[batch.messages.length - 1];
        if (batch.topic === t.triggers && last) this.advanceTail(batch.partition, Number(last.offset) + 1);
      },
    });
    await joined;
  }

  private onTrigger(key: string, value: string | null): void {
    const e = parseJson<TriggerEntry>(value);
    if (!e || key.endsWith(MANUAL_KEY) || !(e.kind === 'cron' || e.kind === 'misfire' || e.kind === 'skipped')) return;
    this.lastFired.set(e.job, Math.max(this.lastFired.get(e.job) ?? e.scheduled_at, e.scheduled_at));
  }

  private onCommand(cmd: JobCommand | undefined): void {
    if (!cmd) return;
    if (cmd.type === 'kill') this.events?.kill(cmd.run_id);
    else if (cmd.type === 'dispatch' && cmd.to === this.executor.id) {
      const { type: _t, to: _to, ...d } = cmd;
      this.events?.dispatched(d);
    }
  }

  private advanceTail(p: number, next: number): void {
    this.tailPos.set(p, Math.max(this.tailPos.get(p) ?? 0, next));
    this.tailWaiters = this.tailWaiters.filter((w) => {
      if (w.p !== p || (this.tailPos.get(p) ?? 0) < w.offset) return true;
      w.resolve();
      return false;
    });
  }

  /** Resolves once the tail has read partition p of the trigger log up to its current end. */
  private async caughtUp(p: number): Promise<void> {
    // Our own appends still in flight (from before a rebalance) must be in the end we wait for.
    await Promise.all([...this.inflight]);
    const ends = await this.admin!.fetchTopicOffsets(this.topics.triggers);
    const end = Number(ends.find((e) => e.partition === p)?.high ?? 0);
    if ((this.tailPos.get(p) ?? 0) >= end || end === 0) return;
    await new Promise<void>((resolve) => this.tailWaiters.push({ p, offset: end, resolve }));
  }

  private loseAll(): void {
    if (this.owned.size > 0) this.ownedBefore = new Set(this.owned);
    const jobs = [...this.owned].flatMap((p) => this.jobsOf.get(p) ?? []);
    this.owned.clear();
    this.ready.clear();
    if (jobs.length > 0) this.events?.lost(jobs);
  }

  /** Group membership, joined again when the consumer dies for good (as the binlog election does). */
  private async runMember(): Promise<void> {
    while (!this.stopping) {
      const crashed = await this.member().catch((err: unknown) => err);
      if (this.stopping) return;
      this.opts.logger.warn({ group: this.topics.group, err: errorMessage(crashed) }, 'jobs: group member ended; joining again');
      this.loseAll();
      this.ownedBefore.clear(); // a new membership: others may have held our partitions meanwhile
      this.rebalancing = true;
      this.generation += 2;
      await new Promise((r) => setTimeout(r, 1_000));
    }
  }

  private async member(): Promise<unknown> {
    const { kafka, logger } = this.opts;
    const t = this.topics;
    const consumer = kafka.consumer({
      groupId: t.group,
      sessionTimeout: this.sessionTimeoutMs,
      rebalanceTimeout: Math.max(30_000, this.sessionTimeoutMs),
      heartbeatInterval: this.heartbeatMs,
      maxWaitTimeInMs: 250,
      allowAutoTopicCreation: true,
      partitionAssigners: [jobsAssigner(this.executor, (m) => {
        // The leader announces the executors, for `kisflow jobs executors` where DescribeGroups is missing.
        void this.send(t.commands, 'members', JSON.stringify({ type: 'members', members: m, at: Date.now() }), 0).catch(() => undefined);
      })],
    });
    this.group = consumer;
    let crashedWith: ((err: unknown) => void) | undefined;
    const crash = new Promise<unknown>((resolve) => { crashedWith = resolve; });
    consumer.on(consumer.events.CRASH, (e) => {
      const { error, restart } = e.payload as { error: Error; restart: boolean };
      if (!restart) crashedWith?.(error);
    });
    consumer.on(consumer.events.STOP, () => crashedWith?.(new Error('stopped')));
    consumer.on(consumer.events.HEARTBEAT, () => { this.lastHeartbeat = Date.now(); });
    consumer.on(consumer.events.RECEIVED_UNSUBSCRIBED_TOPICS, (e) => {
      const topics = (e.payload as { assignedTopics?: string[] }).assignedTopics ?? [];
      const list = topics.find((x) => x.startsWith(MEMBERS_PREFIX));
      const members = list ? parseJson<ExecutorInfo[]>(Buffer.from(list.slice(MEMBERS_PREFIX.length), 'base64url').toString()) : undefined;
      if (members) this.members = members;
    });
    consumer.on(consumer.events.REBALANCING, () => {
      this.rebalancing = true;
      this.generation++;
      this.loseAll();
    });
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      const assignment = (e.payload as { memberAssignment: Record<string, number[]> }).memberAssignment;
      const gen = ++this.generation;
      this.lastHeartbeat = Date.now();
      this.rebalancing = false;
      const mine = assignment[t.jobs] ?? [];
      logger.info({ group: t.group, executor: this.executor.id, partitions: mine }, 'jobs: partitions assigned');
      for (const p of mine) this.ready.set(p, this.take(p, gen));
    });
    await consumer.connect();
    await consumer.subscribe({ topics: [t.jobs], fromBeginning: false });
    await consumer.run({
      autoCommit: true,
      autoCommitInterval: 1_000,
      eachMessage: async ({ partition, message, heartbeat }) => {
        const cmd = parseJson<JobCommand>(message.value);
        if (cmd?.type !== 'trigger') return;
        // A trigger request waits for the trigger log of its partition, so its fence check can pass;
        // the member keeps heartbeating meanwhile (a long log must not cost it the session).
        const beat = setInterval(() => void heartbeat().catch(() => undefined), this.heartbeatMs);
        const ready = await (this.ready.get(partition) ?? Promise.resolve(false)).finally(() => clearInterval(beat));
        if (!ready) return;
        const { type: _t, ...req } = cmd;
        await this.events?.triggerRequested(req);
      },
    });
    return crash.finally(() => consumer.disconnect().catch(() => undefined));
  }

  /** Takes partition p for generation gen: reads its trigger log to the end, then hands its jobs over. */
  private async take(p: number, gen: number): Promise<boolean> {
    try {
      await this.caughtUp(p);
    } catch (err) {
      this.opts.logger.error({ partition: p, err: errorMessage(err) }, 'jobs: cannot read the trigger log; not firing this partition');
      return false;
    }
    if (gen !== this.generation || this.stopping) return false;
    this.owned.add(p);
    const jobs = this.jobsOf.get(p) ?? [];
    const lastFired = new Map<string, number | undefined>();
    for (const id of jobs) {
      let last = this.lastFired.get(id);
      const r = this.refused.get(id);
      this.refused.delete(id);
      // Ours in the generation before and again now: nobody else read that tick, so it is fired again.
      if (r && r.gen >= gen - 1 && this.ownedBefore.has(p) && last !== undefined && r.tick <= last) last = r.tick - 1;
      lastFired.set(id, last);
    }
    this.events?.gained(lastFired);
    return true;
  }
}
