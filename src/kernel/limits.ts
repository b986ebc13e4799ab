// Bounds on what one row may cost (nesting depth, JSON size, keys), checked by an iterative walk so that
// a hostile row (100,000 levels deep) cannot overflow the stack of the code that checks it.

export interface RowLimits {
  /** Nesting of objects and lists at most (the row itself is depth 1). */
  readonly maxDepth: number;
  /** Length of the row's JSON text in bytes (UTF-8) at most. */
  readonly maxBytes: number;
  /** Object keys at all levels together at most. */
  readonly maxKeys: number;
}

export const DEFAULT_ROW_LIMITS: RowLimits = Object.freeze({ maxDepth: 64, maxBytes: 1024 * 1024, maxKeys: 10_000 });

/** The bound a row is past, with the YAML name of the setting, or undefined when it is within all of them. */
export interface LimitBreach {
  readonly limit: 'max_depth' | 'max_bytes' | 'max_keys';
  readonly max: number;
  readonly message: string;
}

interface Measure { depthOk: boolean; keys: number; low: number; high: number; exotic: boolean }

/**
 * Walks the value without recursion, stopping at maxDepth + 1 (so a cycle stops there too). `low` and `high`
 * bound the JSON size from below and above (a UTF-16 unit is 1 to 3 UTF-8 bytes, an escape up to 6);
 * only a row between them is serialised to measure it exactly.
 */
function measure(value: unknown, limits: RowLimits): Measure {
  const m: Measure = { depthOk: true, keys: 0, low: 0, high: 0, exotic: false };
  const stack: unknown[] = [value];
  const depths: number[] = [1];
  while (stack.length > 0) {
    const v = stack.pop();
    const depth = depths.pop()!;
    switch (typeof v) {
      case 'string': m.low += v.length + 2; m.high += v.length * 6 + 2; continue;
      case 'number': m.low += 1; m.high += 24; continue; // no number's JSON is longer than 24 characters
      case 'boolean': m.low += 4; m.high += 5; continue;
      case 'bigint': m.exotic = true; m.low += 3; m.high += 64; continue;
      case 'object': break;
      default: m.low += 4; m.high += 4; continue; // undefined, functions, symbols: left out or null
    }
    if (v === null) { m.low += 4; m.high += 4; continue; }
    if (depth > limits.maxDepth) { m.depthOk = false; return m; }
    if (ArrayBuffer.isView(v) || v instanceof Date) {
      // Serialised through toJSON: a Buffer as {"type":"Buffer","data":[...]} (up to 4 bytes per byte).
      m.exotic = true;
      const n = ArrayBuffer.isView(v) ? v.byteLength : 0;
      m.low += n * 2 + 2; m.high += n * 4 + 64;
      continue;
    }
    if (Array.isArray(v)) {
      m.low += 1 + v.length; m.high += 2 + v.length;
      for (let i = v.length - 1; i >= 0; i--) { stack.push(v[i]); depths.push(depth + 1); }
    } else {
      const keys = Object.keys(v);
      m.keys += keys.length;
      if (m.keys > limits.maxKeys) return m;
      m.low += 1 + keys.length; m.high += 2 + keys.length;
      for (const k of keys) {
        m.low += k.length + 3; m.high += k.length * 6 + 3;
        stack.push((v as Record<string, unknown>)[k]);
        depths.push(depth + 1);
      }
    }
    if (m.low > limits.maxBytes) return m;
  }
  return m;
}

/** What measureFlat found: the last flat row's figures (module scope, so the walk of every row allocates nothing). */
const flat = { keys: 0, low: 0, high: 0 };

/** Counts of the walk in progress (module scope: measureFlat runs for every row and allocates nothing). */
let chars = 0;
let strings = 0;
let numbers = 0;
let others = 0;

/** Counts one scalar; false for anything else. */
function scalar(v: unknown): boolean {
  if (typeof v === 'string') { chars += v.length; strings++; }
  else if (typeof v === 'number') numbers++;
  else if (v === null || typeof v === 'boolean' || v === undefined) others++;
  else return false;
  return true;
}

const plainObject = (v: unknown): v is object => typeof v === 'object' && v !== null && !Array.isArray(v) && !ArrayBuffer.isView(v) && !(v instanceof Date);

/**
 * The common rows in one loop that allocates nothing (it runs for every row): a mapping of scalars, or (when
 * max_depth allows two levels) one whose values are scalars or mappings of scalars, as a change row of the
 * binlog is (before, after, position). False for anything else. The figures go to `flat`. for-in: rows are
 * plain objects, whose enumerable keys are their own.
 */
function measureFlat(row: object, limits: RowLimits): boolean {
  if (!plainObject(row)) return false;
  chars = 0;
  strings = 0;
  numbers = 0;
  others = 0;
  let top = 0;
  let keys = 0;
  // "key": and a comma per key, and the braces, per mapping.
  let fixed = 0;
  let inner = 0;
  for (const k in row) {
    const v = (row as Record<string, unknown>)[k];
    top++;
    keys++;
    chars += k.length;
    if (scalar(v)) continue;
    if (limits.maxDepth < 2 || !plainObject(v)) return false;
    for (const k2 in v) {
      inner++;
      chars += k2.length;
      if (!scalar((v as Record<string, unknown>)[k2])) return false;
    }
    fixed += Math.max(2, 1 + inner * 4);
    keys += inner;
    inner = 0;
  }
  // Quotes per string; a UTF-16 unit is 1 to 6 bytes of JSON, a number 1 to 24.
  fixed += Math.max(2, 1 + top * 4) + strings * 2;
  flat.keys = keys;
  flat.low = fixed + chars + numbers + others * 4;
  flat.high = fixed + chars * 6 + numbers * 24 + others * 5;
  return true;
}

/** Which bound (if any) the row is past. Costs one walk of the row; rows near max_bytes are serialised once. */
export function checkRowLimits(row: unknown, limits: RowLimits): LimitBreach | undefined {
  let m: Measure;
  if (typeof row === 'object' && row !== null && measureFlat(row, limits)) {
    // The usual answer, with nothing allocated: a flat row well within every bound.
    if (flat.keys <= limits.maxKeys && flat.high <= limits.maxBytes) return undefined;
    m = { depthOk: true, keys: flat.keys, low: flat.low, high: flat.high, exotic: false };
  } else {
    m = measure(row, limits);
  }
  if (m.keys > limits.maxKeys) return { limit: 'max_keys', max: limits.maxKeys, message: `row has more than limits.max_keys (${limits.maxKeys}) keys in all` };
  if (!m.depthOk) {
    return { limit: 'max_depth', max: limits.maxDepth, message: `row is nested deeper than limits.max_depth (${limits.maxDepth} levels)` };
  }
  const exact = m.low <= limits.maxBytes && (m.high > limits.maxBytes || m.exotic);
  const bytes = exact ? jsonBytes(row) : m.low;
  if (bytes > limits.maxBytes) {
    const size = exact && Number.isFinite(bytes) ? `is ${bytes} bytes` : `is more than ${limits.maxBytes} bytes`;
    return { limit: 'max_bytes', max: limits.maxBytes, message: `row's JSON ${size}, past limits.max_bytes (${limits.maxBytes})` };
  }
  return undefined;
}

function jsonBytes(row: unknown): number {
  try {
    return Buffer.byteLength(JSON.stringify(row, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) ?? '', 'utf8');
  } catch {
    return Infinity; // a cycle: it has no JSON at all
  }
}
