// JSONata's value rules (jsonata 2.x: fn.boolean, fn.string, isDeepEqual, lookup) for the compiled fast
// path. Wherever JSONata would throw or take a path these helpers do not copy, they throw DEOPT and the
// row is evaluated by JSONata itself, so errors and rare cases are JSONata's own.

/** Thrown (never an Error: no stack to capture) when this row must be evaluated by JSONata. */
export const DEOPT: unique symbol = Symbol('kis.jsonata.deopt');

export type Bindings = Readonly<Record<string, unknown>> | undefined;
/** A compiled expression node: a plain function of the context value and the caller's bindings. */
export type Fn = (input: unknown, bindings: Bindings) => unknown;

export function deopt(): never {
  throw DEOPT;
}

const hasOwn = Object.prototype.hasOwnProperty;

/** A finite number: what JSONata's isNumeric accepts without throwing (NaN is T2001/T2002, ±Infinity D1001). */
export function isFiniteNumber(v: unknown): v is number {
  return typeof v === 'number' && v - v === 0;
}

/** JSONata's isFunction on a value read from data: such values take JSONata's own path. */
function markedFunction(v: object): boolean {
  return (v as { _jsonata_function?: unknown })._jsonata_function === true || (v as { _jsonata_lambda?: unknown })._jsonata_lambda === true;
}

/** One name step on a single (non-array) context value: fn.lookup. Arrays are sequences in JSONata: deopt. */
export function lookup(v: unknown, key: string): unknown {
  if (typeof v !== 'object' || v === null) return undefined;
  if (Array.isArray(v)) deopt();
  if (!hasOwn.call(v, key)) return undefined;
  if (markedFunction(v)) deopt();
  return (v as Record<string, unknown>)[key];
}

/** fn.boolean: the effective boolean value; undefined for undefined. */
export function toBoolean(v: unknown): boolean | undefined {
  switch (typeof v) {
    case 'undefined': return undefined;
    case 'boolean': return v;
    case 'string': return v.length > 0;
    case 'number':
      if (v !== v) return false; // NaN is not numeric: no branch of fn.boolean matches
      if (v - v !== 0) deopt(); // ±Infinity: D1001
      return v !== 0;
    case 'object': {
      if (v === null) return false;
      if (Array.isArray(v)) {
        if (v.length === 0) return false;
        if (v.length === 1) return toBoolean(v[0]);
        let any = false;
        for (const x of v) if (toBoolean(x)) any = true; // every item, as fn.boolean's filter does
        return any;
      }
      if (markedFunction(v)) return false;
      for (const k in v) if (hasOwn.call(v, k)) return true;
      return false;
    }
    default: return deopt();
  }
}

/** boolize: fn.boolean with undefined as false (and/or operands). */
export function toBool(v: unknown): boolean {
  return toBoolean(v) === true;
}

/** fn.string for one defined value; objects, arrays and non-finite numbers go to JSONata. */
export function toStr(v: unknown): string {
  switch (typeof v) {
    case 'string': return v;
    case 'number':
      if (v - v !== 0) return deopt(); // NaN and ±Infinity: D3001
      return String(Number.isInteger(v) ? v : Number(v.toPrecision(15)));
    case 'boolean': return v ? 'true' : 'false';
    case 'object': return v === null ? 'null' : deopt();
    default: return deopt();
  }
}

/** utils.isDeepEqual, as JSONata's = and != use it. */
export function deepEqual(lhs: unknown, rhs: unknown): boolean {
  if (lhs === rhs) return true;
  if (typeof lhs !== 'object' || typeof rhs !== 'object' || lhs === null || rhs === null) return false;
  if (Array.isArray(lhs) && Array.isArray(rhs)) {
    if (lhs.length !== rhs.length) return false;
    for (let i = 0; i < lhs.length; i++) if (!deepEqual(lhs[i], rhs[i])) return false;
    return true;
  }
  const lkeys = Object.getOwnPropertyNames(lhs).sort();
  const rkeys = Object.getOwnPropertyNames(rhs).sort();
  if (lkeys.length !== rkeys.length) return false;
  for (let i = 0; i < lkeys.length; i++) if (lkeys[i] !== rkeys[i]) return false;
  for (const k of lkeys) {
    if (!deepEqual((lhs as Record<string, unknown>)[k], (rhs as Record<string, unknown>)[k])) return false;
  }
  return true;
}

/** Numeric operand check of + - * / %: undefined passes (the result is undefined), a non-finite or non-number goes to JSONata. */
export function numericOperand(v: unknown): void {
  if (v !== undefined && !isFiniteNumber(v)) deopt();
}
