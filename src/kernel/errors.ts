// One error type for the whole project: a stable code, a retriable flag, context, and the cause.
// Classify by `code` (isKisError / hasCode), never by instanceof across package boundaries.

export const ERROR_CODES = {
  KIS_ERR_CONFIG_PARSE: 'A YAML file could not be parsed.',
  KIS_ERR_CONFIG_SCHEMA: 'A document does not match the schema of its kistype (wrong type, missing or unknown key).',
  KIS_ERR_CONFIG_KISTYPE: 'A document has no kistype, or one that is not global, source, flow, func or conn.',
  KIS_ERR_CONFIG_DUPLICATE: 'Two documents of the same kistype declare the same id.',
  KIS_ERR_CONFIG_REFERENCE: 'A document refers to an id that no document declares, or to one of the wrong mode.',
  KIS_ERR_CONFIG_ENV: 'A ${VAR} in a string value names an environment variable that is not set and has no default.',
  KIS_ERR_CONFIG_NO_IMPL: 'A function names an fname that no built-in or function module implements.',
  KIS_ERR_CONFIG_UNSUPPORTED: 'A config value is valid YAML but names something this build cannot run.',
  KIS_ERR_CONFIG_DIR: 'The config directory is missing, unreadable or holds no documents.',
  KIS_ERR_MODULE_LOAD: 'A function module listed in the global document could not be imported or registered.',
  KIS_ERR_POOL_DUPLICATE: 'A function or connector call was registered twice under the same name.',
  KIS_ERR_POOL_INVALID: 'A function was registered without a name or without a handler.',
  KIS_ERR_EXPRESSION: 'A filter/map/template expression failed to compile or to evaluate.',
  KIS_ERR_ROW_MISSING_FIELD: 'A row lacks a field listed in its function\'s source.must.',
  KIS_ERR_ROW_CODEC: 'A row does not match the io-ts codec its function declared.',
  KIS_ERR_ROW_REJECTED: 'A Verify function rejected a row.',
  KIS_ERR_ROW_LIMIT: 'A row is past a bound of limits: in the global document (max_depth, max_bytes, max_keys); it is dead-lettered before any function sees it.',
  KIS_ERR_ROW_DECODE: 'A source record could not be decoded into a row (malformed JSON, for instance).',
  KIS_ERR_FUNCTION_FAILED: 'A function threw after its retries; the rows that fail alone (found by retrying the call in halves) go to the dead-letter sink.',
  KIS_ERR_JUMP_LOOP: 'A flow jumped more often than its jump limit allows in one batch (an endless JumpFunc loop).',
  KIS_ERR_JUMP_UNKNOWN: 'A function asked to jump to a function that is not in its flow.',
  KIS_ERR_CONNECTOR: 'A connector call (save, load) failed.',
  KIS_ERR_SOURCE: 'A source failed to open or to read.',
  KIS_ERR_SINK: 'An Expand sink failed to write.',
  KIS_ERR_BINLOG_ACCESS: 'The binlog source was refused: wrong user or password, or a missing grant (REPLICATION SLAVE, REPLICATION CLIENT / BINLOG MONITOR, SELECT).',
  KIS_ERR_BINLOG_POSITION: 'The server cannot serve the binlog from the checkpointed or configured position (purged files, an impossible position or GTID).',
  KIS_ERR_BINLOG_UNDECODABLE: 'The binlog holds events zongji cannot decode (compressed transactions, partial JSON updates); the source stops rather than skip them.',
  KIS_ERR_JOIN_EXPIRED: 'An inner-join row found no match within its join_window_ms; it goes to the dead-letter sink.',
  KIS_ERR_JOIN_PARTITION: 'A row reached a co-partitioned join on a partition its join key does not hash to: the input topic is not keyed by the join key.',
  KIS_ERR_LOOKUP_MISS: 'An inner lookup join (a Load step on a storage connector) found no stored row under the row\'s key; the row goes to the dead-letter sink (join: left goes on without it).',
  KIS_ERR_STORAGE_REJECTED: 'The storage a Save writes to refused a row (too long, NOT NULL, wrong type, a constraint); the row goes to the dead-letter sink with the database\'s code and message, the rest of its batch is written.',
  KIS_ERR_STORAGE_SCHEMA: 'A storage connector\'s target does not fit its config: a missing table or column, or key columns without a primary or unique key.',
  KIS_ERR_STORAGE_UNAVAILABLE: 'A storage connector cannot reach its server (refused, lost, restarted, timed out); retriable, nothing of the batch was written.',
  KIS_ERR_STATE: 'Keyed state could not be restored from or written to its changelog, or a function used state it did not declare.',
  KIS_ERR_USAGE: 'The command line is wrong.',
  KIS_ERR_JOB_CRON: 'A job\'s cron expression or time zone is invalid; the message names the field and why.',
  KIS_ERR_JOB_CYCLE: 'The children of jobs form a cycle (a job would trigger itself).',
  KIS_ERR_JOB_HANDLER: 'A job handler was registered twice, without a name or function, or a job names one that is not registered.',
  KIS_ERR_JOB_RUN: 'A job run failed, timed out or was killed; the run record carries the status and the error.',
  KIS_ERR_REPAIR_REQUEST: 'A repair request names something that cannot be repaired: an unknown flow or source, a table the source does not follow, a time in the future, a flow without a Kafka input.',
  KIS_ERR_REPAIR: 'A repair operation (dead-letter replay, rewind, trace, re-snapshot) failed while it ran; what was done so far is recorded and it can be run again.',
} as const;

export type KisErrorCode = keyof typeof ERROR_CODES;

export interface KisErrorContext {
  file?: string;
  doc?: number;
  path?: string;
  line?: number;
  col?: number;
  flow?: string;
  fn?: string;
  source?: string;
  topic?: string;
  partition?: number;
  offset?: string;
  attempts?: number;
  [key: string]: string | number | boolean | undefined;
}

export interface KisErrorOptions {
  cause?: unknown;
  retriable?: boolean;
  context?: KisErrorContext;
}

export class KisError extends Error {
  readonly code: KisErrorCode;
  readonly retriable: boolean;
  readonly context: KisErrorContext;

  constructor(code: KisErrorCode, message: string, opts: KisErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'KisError';
    this.code = code;
    this.retriable = opts.retriable ?? false;
    this.context = opts.context ?? {};
  }
}

export function isKisError(err: unknown): err is KisError {
  return typeof err === 'object' && err !== null && typeof (err as { code?: unknown }).code === 'string'
    && (err as { code: string }).code.startsWith('KIS_ERR_') && err instanceof Error;
}

export function hasCode(err: unknown, code: KisErrorCode): boolean {
  return isKisError(err) && err.code === code;
}

/** An error thrown by user code is retriable unless it says otherwise (`retriable: false`). */
export function isRetriable(err: unknown): boolean {
  if (typeof err === 'object' && err !== null && 'retriable' in err) {
    return (err as { retriable: unknown }).retriable !== false;
  }
  return true;
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Several config errors reported at once, so a user fixes everything in one pass. */
export class KisConfigErrors extends Error {
  readonly errors: readonly KisError[];
  constructor(errors: readonly KisError[]) {
    super(`${errors.length} config error${errors.length === 1 ? '' : 's'}:\n` + errors.map((e) => '  - ' + e.message).join('\n'));
    this.name = 'KisConfigErrors';
    this.errors = errors;
  }
}
