// One write() = one transaction: the rows' upserts and deletes, then the batch's greatest positions.
// Happy path: BEGIN, the statements, the positions upsert, COMMIT; no savepoint, no query per row.
// When the database refuses a row (a data or constraint error), the transaction is rolled back and done
// again with savepoints, bisecting: each half is tried, a failing half is split, down to single rows, which
// are returned as rejected with the database's code; everything else of the batch commits with the positions.
// Connection errors abort: nothing of the batch is committed, and a retriable KisError is thrown.
import { errorMessage, KisError } from '../../kernel/errors.js';
import type { RejectedRow } from '../../core/storage.js';
import { groupStatements, type RowOp, type Statement } from './plan.js';
import type { PartitionPosition } from './positions.js';

/** What a driver says about one of its errors. */
export interface SqlErrorKind {
  /** data: this row's values (too long, NOT NULL, type, constraint); unavailable: connection or server; other: a bug or a grant. */
  readonly kind: 'data' | 'unavailable' | 'other';
  readonly code: string;
}

/** A transaction on one connection, as the shared write needs it. */
export interface SqlTx {
  begin(): Promise<void>;
  commit(): Promise<void>;
  rollback(): Promise<void>;
  savepoint(name: string): Promise<void>;
  rollbackTo(name: string): Promise<void>;
  release(name: string): Promise<void>;
  run(stmt: Statement): Promise<void>;
  writePositions(positions: readonly PartitionPosition[]): Promise<void>;
  /**
   * The whole happy path in one round trip, when the driver can (MySQL multi-statements): BEGIN, the
   * statements, the positions, COMMIT. The server stops at the first failing statement, so COMMIT never
   * runs after an error; the caller then rolls back.
   */
  oneTrip?(stmts: readonly Statement[], positions: readonly PartitionPosition[]): Promise<void>;
}

export interface WriteContext {
  readonly cid: string;
  readonly table: string;
  readonly maxRows: number;
  classify(err: unknown): SqlErrorKind;
}

export function failure(ctx: WriteContext, err: unknown, what: string): KisError {
  const k = ctx.classify(err);
  if (k.kind === 'unavailable') {
    return new KisError('KIS_ERR_STORAGE_UNAVAILABLE', `connector '${ctx.cid}': ${what} on table ${ctx.table}: server unavailable (${k.code}: ${errorMessage(err)}); nothing of the batch was committed`, { cause: err, retriable: true, context: { connector: ctx.cid, table: ctx.table } });
  }
  return new KisError('KIS_ERR_CONNECTOR', `connector '${ctx.cid}': ${what} on table ${ctx.table} failed (${k.code}: ${errorMessage(err)})`, { cause: err, retriable: false, context: { connector: ctx.cid, table: ctx.table } });
}

async function runAll(tx: SqlTx, ops: readonly RowOp[], maxRows: number): Promise<void> {
  for (const stmt of groupStatements(ops, maxRows)) await tx.run(stmt);
}

async function quietly(f: () => Promise<void>): Promise<void> {
  try { await f(); } catch { /* the connection may be gone: the caller reports the first error */ }
}

/** Runs the ops and the positions in one transaction; returns the rows the database refused. */
export async function writeInTransaction(tx: SqlTx, ctx: WriteContext, ops: readonly RowOp[], positions: readonly PartitionPosition[]): Promise<RejectedRow[]> {
  try {
    if (tx.oneTrip !== undefined) {
      await tx.oneTrip(groupStatements(ops, ctx.maxRows), positions);
      return [];
    }
    await tx.begin();
    await runAll(tx, ops, ctx.maxRows);
    await tx.writePositions(positions);
    await tx.commit();
    return [];
  } catch (err) {
    await quietly(() => tx.rollback());
    if (ctx.classify(err).kind !== 'data') throw failure(ctx, err, `writing ${ops.length} rows`);
  }
  const rejected: RejectedRow[] = [];
  const attempt = async (slice: readonly RowOp[], depth: number): Promise<void> => {
    const sp = `kis_sp_${depth}`;
    await tx.savepoint(sp);
    try {
      await runAll(tx, slice, ctx.maxRows);
      await tx.release(sp);
      return;
    } catch (err) {
      const k = ctx.classify(err);
      if (k.kind !== 'data') throw err;
      await tx.rollbackTo(sp);
      if (slice.length === 1) {
        rejected.push({ index: slice[0]!.index, code: k.code, message: errorMessage(err) });
        return;
      }
    }
    const mid = slice.length >> 1;
    await attempt(slice.slice(0, mid), depth + 1);
    await attempt(slice.slice(mid), depth + 1);
  };
  try {
    await tx.begin();
    if (ops.length === 1) await attempt(ops, 0);
    else {
      const mid = ops.length >> 1;
      await attempt(ops.slice(0, mid), 0);
      await attempt(ops.slice(mid), 0);
    }
    await tx.writePositions(positions);
    await tx.commit();
  } catch (err) {
    await quietly(() => tx.rollback());
    throw failure(ctx, err, `writing ${ops.length} rows (bisecting refused rows)`);
  }
  return rejected.sort((a, b) => a.index - b.index);
}
