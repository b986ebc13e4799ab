// The compiled fast path for JSONata expressions: see compile.ts for what compiles, semantics.ts for how
// a row that needs JSONata itself is handed back (DEOPT).
import type jsonata from 'jsonata';
import { compileAst } from './compile.js';
import { DEOPT, type Bindings, type Fn } from './semantics.js';

export { DEOPT, type Bindings, type Fn };

/** The expression as plain functions, or undefined when some part of it needs JSONata. Throws DEOPT for rows JSONata must evaluate. */
export function compileJsonata(expr: jsonata.Expression): Fn | undefined {
  return compileAst(expr.ast());
}
