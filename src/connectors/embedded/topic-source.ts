// Feeds a flow that starts with a Load step and has no source of its own: it reads the connector's
// topic on the embedded log, every partition in order, from the start.
import type { Position, Row } from '../../kernel/types.js';
import { batchOf, type BatchHandler, type Source } from '../../core/source.js';
import type { EmbeddedTopic, TopicReader } from './log.js';

export class EmbeddedTopicSource implements Source {
  readonly finite = false;
  private readonly reader: TopicReader;
  private readonly wakers = new Set<() => void>();
  private busy = 0;

  constructor(readonly id: string, private readonly topic: EmbeddedTopic, private readonly batchSize = 500) {
    this.reader = topic.addReader();
    topic.onAppend(() => this.wake());
  }

  /** Every record appended so far has been handed on and processed. */
  caughtUp(): boolean {
    return this.busy === 0 && this.reader.offsets.every((o, p) => o >= this.topic.endOffset(p));
  }

  async run(handle: BatchHandler, signal: AbortSignal): Promise<void> {
    const onAbort = (): void => this.wake();
    signal.addEventListener('abort', onAbort);
    try {
      await Promise.all(this.reader.offsets.map((_, p) => this.loop(p, handle, signal)));
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  private async loop(partition: number, handle: BatchHandler, signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      const records = this.topic.read(partition, this.reader.offsets[partition]!, this.batchSize);
      if (records.length === 0) {
        await new Promise<void>((resolve) => {
          const w = (): void => { this.wakers.delete(w); resolve(); };
          this.wakers.add(w);
        });
        continue;
      }
      const rows: Row[] = records.map((r) => r.value);
      const positions: Position[] = records.map((r) => ({ source: this.id, partition, offset: String(r.offset) }));
      this.busy++;
      try {
        await handle(batchOf(this.id, partition, rows, positions));
        this.reader.offsets[partition] = records[records.length - 1]!.offset + 1;
        this.topic.trim(partition);
      } finally {
        this.busy--;
      }
    }
  }

  private wake(): void {
    for (const w of [...this.wakers]) w();
  }
}
