// Dead letters in embedded mode: appended to the flow's dead-letter topic on the embedded log (one
// partition, headers as on Kafka) and logged as counts per function and code (DeadLetterLog).
import type { Logger } from 'pino';
import type { EmbeddedLog } from './log.js';
import type { DeadLetter, DeadLetterSink } from '../../core/dead-letter.js';
import { deadLetterHeaders } from '../../kafka/headers.js';
import { DeadLetterLog } from '../dead-letter-log.js';

export class EmbeddedDeadLetters implements DeadLetterSink {
  private readonly counts = new Map<string, number>();
  private readonly logged: DeadLetterLog;
  constructor(
    private readonly log: EmbeddedLog,
    logger: Logger,
    private readonly onWrite?: (letters: readonly DeadLetter[]) => void,
  ) {
    this.logged = new DeadLetterLog(logger);
  }

  async write(flow: string, topic: string, letters: readonly DeadLetter[]): Promise<void> {
    this.log.topic(topic, 1).append(letters.map((d) => ({ key: null, value: d.row, headers: deadLetterHeaders(d), partition: 0 })));
    this.counts.set(flow, (this.counts.get(flow) ?? 0) + letters.length);
    this.onWrite?.(letters);
    this.logged.record(topic, letters);
  }

  /** Logs the counts not logged yet (at close). */
  flushLog(): void {
    this.logged.flush();
  }

  count(flow: string): number {
    return this.counts.get(flow) ?? 0;
  }
}
