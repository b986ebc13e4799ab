// The JSON Schemas and the config reference are generated from the codecs: the files on disk must be
// exactly what the codecs give now, and the schemas must accept and reject what the codecs do.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { isRight } from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { parseAllDocuments } from 'yaml';
import { generatedFiles, findStale, ROOT } from '../../scripts/gen-schemas.js';
import { CONN_PARAMS_CODECS, KISTYPE_CODECS, SOURCE_PARAMS_CODECS, type KisType } from '../../src/config/codecs.js';
import { closed } from '../../src/config/closed.js';
import { SEED as SEED_TEXT } from '../helpers.js';
import { kisSchemas, referenceMarkdown, SCHEMA_DIALECT, toJsonSchema, type JsonSchema } from '../../src/config/json-schema.js';
import { BUILTIN_PARAMS } from '../../src/functions/builtins.js';

// ---- a small validator for the draft-07 subset the generator emits --------------------------------
const ANNOTATIONS = new Set(['$schema', '$id', '$comment', 'title', 'description']);
const KEYWORDS = new Set(['type', 'const', 'enum', 'anyOf', 'allOf', 'if', 'then', 'properties', 'required',
  'additionalProperties', 'items', 'minimum', 'exclusiveMinimum', 'minLength']);

function typeOk(type: NonNullable<JsonSchema['type']>, v: unknown): boolean {
  switch (type) {
    case 'object': return typeof v === 'object' && v !== null && !Array.isArray(v);
    case 'array': return Array.isArray(v);
    case 'string': return typeof v === 'string';
    case 'integer': return Number.isInteger(v);
    case 'number': return typeof v === 'number';
    case 'boolean': return typeof v === 'boolean';
    case 'null': return v === null;
  }
}

/** The errors of `v` against `schema`, as 'path: what'; empty when valid. */
function validate(schema: JsonSchema, v: unknown, at = '$'): string[] {
  for (const k of Object.keys(schema)) {
    // A keyword this validator does not know would be silently skipped: fail instead.
    if (!ANNOTATIONS.has(k) && !KEYWORDS.has(k)) throw new Error(`${at}: validator does not know keyword ${k}`);
  }
  const errs: string[] = [];
  if (schema.type !== undefined && !typeOk(schema.type, v)) return [`${at}: expected ${schema.type}`];
  if (schema.const !== undefined && v !== schema.const) errs.push(`${at}: expected ${JSON.stringify(schema.const)}`);
  if (schema.enum !== undefined && !schema.enum.some((e) => e === v)) errs.push(`${at}: expected one of ${schema.enum.join(', ')}`);
  if (schema.minLength !== undefined && typeof v === 'string' && [...v].length < schema.minLength) errs.push(`${at}: shorter than ${schema.minLength}`);
  if (schema.minimum !== undefined && typeof v === 'number' && v < schema.minimum) errs.push(`${at}: below ${schema.minimum}`);
  if (schema.exclusiveMinimum !== undefined && typeof v === 'number' && v <= schema.exclusiveMinimum) errs.push(`${at}: not above ${schema.exclusiveMinimum}`);
  if (schema.anyOf !== undefined && !schema.anyOf.some((s) => validate(s, v, at).length === 0)) errs.push(`${at}: matches no alternative`);
  for (const s of schema.allOf ?? []) errs.push(...validate(s, v, at));
  if (schema.if !== undefined && schema.then !== undefined && validate(schema.if, v, at).length === 0) errs.push(...validate(schema.then, v, at));
  if (Array.isArray(v) && schema.items !== undefined) v.forEach((item, i) => errs.push(...validate(schema.items!, item, `${at}[${i}]`)));
  if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
    const obj = v as Record<string, unknown>;
    for (const r of schema.required ?? []) if (!Object.hasOwn(obj, r)) errs.push(`${at}: missing ${r}`);
    for (const [k, val] of Object.entries(obj)) {
      const prop = schema.properties?.[k];
      if (prop !== undefined) errs.push(...validate(prop, val, `${at}.${k}`));
      else if (schema.additionalProperties === false) errs.push(`${at}: unknown key ${k}`);
      else if (typeof schema.additionalProperties === 'object') errs.push(...validate(schema.additionalProperties, val, `${at}.${k}`));
    }
  }
  return errs;
}

