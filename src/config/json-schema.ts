// Turns the config codecs into JSON Schemas (for editors, through yaml-language-server) and into the
// Markdown reference, so that the codecs stay the single spec. Pure: no file system, no network.
// Draft-07, because yaml-language-server (and VS Code's JSON service under it) supports it fully.
import { isRight } from 'fp-ts/lib/Either.js';
import type * as t from 'io-ts';
import { ClosedType } from './closed.js';
import { CONN_PARAMS_CODECS, SOURCE_PARAMS_CODECS, type KisType } from './codecs.js';
import { KINDS } from './kinds/index.js';

export const SCHEMA_DIALECT = 'http://json-schema.org/draft-07/schema#';
export const SCHEMA_BASE_URL = 'https://kisflow.dev/schemas/';

type JsonScalar = string | number | boolean;

/** The subset of draft-07 this generator emits. */
export interface JsonSchema {
  $schema?: string;
  $id?: string;
  $comment?: string;
  title?: string;
  description?: string;
  type?: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean' | 'null';
  const?: JsonScalar;
  enum?: JsonScalar[];
  anyOf?: JsonSchema[];
  allOf?: JsonSchema[];
  if?: JsonSchema;
  then?: JsonSchema;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  minimum?: number;
  exclusiveMinimum?: number;
  minLength?: number;
}

type AnyClosed = ClosedType<t.Props, t.Props>;
type Brand = 'NonNegativeInt' | 'PositiveInt' | 'NonEmptyString';
const BRAND_BASE: Readonly<Record<Brand, string>> = { NonNegativeInt: 'NumberType', PositiveInt: 'NumberType', NonEmptyString: 'StringType' };

/** The codec kinds the config uses. Both generators switch on this, so TypeScript checks they handle each. */
type Node =
  | { kind: 'closed'; codec: AnyClosed }
  | { kind: 'literal'; value: JsonScalar }
  | { kind: 'enum'; values: string[] }
  | { kind: 'union'; members: readonly t.Mixed[] }
  | { kind: 'array'; item: t.Mixed }
  | { kind: 'record'; value: t.Mixed }
  | { kind: 'brand'; brand: Brand }
  | { kind: 'string' | 'number' | 'boolean' | 'null' | 'unknown' };

// The one place that recognises codecs: a kind it does not know is an error, never skipped, because
// a silently skipped codec would make the schema accept what the loader rejects (or the reverse).
function classify(codec: t.Mixed, where: string): Node {
  if (codec instanceof ClosedType) return { kind: 'closed', codec: codec as AnyClosed };
  const tag = (codec as { _tag?: unknown })._tag;
  switch (tag) {
    case 'LiteralType': {
      const value = (codec as t.LiteralType<JsonScalar>).value;
      return { kind: 'literal', value };
    }
    case 'KeyofType':
      return { kind: 'enum', values: Object.keys((codec as t.KeyofType<Record<string, unknown>>).keys) };
    case 'UnionType':
      return { kind: 'union', members: (codec as t.UnionType<t.Mixed[]>).types };
    case 'ArrayType':
      return { kind: 'array', item: (codec as t.ArrayType<t.Mixed>).type };
    case 'DictionaryType': {
      const dict = codec as t.DictionaryType<t.Mixed, t.Mixed>;
      if ((dict.domain as { _tag?: unknown })._tag !== 'StringType') {
        throw new Error(`${where}: record ${codec.name} has keys of type ${dict.domain.name}; only string keys map to JSON Schema`);
      }
      return { kind: 'record', value: dict.codomain };
    }
    case 'RefinementType': {
      const base = (codec as t.RefinementType<t.Mixed>).type as { _tag?: unknown };
      const brand = codec.name as Brand;
      if (!Object.hasOwn(BRAND_BASE, brand) || base._tag !== BRAND_BASE[brand]) {
        throw new Error(`${where}: refinement ${codec.name} has no JSON Schema equivalent; add it to json-schema.ts (known: ${Object.keys(BRAND_BASE).join(', ')})`);
      }
      return { kind: 'brand', brand };
    }
    case 'StringType': return { kind: 'string' };
    case 'NumberType': return { kind: 'number' };
    case 'BooleanType': return { kind: 'boolean' };
    case 'NullType': return { kind: 'null' };
    case 'UnknownType': return { kind: 'unknown' };
    default:
      throw new Error(`${where}: codec ${codec.name} (${String(tag)}) has no JSON Schema mapping; teach src/config/json-schema.ts this kind`);
  }
}

