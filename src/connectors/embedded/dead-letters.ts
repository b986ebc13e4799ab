// Dead letters in embedded mode: appended to the flow's dead-letter topic on the embedded log (one
// partition, headers as on Kafka) and logged one line each, so nothing is dropped unseen.
import type { Logger } from 'pino';
import type { EmbeddedLog } from './log.js';
import type { DeadLetter, DeadLetterSink } from '../../core/dead-letter.js';
import { deadLetterHeaders } from '../../kafka/headers.js';

export class EmbeddedDeadLetters implements DeadLetterSink {
  private readonly counts = new Map<string, number>();
  constructor(
    private readonly log: EmbeddedLog,
    private readonly logger: Logger,
    private readonly onWrite?: (letters: readonly DeadLetter[]) => void,
  ) {}

  async write(flow: string, topic: string, letters: readonly DeadLetter[]): Promise<void> {
    this.log.topic(topic, 1).append(letters.map((d) => ({ key: null, value: d.row, headers: deadLetterHeaders(d), partition: 0 })));
    this.counts.set(flow, (this.counts.get(flow) ?? 0) + letters.length);
    this.onWrite?.(letters);
    // One line per function and code in this write (not per row); the topic holds every row and its reason.
    const groups = new Map<string, DeadLetter[]>();
    for (const d of letters) {
      const k = `${d.fn}\u0000${d.code}`;
      const list = groups.get(k);
      if (list) list.push(d);
      else groups.set(k, [d]);
    }
    for (const list of groups.values()) {
      const d = list[0]!;
      this.logger.warn({ flow: d.flow, fn: d.fn, code: d.code, rows: list.length, topic, source: d.position?.source, partition: d.position?.partition, offset: d.position?.offset },
        `${list.length} row${list.length > 1 ? 's' : ''} dead-lettered; first: ${d.message}`);
    }
  }

  count(flow: string): number {
    return this.counts.get(flow) ?? 0;
  }
}