// What the loader accepts at the schema level: the kistype codec, then the params codec of the type
// (absent or null params read as {}). Cross-document checks are not a schema's job.
function codecAccepts(doc: Record<string, unknown>): boolean {
  const codec = KISTYPE_CODECS[doc['kistype'] as KisType] as t.Mixed;
  if (!isRight(codec.decode(doc))) return false;
  const byType: Readonly<Record<string, t.Mixed>> | undefined =
    doc['kistype'] === 'source' ? SOURCE_PARAMS_CODECS : doc['kistype'] === 'conn' ? CONN_PARAMS_CODECS : undefined;
  const paramsCodec = byType?.[doc['type'] as string];
  return paramsCodec === undefined || isRight(paramsCodec.decode(doc['params'] ?? {}));
}

function schemaErrors(doc: Record<string, unknown>): string[] {
  const schema = kisSchemas()[doc['kistype'] as KisType];
  assert.ok(schema, `no schema for kistype ${String(doc['kistype'])}`);
  return validate(schema, doc);
}

function yamlDocs(text: string): Array<Record<string, unknown>> {
  return parseAllDocuments(text).map((d) => d.toJS() as Record<string, unknown>);
}

const SEED = yamlDocs(SEED_TEXT);

const func = { kistype: 'func', fid: 'f', fmode: 'Calculate' };
const conn = { kistype: 'conn', cid: 'c', type: 'kafka' };
const source = { kistype: 'source', sid: 's', flows: ['F'] };
const flow = { kistype: 'flow', flow_name: 'F', flows: [{ fid: 'f' }] };

/** [name, document, whether the codecs accept it]. */
const CASES: Array<[string, Record<string, unknown>, boolean]> = [
  ['func, short fmode', { ...func, fmode: 'V' }, true],
  ['func, no fmode', { kistype: 'func', fid: 'f' }, false],
  ['func, unknown fmode', { ...func, fmode: 'Validate' }, false],
  ['func, misspelt retry_duration', { ...func, option: { retry_duraton: 500 } }, false],
  ['func, negative retry_times', { ...func, option: { retry_times: -1 } }, false],
  ['func, fractional retry_duration', { ...func, option: { retry_duration: 1.5 } }, false],
  ['func, null must and default_params', { ...func, source: { name: 'x', must: null }, option: { default_params: null } }, true],
  ['func, source without name', { ...func, source: { must: ['a'] } }, false],
  ['func, empty fid', { ...func, fid: '' }, false],
  ['flow, status 0', { ...flow, status: 0 }, true],
  ['flow, status 2', { ...flow, status: 2 }, false],
  ['flow, status as string', { ...flow, status: '1' }, false],
  ['flow, unknown key in a step', { ...flow, flows: [{ fid: 'f', parms: {} }] }, false],
  ['flow, dead_letter topic', { ...flow, dead_letter: { topic: 'dlq' } }, true],
  ['flow, no flow_name', { kistype: 'flow', flows: [] }, false],
  ['conn kafka, no params', conn, true],
  ['conn kafka, null params', { ...conn, params: null }, true],
  ['conn kafka, topic and partitions', { ...conn, params: { topic: 't', partitions: 4 } }, true],
  ['conn kafka, zero partitions', { ...conn, params: { topic: 't', partitions: 0 } }, false],
  ['conn kafka, fractional partitions', { ...conn, params: { partitions: 1.5 } }, false],
  ['conn kafka, empty topic', { ...conn, params: { topic: '' } }, false],
  ['conn kafka, unknown param', { ...conn, params: { topic: 't', replication: 3 } }, false],
  ['conn redis, any params', { ...conn, type: 'redis', params: { replication: 3, nested: { a: [1] } } }, true],
  ['conn, key as list', { ...conn, key: ['user_id', 'order_id'] }, true],
  ['conn, empty type', { ...conn, type: '' }, false],
  ['source file, path', { ...source, type: 'file', params: { path: 'a.jsonl', batch_size: 8 } }, true],
  ['source file, no params', { ...source, type: 'file' }, false],
  ['source file, null params', { ...source, type: 'file', params: null }, false],
  ['source file, zero batch_size', { ...source, type: 'file', params: { path: 'a', batch_size: 0 } }, false],
  ['source generator, template', { ...source, type: 'generator', params: { template: { a: '{{ $seq }}' }, count: 0 } }, true],
  ['source generator, no template', { ...source, type: 'generator', params: { count: 3 } }, false],
  ['source generator, negative count', { ...source, type: 'generator', params: { template: {}, count: -1 } }, false],
  ['source stdin, null params', { ...source, type: 'stdin', params: null }, true],
  ['source stdin, no params', { ...source, type: 'stdin' }, true],
  ['source stdin, unknown param', { ...source, type: 'stdin', params: { path: 'x' } }, false],
  ['source kafka, free-form params', { ...source, type: 'kafka', params: { topics: ['a'] } }, true],
  ['source, unknown type', { ...source, type: 'http' }, false],
  ['source, no flows', { kistype: 'source', sid: 's', type: 'stdin' }, false],
  ['global, brokers as list', { kistype: 'global', kafka: { brokers: ['a:9092'], client_id: 'x' } }, true],
  ['global, empty broker in list', { kistype: 'global', kafka: { brokers: [''] } }, false],
  ['global, kafka without brokers', { kistype: 'global', kafka: { client_id: 'x' } }, false],
  ['global, unknown key', { kistype: 'global', prometheus_enabled: true }, false],
  ['global, prometheus_enable as string', { kistype: 'global', prometheus_enable: 'yes' }, false],
];