function closedFields(codec: AnyClosed): Array<{ key: string; codec: t.Mixed; required: boolean; doc: string | undefined }> {
  const fields = [
    ...Object.entries(codec.required).map(([key, c]) => ({ key, codec: c, required: true })),
    ...Object.entries(codec.optional).map(([key, c]) => ({ key, codec: c, required: false })),
  ];
  return fields.map((f) => ({ ...f, doc: Object.hasOwn(codec.fieldDocs, f.key) ? codec.fieldDocs[f.key] : undefined }));
}

function withDescription(schema: JsonSchema, description: string | undefined): JsonSchema {
  if (description === undefined) return schema;
  const { description: _own, ...rest } = schema;
  return { description, ...rest };
}

/** The JSON Schema of one codec, inlined (the config codecs are not recursive). */
export function toJsonSchema(codec: t.Mixed, where: string = codec.name): JsonSchema {
  const node = classify(codec, where);
  switch (node.kind) {
    case 'closed': {
      const properties: Record<string, JsonSchema> = {};
      const required: string[] = [];
      for (const f of closedFields(node.codec)) {
        properties[f.key] = withDescription(toJsonSchema(f.codec, `${where}.${f.key}`), f.doc);
        if (f.required) required.push(f.key);
      }
      return {
        title: node.codec.name,
        description: node.codec.description,
        type: 'object',
        properties,
        ...(required.length > 0 ? { required } : {}),
        additionalProperties: node.codec.open,
      };
    }
    case 'literal': return { const: node.value };
    case 'enum': return { enum: node.values };
    case 'union': return unionSchema(node.members.map((m) => toJsonSchema(m, where)));
    case 'array': return { type: 'array', items: toJsonSchema(node.item, `${where}[]`) };
    case 'record': {
      const value = toJsonSchema(node.value, `${where}{}`);
      return { type: 'object', additionalProperties: Object.keys(value).length === 0 ? true : value };
    }
    case 'brand':
      switch (node.brand) {
        case 'NonNegativeInt': return { type: 'integer', minimum: 0 };
        case 'PositiveInt': return { type: 'integer', exclusiveMinimum: 0 };
        case 'NonEmptyString': return { type: 'string', minLength: 1 };
      }
      break;
    case 'string': return { type: 'string' };
    case 'number': return { type: 'number' };
    case 'boolean': return { type: 'boolean' };
    case 'null': return { type: 'null' };
    case 'unknown': return {};
  }
  throw new Error(`${where}: unreachable codec kind`);
}

// Nested unions are flattened; a union of literals becomes one enum, which editors offer as completions.
function unionSchema(members: readonly JsonSchema[]): JsonSchema {
  const flat = members.flatMap((m) => (m.anyOf && Object.keys(m).length === 1 ? m.anyOf : [m]));
  const isConst = (m: JsonSchema): boolean => Object.keys(m).length === 1 && (m.const !== undefined || m.enum !== undefined);
  if (flat.length > 0 && flat.every(isConst)) return { enum: flat.flatMap((m) => (m.enum ?? [m.const!])) };
  return flat.length === 1 ? flat[0]! : { anyOf: flat };
}

// The loader reads absent or null params as {} and then checks them against the type's params codec,
// so params may be left out exactly when that codec accepts {}.
function paramsMayBeOmitted(codec: t.Mixed): boolean {
  return isRight(codec.decode({}));
}

function paramsByType(codecs: Readonly<Record<string, t.Mixed>>, where: string): JsonSchema[] {
  return Object.entries(codecs).map(([type, codec]) => {
    const params = toJsonSchema(codec, `${where}(type: ${type}).params`);
    const optional = paramsMayBeOmitted(codec);
    return {
      if: { properties: { type: { const: type } }, required: ['type'] },
      then: {
        properties: { params: optional ? { anyOf: [params, { type: 'null' }] } : params },
        ...(optional ? {} : { required: ['params'] }),
      },
    };
  });
}

