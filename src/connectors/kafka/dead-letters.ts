// Dead letters on Kafka: each flow's dead-letter topic, the row as JSON (or the original bytes of a record
// that never decoded) with its reason and source position in headers. Logged as counts (DeadLetterLog).
import type { Logger } from 'pino';
import type { DeadLetter, DeadLetterSink } from '../../core/dead-letter.js';
import type { BatchProducer } from '../../kafka/batch-producer.js';
import { deadLetterHeaders } from '../../kafka/headers.js';
import { errorMessage, KisError } from '../../kernel/errors.js';
import { rowToJson } from '../../kernel/json.js';
import { DeadLetterLog } from '../dead-letter-log.js';

export class KafkaDeadLetters implements DeadLetterSink {
  private readonly log: DeadLetterLog;

  constructor(private readonly producer: BatchProducer, logger: Logger, private readonly onWrite?: (letters: readonly DeadLetter[]) => void) {
    this.log = new DeadLetterLog(logger);
  }

  async write(flow: string, topic: string, letters: readonly DeadLetter[]): Promise<void> {
    if (letters.length === 0) return;
    try {
      await this.producer.send(topic, letters.map((d) => ({
        key: d.position?.key ?? null,
        value: d.code === 'KIS_ERR_ROW_DECODE' && typeof d.row['raw'] === 'string' ? d.row['raw'] : rowToJson(d.row),
        headers: deadLetterHeaders(d),
      })), -1);
    } catch (err) {
      throw new KisError('KIS_ERR_CONNECTOR', `writing ${letters.length} dead letters of flow '${flow}' to ${topic} failed: ${errorMessage(err)}`, { cause: err, retriable: true });
    }
    this.onWrite?.(letters);
    this.log.record(topic, letters);
  }

  /** Logs the counts not logged yet (at close). */
  flushLog(): void {
    this.log.flush();
  }
}
