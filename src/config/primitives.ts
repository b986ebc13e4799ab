// The small codecs every kistype is built from: branded numbers and strings, free-form params, id lists, modes.
import * as t from 'io-ts';

export interface NonNegativeIntBrand { readonly NonNegativeInt: unique symbol }
export const NonNegativeInt = t.brand(
  t.number,
  (n): n is t.Branded<number, NonNegativeIntBrand> => Number.isInteger(n) && n >= 0,
  'NonNegativeInt',
);
export interface PositiveIntBrand { readonly PositiveInt: unique symbol }
export const PositiveInt = t.brand(
  t.number,
  (n): n is t.Branded<number, PositiveIntBrand> => Number.isInteger(n) && n > 0,
  'PositiveInt',
);
export interface NonEmptyStringBrand { readonly NonEmptyString: unique symbol }
export const NonEmptyString = t.brand(
  t.string,
  (s): s is t.Branded<string, NonEmptyStringBrand> => s.length > 0,
  'NonEmptyString',
);

/** Free-form parameters: any JSON value under a string key. Built-in functions check their own. */
export const ParamsCodec = t.record(t.string, t.unknown, 'Params');
export const IdList = t.union([t.array(NonEmptyString), t.null], 'IdList');

export const FMode = t.keyof(
  { Verify: null, Save: null, Load: null, Calculate: null, Expand: null, V: null, S: null, L: null, C: null, E: null },
  'FMode',
);
export type FullMode = 'Verify' | 'Save' | 'Load' | 'Calculate' | 'Expand';

/** A codec's type without its brands, for params built in code (tests, embedding applications). */
export type Unbranded<T> = T extends t.Branded<infer A, unknown>
  ? A
  : T extends ReadonlyArray<infer E> ? Array<Unbranded<E>>
    : T extends object ? { [K in keyof T]: Unbranded<T[K]> } : T;