/** The params codecs of the source and connector types, by type name (the registered types; default: those of config/). */
export interface TypedParams {
  readonly source: Readonly<Record<string, t.Mixed>>;
  readonly conn: Readonly<Record<string, t.Mixed>>;
}
const CONFIG_TYPES: TypedParams = { source: SOURCE_PARAMS_CODECS, conn: CONN_PARAMS_CODECS };

/** One JSON Schema per kistype; for source and conn, `params` is checked by `type` through if/then. */
export function kisSchemas(types: TypedParams = CONFIG_TYPES): Record<KisType, JsonSchema> & Record<string, JsonSchema> {
  const typed: Readonly<Record<string, Readonly<Record<string, t.Mixed>>>> = { source: types.source, conn: types.conn };
  const out = {} as Record<KisType, JsonSchema> & Record<string, JsonSchema>;
  for (const { kistype, codec } of KINDS) {
    const { title: _name, ...body } = toJsonSchema(codec, kistype);
    const byType = typed[kistype];
    out[kistype] = {
      $schema: SCHEMA_DIALECT,
      $id: `${SCHEMA_BASE_URL}${kistype}.schema.json`,
      $comment: 'Generated from the codecs in src/config/kinds/ by scripts/gen-schemas.ts (npm run schemas); do not edit.',
      title: `KisFlow config: kistype ${kistype}`,
      ...body,
      ...(byType ? { allOf: paramsByType(byType, kistype) } : {}),
    };
  }
  return out;
}

// ---- Markdown reference ----------------------------------------------------------------------

// Outside `code` spans, < and > would be read as HTML ('<flow id>' would vanish) and | would split a table cell.
function mdText(text: string, inTable: boolean): string {
  return text
    .replace(/\s*\n\s*/g, ' ')
    .split(/(`[^`]*`)/)
    .map((part, i) => {
      if (i % 2 === 1) return inTable ? part.replace(/\|/g, '\\|') : part;
      const escaped = part.replace(/</g, '&lt;').replace(/>/g, '&gt;');
      return inTable ? escaped.replace(/\|/g, '\\|') : escaped;
    })
    .join('');
}

interface Section { path: string; codec: AnyClosed }

function typeLabel(codec: t.Mixed, path: string, nested: Section[]): string {
  const node = classify(codec, path);
  switch (node.kind) {
    case 'closed':
      nested.push({ path, codec: node.codec });
      return `mapping, see \`${path}\``;
    case 'literal': return `\`${JSON.stringify(node.value)}\``;
    case 'enum': return `one of ${node.values.map((v) => `\`${v}\``).join(', ')}`;
    case 'union': {
      const labels = node.members.map((m) => typeLabel(m, path, nested));
      return labels.join(' or ');
    }
    case 'array': return `list of ${typeLabel(node.item, `${path}[]`, nested)}`;
    case 'record': {
      const value = classify(node.value, `${path}{}`);
      return value.kind === 'unknown' ? 'mapping (any keys and values)' : `mapping of ${typeLabel(node.value, `${path}{}`, nested)}`;
    }
    case 'brand':
      switch (node.brand) {
        case 'NonNegativeInt': return 'integer ≥ 0';
        case 'PositiveInt': return 'integer ≥ 1';
        case 'NonEmptyString': return 'non-empty string';
      }
      break;
    case 'string': return 'string';
    case 'number': return 'number';
    case 'boolean': return 'boolean';
    case 'null': return '`null`';
    case 'unknown': return 'any';
  }
  throw new Error(`${path}: unreachable codec kind`);
}

/** A table of the codec's fields, then one sub-section per nested mapping, depth first. */
function codecSection(heading: string, level: number, path: string, codec: AnyClosed, intro: readonly string[] = []): string[] {
  const nested: Section[] = [];
  const lines = [`${'#'.repeat(level)} ${heading}`, '', mdText(codec.description, false), ''];
  for (const line of intro) lines.push(line, '');
  const fields = closedFields(codec);
  if (fields.length === 0) {
    lines.push('No keys.', '');
  } else {
    lines.push('| key | type | required | description |', '| --- | --- | --- | --- |');
    for (const f of fields) {
      const type = typeLabel(f.codec, `${path}.${f.key}`, nested);
      lines.push(`| \`${f.key}\` | ${mdText(type, true)} | ${f.required ? 'yes' : 'no'} | ${mdText(f.doc ?? '', true)} |`);
    }
    lines.push('');
    if (codec.open) lines.push('Any other key is allowed too (free-form).', '');
  }
  for (const n of nested) lines.push(...codecSection(`\`${n.path}\``, Math.min(level + 1, 6), n.path, n.codec));
  return lines;
}