describe('generated schemas and reference', () => {
  it('match the codecs byte for byte on disk', () => {
    for (const [rel, content] of generatedFiles()) {
      let onDisk: string | undefined;
      try {
        onDisk = readFileSync(path.join(ROOT, rel), 'utf8');
      } catch {
        onDisk = undefined;
      }
      assert.equal(onDisk, content, `${rel} is stale: run npm run schemas`);
    }
  });

  it('leave no schema in schemas/ that no codec generates', async () => {
    const { orphans } = await findStale();
    assert.deepEqual(orphans, [], `${orphans.join(', ')} not generated by any codec: run npm run schemas`);
  });

  it('give every kistype a schema with its $id, title and dialect', () => {
    const schemas = kisSchemas();
    const files = generatedFiles();
    assert.deepEqual(Object.keys(schemas).sort(), Object.keys(KISTYPE_CODECS).sort());
    for (const kistype of Object.keys(KISTYPE_CODECS) as KisType[]) {
      const s = schemas[kistype];
      assert.equal(s.$schema, SCHEMA_DIALECT);
      assert.equal(s.$id, `https://kisflow.dev/schemas/${kistype}.schema.json`);
      assert.ok(s.title?.includes(kistype), `title of ${kistype}: ${s.title}`);
      assert.equal(s.properties?.['kistype']?.const, kistype);
      assert.ok(s.required?.includes('kistype'));
      assert.equal(s.additionalProperties, false);
      assert.ok(files.has(`schemas/${kistype}.schema.json`), `no schemas/${kistype}.schema.json`);
    }
  });

  it('func: fmode required, unknown keys closed, fmode enum with long and short names, field docs as descriptions', () => {
    const f = kisSchemas().func;
    assert.ok(f.required?.includes('fmode'));
    assert.equal(f.additionalProperties, false);
    const fmode = f.properties?.['fmode'];
    assert.ok(fmode, 'func schema has no fmode property');
    assert.ok(fmode.enum?.includes('Verify') && fmode.enum.includes('V'), `fmode enum: ${JSON.stringify(fmode.enum)}`);
    assert.equal(fmode.description, KISTYPE_CODECS.func.fieldDocs['fmode']);
    const option = f.properties?.['option'];
    assert.equal(option?.additionalProperties, false);
    assert.deepEqual(option?.properties?.['retry_times'], {
      description: KISTYPE_CODECS.func.optional.option.fieldDocs['retry_times'], type: 'integer', minimum: 0,
    });
  });

  it('conn: a kafka conn gets the kafka params schema through if/then', () => {
    const c = kisSchemas().conn;
    const branch = c.allOf?.find((b) => b.if?.properties?.['type']?.const === 'kafka');
    assert.ok(branch, 'no if/then branch for type kafka');
    assert.deepEqual(branch.if?.required, ['type']);
    assert.deepEqual(branch.then?.properties?.['params'], { anyOf: [toJsonSchema(CONN_PARAMS_CODECS.kafka), { type: 'null' }] });
    assert.equal(branch.then?.required, undefined, 'kafka params may be left out');
    // The generic params stay as they were for every other type.
    assert.deepEqual(c.properties?.['params'], {
      description: KISTYPE_CODECS.conn.fieldDocs['params'],
      anyOf: [{ type: 'object', additionalProperties: true }, { type: 'null' }],
    });
  });

  it('source: one if/then branch per params codec; params required where its codec rejects {}', () => {
    const s = kisSchemas().source;
    const branches = new Map((s.allOf ?? []).map((b) => [b.if?.properties?.['type']?.const, b.then]));
    assert.deepEqual([...branches.keys()].sort(), Object.keys(SOURCE_PARAMS_CODECS).sort());
    assert.deepEqual(branches.get('file')?.required, ['params']);
    assert.deepEqual(branches.get('generator')?.required, ['params']);
    assert.equal(branches.get('stdin')?.required, undefined);
    assert.deepEqual(branches.get('file')?.properties?.['params'], toJsonSchema(SOURCE_PARAMS_CODECS.file));
  });

  it('accept the seed documents and the bundled config/', () => {
    const bundled = ['kisflow.yml', 'sources.yml', 'flows.yml', 'functions.yml', 'connectors.yml']
      .flatMap((f) => yamlDocs(readFileSync(path.join(ROOT, 'config', f), 'utf8')));
    for (const doc of [...SEED, ...bundled]) {
      assert.ok(codecAccepts(doc), `codecs reject ${JSON.stringify(doc)}`);
      assert.deepEqual(schemaErrors(doc), [], `schema rejects ${JSON.stringify(doc)}`);
    }
  });

  it('accept and reject the same documents as the codecs', () => {
    for (const [name, doc, valid] of CASES) {
      assert.equal(codecAccepts(doc), valid, `case '${name}': the codecs disagree with the case table`);
      const errs = schemaErrors(doc);
      assert.equal(errs.length === 0, valid, `case '${name}': schema says ${errs.length === 0 ? 'valid' : errs.join('; ')}`);
    }
  });

  it('check built-in function params like their codecs', () => {
    const cases: Array<[string, unknown, boolean]> = [
      ['kis.filter', { where: 'amount > 0' }, true],
      ['kis.filter', { where: '' }, false],
      ['kis.filter', {}, false],
      ['kis.map', { set: { a: 'b' }, remove: ['c'] }, true],
      ['kis.map', { set: { a: 1 } }, false],
      ['kis.sink', { to: 'file', path: 'out.jsonl' }, true],
      ['kis.sink', { to: 'kafka' }, false],
      ['kis.window', { group_by: 'user', window: { size_ms: 60000 }, time: { field: 'ts' }, aggregates: { n: 'count', rev: { sum: 'amount' } } }, true],
      ['kis.window', { group_by: [], window: { size_ms: 60000, advance_ms: 10000 }, time: 'processing', aggregates: {}, allowed_lateness_ms: 0, emit: 'update' }, true],
      ['kis.window', { group_by: 'user', window: { size_ms: 0 }, time: 'processing', aggregates: {} }, false],
      ['kis.window', { group_by: 'user', window: { size_ms: 1000 }, time: 'processing', aggregates: { n: 'cnt' } }, false],
      ['kis.window', { group_by: 'user', window: { size_ms: 1000 }, time: 'processing', aggregates: {}, emit: 'always' }, false],
    ];
    for (const [name, params, valid] of cases) {
      const codec = BUILTIN_PARAMS[name];
      assert.ok(codec, `${name} has no params codec`);
      assert.equal(isRight(codec.decode(params)), valid, `${name} ${JSON.stringify(params)}: codec`);
      assert.equal(validate(toJsonSchema(codec), params).length === 0, valid, `${name} ${JSON.stringify(params)}: schema`);
    }
  });

  it('refuse a codec kind they do not know instead of skipping it', () => {
    assert.throws(() => toJsonSchema(t.intersection([t.type({ a: t.string }), t.type({ b: t.string })])), /no JSON Schema mapping/);
    assert.throws(() => toJsonSchema(t.Int), /refinement Int has no JSON Schema equivalent/);
    assert.throws(() => toJsonSchema(closed('X', { a: t.tuple([t.string]) }, {}, 'x')), /X\.a: codec .* has no JSON Schema mapping/);
    assert.throws(() => toJsonSchema(t.record(t.keyof({ a: null }), t.string)), /only string keys/);
  });

  it('reference lists every kistype, every field, every params type and every built-in', () => {
    const md = referenceMarkdown(BUILTIN_PARAMS);
    for (const [kistype, codec] of Object.entries(KISTYPE_CODECS)) {
      assert.ok(md.includes(`### kistype: ${kistype}\n`), `no section for kistype ${kistype}`);
      for (const key of [...Object.keys(codec.required), ...Object.keys(codec.optional)]) {
        assert.ok(md.includes(`| \`${key}\` |`), `no row for ${kistype}.${key}`);
      }
    }
    for (const type of Object.keys(SOURCE_PARAMS_CODECS)) assert.ok(md.includes(`### \`source\` with \`type: ${type}\``), `no source type ${type}`);
    for (const type of Object.keys(CONN_PARAMS_CODECS)) assert.ok(md.includes(`### \`conn\` with \`type: ${type}\``), `no conn type ${type}`);
    for (const name of Object.keys(BUILTIN_PARAMS)) assert.ok(md.includes(`### \`${name}\`\n`), `no built-in ${name}`);
    assert.ok(md.includes('| `retry_times` | integer ≥ 0 | no |'));
    assert.ok(md.includes('(default: &lt;flow id&gt;.dlq)'), 'angle brackets outside code must be escaped');
  });
});
