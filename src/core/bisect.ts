// When a function call fails after its retries, which of its rows make it fail? The rows are retried in
// halves (one attempt per part) until each failing row stands alone, so only those are dead-lettered and
// the others go on. A failing call may therefore run again on parts of its rows: functions with side
// effects see those rows twice (at least once, as everywhere in the runtime).
import { type KisError, type KisErrorCode } from '../kernel/errors.js';
import { checkRowLimits, type RowLimits } from '../kernel/limits.js';
import { preview } from '../kernel/safe-json.js';
import type { Row } from '../kernel/types.js';

/** Attempts at most, per failing call: enough to isolate a few bad rows in a large batch, never 2n for a broken dependency. */
export const MAX_BISECT_CALLS = 128;

/** Errors that say nothing about a row: the whole dependency is down (retriable and not the function's own). */
const NOT_ROW_SPECIFIC: ReadonlySet<KisErrorCode> = new Set<KisErrorCode>(['KIS_ERR_STATE', 'KIS_ERR_JUMP_LOOP', 'KIS_ERR_JUMP_UNKNOWN']);

export function worthBisecting(error: KisError, rows: number): boolean {
  if (rows < 2 || NOT_ROW_SPECIFIC.has(error.code)) return false;
  // A connector that is unreachable stays so after the retries; a record it refuses (too large, invalid) is
  // one row's. The client says which: its error (the cause) is marked retriable: false (kafkajs does so).
  if (error.code !== 'KIS_ERR_CONNECTOR') return true;
  const cause = error.cause as { retriable?: unknown } | undefined;
  return !error.retriable || cause?.retriable === false;
}

export interface Bisection<C> {
  /** The results of the parts that passed, in input order. */
  readonly passed: C[];
  /** The rows that failed alone (or were left when the attempts ran out), their index in the input, and the error of their last attempt. */
  readonly failed: Array<{ row: Row; index: number; error: KisError }>;
  calls: number;
}

/**
 * Splits the rows in halves, left before right, attempting each part once: a part that passes is kept, one
 * that fails is split again. `attempt` gets the part and the index of its first row in `rows`. Undefined
 * when the error is not worth it (see worthBisecting).
 */
export async function findFailingRows<C>(
  rows: readonly Row[],
  error: KisError,
  attempt: (rows: readonly Row[], start: number) => Promise<C>,
): Promise<Bisection<C> | undefined> {
  if (!worthBisecting(error, rows.length)) return undefined;
  const out: Bisection<C> = { passed: [], failed: [], calls: 0 };
  // Depth first with an explicit stack of [start, end) parts (right half pushed first, so the left one runs first).
  const stack: Array<{ start: number; end: number; error: KisError }> = [];
  const mid = Math.ceil(rows.length / 2);
  stack.push({ start: mid, end: rows.length, error }, { start: 0, end: mid, error });
  while (stack.length > 0) {
    const part = stack.pop()!;
    if (out.calls >= MAX_BISECT_CALLS) {
      for (let i = part.start; i < part.end; i++) out.failed.push({ row: rows[i]!, index: i, error: part.error });
      continue;
    }
    out.calls++;
    try {
      out.passed.push(await attempt(rows.slice(part.start, part.end), part.start));
    } catch (err) {
      const e = err as KisError;
      if (part.end - part.start === 1) out.failed.push({ row: rows[part.start]!, index: part.start, error: e });
      else {
        const m = part.start + Math.ceil((part.end - part.start) / 2);
        stack.push({ start: m, end: part.end, error: e }, { start: part.start, end: m, error: e });
      }
    }
  }
  return out;
}

/** The row itself when it is within the limits; else a described placeholder that any writer can serialise. */
export function boundedRow(row: Row, limits: RowLimits): Row {
  const breach = checkRowLimits(row, limits);
  if (breach === undefined) return row;
  return { kis_placeholder: `${breach.message}; the row is not kept whole`, preview: preview(row, 1024) };
}
