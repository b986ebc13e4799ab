// An io-ts object codec that rejects unknown keys (io-ts `exact` strips them silently instead).
// It keeps its required and optional props visible so that the JSON Schema generator can walk it.
import * as t from 'io-ts';
import { closest } from './suggest.js';

export class ClosedType<R extends t.Props, O extends t.Props> extends t.Type<
  t.TypeOf<t.TypeC<R>> & t.TypeOf<t.PartialC<O>>,
  t.OutputOf<t.TypeC<R>> & t.OutputOf<t.PartialC<O>>,
  unknown
> {
  readonly _tag = 'ClosedType' as const;
  constructor(
    name: string,
    readonly required: R,
    readonly optional: O,
    readonly description: string,
    readonly fieldDocs: Readonly<Record<string, string>>,
    /** Open: other keys are allowed (free-form params with a few reserved, typed names). */
    readonly open = false,
  ) {
    const inner = t.intersection([t.type(required), t.partial(optional)]);
    const known = new Set([...Object.keys(required), ...Object.keys(optional)]);
    super(
      name,
      (u): u is t.TypeOf<t.TypeC<R>> & t.TypeOf<t.PartialC<O>> => inner.is(u) && (open || Object.keys(u as object).every((k) => known.has(k))),
      (u, c) => {
        if (typeof u !== 'object' || u === null || Array.isArray(u)) return t.failure(u, c, `expected a mapping (${name})`);
        const extras = open ? [] : Object.keys(u).filter((k) => !known.has(k));
        const allowed = [...known].join(', ');
        const extraErrors: t.Errors = extras.map((k) => {
          const near = closest(k, known);
          return {
            value: (u as Record<string, unknown>)[k],
            context: [...c, { key: k, type: t.never, actual: (u as Record<string, unknown>)[k] }],
            message: near !== undefined ? `unknown key '${k}' (did you mean '${near}'? allowed here: ${allowed})` : `unknown key '${k}' (allowed here: ${allowed})`,
          };
        });
        const res = inner.validate(u, c);
        // Report unknown keys and the other problems of the same mapping together.
        if (res._tag === 'Left') return t.failures([...extraErrors, ...res.left]);
        if (extraErrors.length > 0) return t.failures(extraErrors);
        return res as t.Validation<t.TypeOf<t.TypeC<R>> & t.TypeOf<t.PartialC<O>>>;
      },
      (a) => inner.encode(a),
    );
  }
}

export function closed<R extends t.Props, O extends t.Props>(
  name: string,
  required: R,
  optional: O,
  description: string,
  fieldDocs: { [K in keyof R | keyof O]?: string } = {},
): ClosedType<R, O> {
  return new ClosedType(name, required, optional, description, fieldDocs as Record<string, string>);
}

/** A mapping whose listed keys are typed and documented, and which takes any other key too. */
export function openMapping<O extends t.Props>(
  name: string,
  optional: O,
  description: string,
  fieldDocs: { [K in keyof O]?: string } = {},
): ClosedType<Record<never, never>, O> {
  return new ClosedType(name, {}, optional, description, fieldDocs as Record<string, string>, true);
}