function asClosed(codec: t.Mixed, where: string): AnyClosed {
  const node = classify(codec, where);
  if (node.kind !== 'closed') throw new Error(`${where}: expected a closed mapping codec, found ${codec.name}`);
  return node.codec;
}

function paramsSections(title: string, owner: string, codecs: Readonly<Record<string, t.Mixed>>): string[] {
  const lines = [`## ${title}`, '',
    `\`${owner}.params\` is checked against the codec of its \`type\`; any other type takes free-form params (a mapping).`, ''];
  for (const [type, codec] of Object.entries(codecs)) {
    const where = `${owner}.params`;
    const note = paramsMayBeOmitted(codec)
      ? '`params` may be left out or `null` (read as `{}`).'
      : '`params` is required (its codec does not accept `{}`).';
    lines.push(...codecSection(`\`${owner}\` with \`type: ${type}\``, 3, where, asClosed(codec, `${owner}(type: ${type}).params`), [note]));
  }
  return lines;
}

/**
 * The configuration reference in Markdown: every kistype, the params of each source and connector type,
 * and the params of the built-in functions. The built-ins are passed in (BUILTIN_PARAMS from
 * src/functions/builtins.ts) because config comes before functions and does not import from it.
 * An entry whose codec is undefined takes any params.
 */
export function referenceMarkdown(builtinParams: Readonly<Record<string, t.Mixed | undefined>>, types: TypedParams = CONFIG_TYPES): string {
  const kistypes = KINDS.map((k) => k.kistype);
  const lines: string[] = [
    '# Configuration reference',
    '',
    '<!-- Generated from the codecs in src/config/kinds/ and src/functions/ by scripts/gen-schemas.ts. Do not edit: run `npm run schemas`. -->',
    '',
    `Every YAML document names its kind with \`kistype\`: ${kistypes.map((k) => `\`${k}\``).join(', ')}. ` +
      'Unknown keys are errors. `${VAR}` and `${VAR:-default}` in values are read from the environment.',
    '',
    'Editors that use yaml-language-server check a file against the JSON Schema of its kistype when the file starts with a line such as',
    '`# yaml-language-server: $schema=../schemas/func.schema.json` (the schemas are in `schemas/`).',
    '',
    '## Documents',
    '',
  ];
  for (const { kistype: k, codec } of KINDS) {
    lines.push(...codecSection(`kistype: ${k}`, 3, k, asClosed(codec, k),
      [`JSON Schema: [\`schemas/${k}.schema.json\`](../schemas/${k}.schema.json).`]));
  }
  lines.push(...paramsSections('Source params by type', 'source', types.source));
  lines.push(...paramsSections('Connector params by type', 'conn', types.conn));
  lines.push('## Built-in functions', '',
    'A func whose `fname` is one of these needs no function module. Its params are the flow step\'s `params` over the func\'s `option.default_params`.', '');
  for (const [name, codec] of Object.entries(builtinParams)) {
    if (codec === undefined) {
      lines.push(`### \`${name}\``, '', 'Takes any params; they are not checked.', '');
    } else {
      lines.push(...codecSection(`\`${name}\``, 3, `${name}.params`, asClosed(codec, `${name}.params`)));
    }
  }
  while (lines[lines.length - 1] === '') lines.pop();
  return lines.join('\n') + '\n';
}
