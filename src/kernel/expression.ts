// Safe expressions for YAML (filter, map, generator templates): JSONata, never JavaScript eval.
// Compiled once when a flow is built; a syntax error stops start-up with the expression and position.
// Expressions that ./jsonata/ can compile run as plain functions, synchronously; a row they cannot decide
// exactly (and every other expression) is evaluated by JSONata itself.
import jsonata from 'jsonata';
import { errorMessage, KisError } from './errors.js';
import { compileJsonata } from './jsonata/index.js';

/** What evaluateSync returns when the row needs JSONata's own (asynchronous) evaluation: call evaluate. */
export const NEEDS_ASYNC: unique symbol = Symbol('kis.expression.needs-async');

export interface CompiledExpression {
  readonly text: string;
  /** Whether the expression runs as plain functions (JSONata is then only asked about rare rows). */
  readonly compiled: boolean;
  /** The value without a promise when the compiled path gives it; NEEDS_ASYNC otherwise (never throws). */
  evaluateSync(input: unknown, bindings?: Record<string, unknown>): unknown;
  evaluate(input: unknown, bindings?: Record<string, unknown>): Promise<unknown>;
}

/** JSONata throws plain objects ({ code, message, position }), not Errors. */
function jsonataMessage(cause: unknown): string {
  if (typeof cause === 'object' && cause !== null && !(cause instanceof Error)) {
    const { code, message } = cause as { code?: unknown; message?: unknown };
    if (typeof message === 'string') return typeof code === 'string' ? `${code}: ${message}` : message;
  }
  return errorMessage(cause);
}

/** Milliseconds one evaluation may take before it fails (guards against runaway recursion). */
const EVAL_TIMEOUT_MS = 1000;

export function compileExpression(text: string, where: string): CompiledExpression {
  let expr: jsonata.Expression;
  try {
    expr = jsonata(text, { timeout: EVAL_TIMEOUT_MS });
  } catch (cause) {
    const pos = (cause as { position?: number }).position;
    throw new KisError('KIS_ERR_EXPRESSION',
      `${where}: expression ${JSON.stringify(text)} does not compile${pos !== undefined ? ` (at character ${pos})` : ''}: ${jsonataMessage(cause)}`,
      { cause });
  }
  const slow = async (input: unknown, bindings?: Record<string, unknown>): Promise<unknown> => {
    try {
      return await expr.evaluate(input, bindings);
    } catch (cause) {
      throw new KisError('KIS_ERR_EXPRESSION', `${where}: expression ${JSON.stringify(text)} failed: ${jsonataMessage(cause)}`, { cause, retriable: false });
    }
  };
  const fast = compileJsonata(expr);
  if (!fast) return { text, compiled: false, evaluateSync: () => NEEDS_ASYNC, evaluate: slow };
  const evaluateSync = (input: unknown, bindings?: Record<string, unknown>): unknown => {
    try {
      return fast(input, bindings);
    } catch {
      // DEOPT, or anything unforeseen: JSONata decides, and raises its own error if there is one.
      return NEEDS_ASYNC;
    }
  };
  return {
    text,
    compiled: true,
    evaluateSync,
    evaluate(input, bindings) {
      const v = evaluateSync(input, bindings);
      return v === NEEDS_ASYNC ? slow(input, bindings) : Promise.resolve(v);
    },
  };
}

/** Whether a JSONata result counts as true (JSONata's own boolean cast rules, simplified). */
export function truthy(v: unknown): boolean {
  if (Array.isArray(v)) return v.some(truthy);
  return v !== undefined && v !== null && v !== false && v !== 0 && v !== '';
}
