// Turns io-ts validation errors into KisErrors that name the file, document, YAML path, line and column,
// what was expected and what was found.
import * as t from 'io-ts';
import { KisError, type KisErrorCode } from '../kernel/errors.js';
import { ClosedType } from './closed.js';
import { formatPath, type PathSegment, type YamlDoc } from './yaml-docs.js';

function expectedName(type: t.Decoder<unknown, unknown> & { name: string }): string {
  if (type instanceof t.KeyofType) return 'one of ' + Object.keys(type.keys as object).join(', ');
  if (type instanceof t.LiteralType) return JSON.stringify(type.value);
  if (type instanceof t.UnionType) {
    return (type.types as Array<t.Mixed>).map((m) => expectedName(m)).join(' or ');
  }
  if (type instanceof t.ArrayType) return `a list of ${expectedName(type.type as t.Mixed)}`;
  if (type instanceof t.DictionaryType) return 'a mapping';
  if (type instanceof t.RefinementType) return REFINEMENT_NAMES[type.name] ?? type.name;
  if (type.name === 'string') return 'a string';
  if (type.name === 'number') return 'a number';
  if (type.name === 'boolean') return 'true or false';
  if (type.name === 'null') return 'null';
  if ('required' in type && 'optional' in type) return `a mapping (${type.name})`;
  return type.name;
}

const REFINEMENT_NAMES: Record<string, string> = {
  NonNegativeInt: 'a whole number >= 0',
  PositiveInt: 'a whole number > 0',
  NonEmptyString: 'a non-empty string',
};

function found(value: unknown): string {
  if (value === undefined) return 'nothing';
  const text = JSON.stringify(value);
  return text === undefined ? String(value) : text.length > 60 ? text.slice(0, 57) + '...' : text;
}

/** Where a location refers to inside the document: a doc-level path prefix for nested params checks. */
export function reportValidation(
  doc: YamlDoc,
  errors: t.Errors,
  opts: { prefix?: readonly PathSegment[]; code?: KisErrorCode; what?: string } = {},
): KisError[] {
  const prefix = opts.prefix ?? [];
  const byPath = new Map<string, { path: PathSegment[]; expected: Set<string>; actual: unknown; message?: string; missing: boolean }>();
  for (const err of errors) {
    const path: PathSegment[] = [...prefix];
    let deepest: t.Decoder<unknown, unknown> & { name: string } = err.context[0]!.type as t.Mixed;
    for (let i = 1; i < err.context.length; i++) {
      const entry = err.context[i]!;
      const parent = err.context[i - 1]!.type;
      // keys into unions and intersections are branch numbers, not YAML paths
      if (parent instanceof t.UnionType || parent instanceof t.IntersectionType) continue;
      // a closed mapping validates through an intersection of its required and optional halves
      if (parent instanceof ClosedType && (entry.type instanceof t.InterfaceType || entry.type instanceof t.PartialType)) continue;
      path.push(parent instanceof t.ArrayType ? Number(entry.key) : entry.key);
      deepest = entry.type as t.Mixed;
    }
    const last = err.context[err.context.length - 1]!;
    const key = JSON.stringify(path) + (err.message ?? '');
    const missing = last.actual === undefined && err.message === undefined;
    const slot = byPath.get(key) ?? { path, expected: new Set<string>(), actual: last.actual, ...(err.message ? { message: err.message } : {}), missing };
    slot.expected.add(expectedName(deepest));
    byPath.set(key, slot);
  }
  return [...byPath.values()].map((slot) => {
    const isUnknownKey = slot.message?.startsWith('unknown key') ?? false;
    const pos = doc.locate(slot.path, isUnknownKey);
    const where = `${doc.file} doc ${doc.index}${opts.what ? ` (${opts.what})` : ''} at ${formatPath(slot.path)}${pos ? ` (line ${pos.line}, col ${pos.col})` : ''}`;
    const what = slot.message
      ?? (slot.missing
        ? `missing required key, expected ${[...slot.expected].join(' or ')}`
        : `expected ${[...slot.expected].join(' or ')}, found ${found(slot.actual)}`);
    return new KisError(opts.code ?? 'KIS_ERR_CONFIG_SCHEMA', `${where}: ${what}`, {
      context: { file: doc.file, doc: doc.index, path: formatPath(slot.path), ...(pos ? { line: pos.line, col: pos.col } : {}) },
    });
  });
}

/** A reference or semantic error at a path of a document. */
export function docError(code: KisErrorCode, doc: YamlDoc, path: readonly PathSegment[], what: string): KisError {
  const pos = doc.locate(path);
  return new KisError(code, `${doc.file} doc ${doc.index} at ${formatPath(path)}${pos ? ` (line ${pos.line}, col ${pos.col})` : ''}: ${what}`, {
    context: { file: doc.file, doc: doc.index, path: formatPath(path), ...(pos ? { line: pos.line, col: pos.col } : {}) },
  });
}
