// From rows to SQL operations: which columns each row writes, which rows delete, and how consecutive rows
// share one multi-row statement. Shared by mysql, postgres and sqlite; no driver here.
import { recordKey } from '../../core/connector.js';
import type { Row } from '../../kernel/types.js';
import type { RejectedRow } from '../../core/storage.js';

/** How rows map onto the table, resolved once at start from the params and the table's columns. */
export interface Mapping {
  /** The connector's key fields, and the columns they are written to (same order). */
  readonly keyFields: readonly string[];
  readonly keyColumns: readonly string[];
  /** [column, field] pairs of an explicit `columns` param (key columns included), or undefined: the row's own fields. */
  readonly explicit: readonly (readonly [string, string])[] | undefined;
  /** Table column by field name, for the default mapping (exact name, else case-insensitive). */
  readonly columnOfField: ReadonlyMap<string, string>;
}

export function resolveMapping(keyFields: readonly string[], columns: Readonly<Record<string, string>> | undefined, tableColumns: readonly string[]): Mapping {
  const columnOfField = new Map<string, string>();
  for (const c of tableColumns) if (!columnOfField.has(c.toLowerCase())) columnOfField.set(c.toLowerCase(), c);
  for (const c of tableColumns) columnOfField.set(c, c);
  if (columns === undefined) {
    return { keyFields, keyColumns: keyFields.map((f) => columnOfField.get(f) ?? columnOfField.get(f.toLowerCase()) ?? f), explicit: undefined, columnOfField };
  }
  const pairs = Object.entries(columns) as [string, string][];
  const keyColumns = keyFields.map((f) => pairs.find(([, field]) => field === f)?.[0] ?? f);
  const explicit: [string, string][] = keyColumns.map((c, i) => [c, keyFields[i]!]);
  for (const [c, f] of pairs) if (!keyColumns.includes(c)) explicit.push([c, f]);
  return { keyFields, keyColumns, explicit, columnOfField };
}

/** One row's operation: an upsert of some columns, or a delete by key. */
export interface RowOp {
  readonly index: number;
  readonly del: boolean;
  readonly cols: readonly string[];
  /** cols joined: rows with the same signature share a statement. */
  readonly sig: string;
  readonly values: readonly unknown[];
  readonly key: string;
}

/** Consecutive ops of one kind and one column set, no key twice (PostgreSQL refuses to upsert a row twice in one statement). */
export interface Statement {
  readonly del: boolean;
  readonly cols: readonly string[];
  readonly ops: readonly RowOp[];
}

export interface PlanOptions {
  readonly deletes: boolean;
  readonly opField: string;
  /** SQLite binds no booleans and no dates. */
  readonly booleansAsInts?: boolean;
}

export function sqlValue(v: unknown, booleansAsInts: boolean): unknown {
  if (v === undefined || v === null) return null;
  switch (typeof v) {
    case 'string': case 'number': case 'bigint': return v;
    case 'boolean': return booleansAsInts ? (v ? 1 : 0) : v;
    default:
      // Dates go to the driver (mysql2 and pg format them; SQLite takes text). Any other object is JSON text:
      // never an object, which mysql2 would expand into `key = value` pairs.
      if (v instanceof Date) return booleansAsInts ? v.toISOString() : v;
      return JSON.stringify(v);
  }
}

interface Shape {
  /** The row's own fields, in order; the fields written and their columns. */
  readonly fields: readonly string[];
  readonly take: readonly string[];
  readonly cols: readonly string[];
  readonly sig: string;
}

function shapeOf(row: Row, m: Mapping): Shape {
  const fields: string[] = [];
  const take: string[] = [];
  const cols: string[] = [];
  for (const f in row) {
    fields.push(f);
    const c = m.columnOfField.get(f) ?? m.columnOfField.get(f.toLowerCase());
    if (c === undefined || cols.includes(c)) continue;
    take.push(f);
    cols.push(c);
  }
  return { fields, take, cols, sig: cols.join('\u0001') };
}

export function planRows(rows: readonly Row[], m: Mapping, opts: PlanOptions): { ops: RowOp[]; rejected: RejectedRow[] } {
  const ops: RowOp[] = [];
  const rejected: RejectedRow[] = [];
  const asInts = opts.booleansAsInts === true;
  const keySig = m.keyColumns.join('\u0001');
  const explicitCols = m.explicit?.map(([c]) => c) ?? [];
  const explicitSig = explicitCols.join('\u0001');
  let shape: Shape | undefined;
  for (let index = 0; index < rows.length; index++) {
    const row = rows[index]!;
    const key = recordKey(row, m.keyFields);
    if (key === undefined) {
      const missing = m.keyFields.filter((f) => row[f] === undefined || row[f] === null);
      rejected.push({ index, code: 'KIS_ERR_ROW_MISSING_FIELD', message: `row lacks key field ${missing.join(', ')}` });
      continue;
    }
    if (opts.deletes && row[opts.opField] === 'd') {
      ops.push({ index, del: true, cols: m.keyColumns, sig: keySig, values: m.keyFields.map((f) => sqlValue(row[f], asInts)), key });
      continue;
    }
    if (m.explicit !== undefined) {
      const values = new Array<unknown>(explicitCols.length);
      for (let i = 0; i < explicitCols.length; i++) values[i] = sqlValue(row[m.explicit[i]![1]], asInts);
      ops.push({ index, del: false, cols: explicitCols, sig: explicitSig, values, key });
      continue;
    }
    // Rows of a batch mostly share one shape: the field list is resolved to columns once per shape, not per row.
    let same = shape !== undefined;
    let n = 0;
    for (const f in row) {
      if (same && shape!.fields[n] !== f) same = false;
      n++;
    }
    if (!same || n !== shape!.fields.length) shape = shapeOf(row, m);
    const values = new Array<unknown>(shape!.take.length);
    for (let i = 0; i < values.length; i++) values[i] = sqlValue(row[shape!.take[i]!], asInts);
    ops.push({ index, del: false, cols: shape!.cols, sig: shape!.sig, values, key });
  }
  return { ops, rejected };
}

export function groupStatements(ops: readonly RowOp[], maxRows: number): Statement[] {
  const out: Statement[] = [];
  let cur: RowOp[] = [];
  let keys = new Set<string>();
  for (const op of ops) {
    const head = cur[0];
    if (head !== undefined && (head.del !== op.del || head.sig !== op.sig || cur.length >= maxRows || keys.has(op.key))) {
      out.push({ del: head.del, cols: head.cols, ops: cur });
      cur = [];
      keys = new Set();
    }
    cur.push(op);
    keys.add(op.key);
  }
  const head = cur[0];
  if (head !== undefined) out.push({ del: head.del, cols: head.cols, ops: cur });
  return out;
}
