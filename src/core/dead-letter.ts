// A row the flow could not process, with why and where it came from. Every one reaches a dead-letter sink.
import type { KisErrorCode } from '../kernel/errors.js';
import type { Position, Row } from '../kernel/types.js';

export interface DeadLetter {
  readonly row: Row;
  readonly code: KisErrorCode;
  readonly message: string;
  readonly flow: string;
  /** The fid of the function that rejected or failed it ('' when it failed before any function, e.g. decoding). */
  readonly fn: string;
  readonly position: Position | undefined;
  readonly attempts: number;
  readonly at: string;
  /** A record that never decoded: its original bytes, which a Kafka dead-letter topic gets unchanged (within the row limit). */
  readonly bytes?: Buffer;
}

/** Codes of rows a function or a check rejected (as opposed to rows whose function failed). */
export const REJECTION_CODES: ReadonlySet<KisErrorCode> = new Set<KisErrorCode>([
  'KIS_ERR_ROW_MISSING_FIELD', 'KIS_ERR_ROW_CODEC', 'KIS_ERR_ROW_REJECTED', 'KIS_ERR_ROW_DECODE',
]);

export interface DeadLetterSink {
  /** Resolves when the dead letters are durable (acknowledged by the log they go to). */
  write(flow: string, topic: string, letters: readonly DeadLetter[]): Promise<void>;
}
