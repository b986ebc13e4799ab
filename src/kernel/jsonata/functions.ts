// JSONata built-in functions that the compiled fast path implements, each for the argument types it
// handles exactly (copied from jsonata 2.x's functions.js); any other argument goes to JSONata (DEOPT),
// which then applies its own signature checks and errors.
import { deopt, isFiniteNumber, toBoolean, toStr } from './semantics.js';

/** A function's implementation on evaluated arguments, with the argument counts it may be called with. */
export interface Builtin {
  readonly minArgs: number;
  readonly maxArgs: number;
  /** Called with the evaluated arguments; the missing ones are undefined. */
  readonly impl: (a: unknown, b: unknown, c: unknown) => unknown;
}

const NUMBER_TEXT = /^-?[0-9]+(\.[0-9]+)?([Ee][-+]?[0-9]+)?$/;
// Copied as written in jsonata (the ^ and $ bind to the first and last alternatives only).
const RADIX_TEXT = /^(0[xX][0-9A-Fa-f]+)|(0[oO][0-7]+)|(0[bB][0-1]+)$/;

function str(v: unknown): string | undefined {
  if (v === undefined || typeof v === 'string') return v;
  return deopt();
}

function num(v: unknown): number | undefined {
  if (v === undefined || isFiniteNumber(v)) return v;
  return deopt();
}

function requiredNum(v: unknown): number {
  return isFiniteNumber(v) ? v : deopt();
}

function unary<T>(check: (v: unknown) => T | undefined, f: (v: T) => unknown): Builtin {
  return { minArgs: 1, maxArgs: 1, impl: (a) => { const v = check(a); return v === undefined ? undefined : f(v); } };
}

function codePoints(s: string): string[] {
  return Array.from(s);
}

function round(arg: number, precision: number | undefined): number {
  let x = arg;
  if (precision) {
    const parts = x.toString().split('e');
    x = +(parts[0] + 'e' + (parts[1] ? (+parts[1] + precision) : precision));
  }
  let result = Math.round(x);
  if (Math.abs(result - x) === 0.5 && Math.abs(result % 2) === 1) result = result - 1;
  if (precision) {
    const parts = result.toString().split('e');
    result = +(parts[0] + 'e' + (parts[1] ? (+parts[1] - precision) : -precision));
  }
  return Object.is(result, -0) ? 0 : result;
}

function substring(s: string, startArg: number, length: number | undefined): string {
  const chars = codePoints(s);
  let start = startArg;
  if (chars.length + start < 0) start = 0;
  if (length !== undefined) {
    if (length <= 0) return '';
    const end = start >= 0 ? start + length : chars.length + start + length;
    return chars.slice(start, end).join('');
  }
  return chars.slice(start).join('');
}

function toNumber(v: unknown): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v === 'number') return isFiniteNumber(v) ? v : deopt();
  if (typeof v === 'string') {
    if (NUMBER_TEXT.test(v) && !isNaN(parseFloat(v)) && isFinite(Number(v))) return parseFloat(v);
    if (RADIX_TEXT.test(v)) return Number(v);
    return deopt(); // D3030
  }
  if (v === true) return 1;
  if (v === false) return 0;
  return deopt();
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** $merge: own enumerable keys, later objects win; spread defines properties (a "__proto__" key stays a key, as on JSONata's null-prototype result). */
function merge(arg: unknown): unknown {
  if (arg === undefined) return undefined;
  if (isPlainObject(arg)) return { ...arg };
  if (!Array.isArray(arg)) return deopt();
  let out: Record<string, unknown> = {};
  for (let i = 0; i < arg.length; i++) {
    const o: unknown = arg[i];
    if (!isPlainObject(o)) return deopt();
    out = i === 0 ? { ...o } : { ...out, ...o };
  }
  return out;
}

function sum(arg: unknown): number | undefined {
  if (arg === undefined) return undefined;
  if (!Array.isArray(arg)) return deopt();
  let total = 0;
  for (const v of arg) total += requiredNum(v);
  return total;
}

function count(arg: unknown): number {
  if (arg === undefined) return 0;
  return Array.isArray(arg) ? arg.length : deopt();
}

export const BUILTINS: ReadonlyMap<string, Builtin> = new Map<string, Builtin>([
  ['string', unary((v) => v, toStr)],
  ['number', { minArgs: 1, maxArgs: 1, impl: toNumber }],
  ['boolean', { minArgs: 1, maxArgs: 1, impl: toBoolean }],
  ['not', { minArgs: 1, maxArgs: 1, impl: (a) => { const v = toBoolean(a); return v === undefined ? undefined : !v; } }],
  ['exists', { minArgs: 1, maxArgs: 1, impl: (a) => a !== undefined }],
  ['abs', unary(num, Math.abs)],
  ['floor', unary(num, Math.floor)],
  ['ceil', unary(num, Math.ceil)],
  ['round', { minArgs: 1, maxArgs: 2, impl: (a, b) => { const v = num(a); const p = num(b); return v === undefined ? undefined : round(v, p); } }],
  ['uppercase', unary(str, (s) => s.toUpperCase())],
  ['lowercase', unary(str, (s) => s.toLowerCase())],
  ['length', unary(str, (s) => codePoints(s).length)],
  ['substring', { minArgs: 2, maxArgs: 3, impl: (a, b, c) => { const s = str(a); const start = requiredNum(b); const len = num(c); return s === undefined ? undefined : substring(s, start, len); } }],
  ['contains', { minArgs: 2, maxArgs: 2, impl: (a, b) => { const s = str(a); const t = str(b); return s === undefined || t === undefined ? undefined : s.includes(t); } }],
  ['sum', { minArgs: 1, maxArgs: 1, impl: sum }],
  ['count', { minArgs: 1, maxArgs: 1, impl: count }],
  ['merge', { minArgs: 1, maxArgs: 1, impl: merge }],
]);
