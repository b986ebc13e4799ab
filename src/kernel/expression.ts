// Safe expressions for YAML (filter, map, generator templates): JSONata, never JavaScript eval.
// Compiled once when a flow is built; a syntax error stops start-up with the expression and position.
import jsonata from 'jsonata';
import { errorMessage, KisError } from './errors.js';

export interface CompiledExpression {
  readonly text: string;
  evaluate(input: unknown, bindings?: Record<string, unknown>): Promise<unknown>;
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
      `${where}: expression ${JSON.stringify(text)} does not compile${pos !== undefined ? ` (at character ${pos})` : ''}: ${errorMessage(cause)}`,
      { cause });
  }
  return {
    text,
    async evaluate(input, bindings) {
      try {
        return await expr.evaluate(input, bindings);
      } catch (cause) {
        throw new KisError('KIS_ERR_EXPRESSION', `${where}: expression ${JSON.stringify(text)} failed: ${errorMessage(cause)}`, { cause, retriable: false });
      }
    },
  };
}

/** Whether a JSONata result counts as true (JSONata's own boolean cast rules, simplified). */
export function truthy(v: unknown): boolean {
  if (Array.isArray(v)) return v.some(truthy);
  return v !== undefined && v !== null && v !== false && v !== 0 && v !== '';
}
