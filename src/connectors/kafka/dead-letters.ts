// Dead letters on Kafka: each flow's dead-letter topic, the row as JSON (or the original bytes of a record
// that never decoded) with its reason and source position in headers. Logged as counts (DeadLetterLog).
import type { Logger } from 'pino';
import type { DeadLetter, DeadLetterSink } from '../../core/dead-letter.js';
import type { BatchProducer } from '../../kafka/batch-producer.js';
import { deadLetterHeaders } from '../../kafka/headers.js';
import { errorMessage, KisError } from '../../kernel/errors.js';
import { DEFAULT_ROW_LIMITS } from '../../kernel/limits.js';
import { safeJson, truncateUtf8 } from '../../kernel/safe-json.js';
import { DeadLetterLog } from '../dead-letter-log.js';

export class KafkaDeadLetters implements DeadLetterSink {
  private readonly log: DeadLetterLog;

  constructor(
    private readonly producer: BatchProducer,
    logger: Logger,
    private readonly onWrite?: (letters: readonly DeadLetter[]) => void,
    /** Bytes a dead letter's value may take (the row limit): a larger row travels as a described placeholder. */
    private readonly maxBytes: number = DEFAULT_ROW_LIMITS.maxBytes,
  ) {
    this.log = new DeadLetterLog(logger);
  }

  async write(flow: string, topic: string, letters: readonly DeadLetter[]): Promise<void> {
    if (letters.length === 0) return;
    try {
      await this.producer.send(topic, letters.map((d) => ({
        key: d.position?.key ?? null,
        // A dead letter can always be written: an undecodable record's own bytes when within the budget (what the
        // producer wrote, byte for byte, even when not UTF-8), else its text cut to the budget; any row as safe JSON.
        value: d.bytes !== undefined && d.bytes.length <= this.maxBytes ? d.bytes
          : d.code === 'KIS_ERR_ROW_DECODE' && typeof d.row['raw'] === 'string' ? truncateUtf8(d.row['raw'], this.maxBytes).text : safeJson(d.row, this.maxBytes).text,
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
