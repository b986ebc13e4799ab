// Checks a built-in's params against its closed codec when the flow is built, so a misspelt or
// mistyped param stops start-up with a message that names the step and the field.
import { isLeft } from 'fp-ts/lib/Either.js';
import type * as t from 'io-ts';
import { KisError } from '../kernel/errors.js';

export interface ParamsProblem {
  /** Dotted path under params ('' for params itself). */
  readonly path: string;
  readonly message: string;
}

/** What is wrong with the params, one entry per io-ts error (a union reports each member). */
export function paramsProblems(codec: t.Mixed, params: unknown): ParamsProblem[] {
  const res = codec.decode(params);
  return isLeft(res) ? problemsOf(res.left) : [];
}

function problemsOf(errors: t.Errors): ParamsProblem[] {
  return errors.map((e) => {
    const path = e.context.map((c) => c.key).filter((k) => k && !/^\d$/.test(k)).join('.');
    return { path, message: e.message ?? `${path || 'params'}: expected ${e.context[e.context.length - 1]?.type.name}, found ${JSON.stringify(e.value)}` };
  });
}

export function paramsError(where: string, problems: readonly ParamsProblem[]): KisError {
  return new KisError('KIS_ERR_CONFIG_SCHEMA', `${where}: bad params: ${[...new Set(problems.map((p) => p.message))].join('; ')}`);
}

export function checkParams<C extends t.Mixed>(codec: C, params: unknown, where: string): t.TypeOf<C> {
  const res = codec.decode(params);
  if (isLeft(res)) throw paramsError(where, problemsOf(res.left));
  return res.right;
}
