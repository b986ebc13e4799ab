// Produce requests coalesced across callers: what the flows of all partitions send in the same turn of the
// event loop (their Saves, sinks and dead letters) goes out as one sendBatch per acks setting, rather than a
// request per chunk and topic. Each caller still resolves only when its own records are acknowledged, so the
// commit-after-acks rule is unchanged.
import { CompressionTypes, type Message, type Producer } from 'kafkajs';

interface Pending {
  readonly topic: string;
  readonly messages: Message[];
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

/** Records sent together in one request at most (the rest go in the next request of the same flush). */
const MAX_RECORDS_PER_REQUEST = 20_000;

export class BatchProducer {
  private readonly queues = new Map<string, Pending[]>();
  private scheduled = false;

  constructor(private readonly producer: Producer) {}

  /** Resolves when the broker has acknowledged these records (by `acks`). */
  send(topic: string, messages: Message[], acks: -1 | 0 | 1, compression: CompressionTypes = CompressionTypes.None): Promise<void> {
    if (messages.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const key = `${acks}:${compression}`;
      let q = this.queues.get(key);
      if (!q) this.queues.set(key, q = []);
      q.push({ topic, messages, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        // setImmediate, not a microtask: the chunks of other partitions finishing in this turn join in.
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    for (const [key, q] of this.queues) {
      this.queues.delete(key);
      const [acks, compression] = key.split(':').map(Number) as [-1 | 0 | 1, CompressionTypes];
      for (let i = 0; i < q.length;) {
        const group: Pending[] = [];
        let n = 0;
        while (i < q.length && (group.length === 0 || n + q[i]!.messages.length <= MAX_RECORDS_PER_REQUEST)) {
          n += q[i]!.messages.length;
          group.push(q[i++]!);
        }
        void this.sendGroup(group, acks, compression);
      }
    }
  }

  private async sendGroup(group: readonly Pending[], acks: -1 | 0 | 1, compression: CompressionTypes): Promise<void> {
    const byTopic = new Map<string, Message[]>();
    for (const p of group) {
      const list = byTopic.get(p.topic);
      if (list) for (const m of p.messages) list.push(m);
      else byTopic.set(p.topic, p.messages.slice());
    }
    try {
      await this.producer.sendBatch({ acks, compression, topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })) });
      for (const p of group) p.resolve();
    } catch (err) {
      if (group.length === 1) {
        group[0]!.reject(err);
        return;
      }
      // One caller's record (too large, say) must not fail the others it was sent with: each is sent alone again.
      await Promise.all(group.map(async (p) => {
        try {
          await this.producer.sendBatch({ acks, compression, topicMessages: [{ topic: p.topic, messages: p.messages }] });
          p.resolve();
        } catch (alone) {
          p.reject(alone);
        }
      }));
    }
  }
}
