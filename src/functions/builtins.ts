// Functions usable from YAML with no code: kis.print, kis.filter, kis.map, kis.sink, kis.window.
// Each checks its params when the flow is built and compiles its expressions once.
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import path from 'node:path';
import * as t from 'io-ts';
import { closed } from '../config/closed.js';
import { NonEmptyString } from '../config/codecs.js';
import { keyFields } from '../config/model.js';
import { KisError } from '../kernel/errors.js';
import { rowToJson } from '../kernel/json.js';
import { compileExpression, NEEDS_ASYNC, truthy, type CompiledExpression } from '../kernel/expression.js';
import type { Row } from '../kernel/types.js';
import type { FaasHandler } from '../core/context.js';
import type { KisPool, PrepareEnv } from '../core/pool.js';
import { checkParams } from './check-params.js';
import { WindowParams, windowAggregate } from './window.js';

export const FilterParams = closed('KisFilterParams', { where: NonEmptyString }, {},
  'kis.filter: keeps the rows for which `where` is true. As a Verify function it rejects the others to the dead-letter sink; otherwise it drops them.',
  { where: 'A JSONata expression over the row, e.g. "amount > 100 and status = \'paid\'".' });

export const MapParams = closed('KisMapParams', {}, {
  set: t.record(t.string, t.string),
  expr: NonEmptyString,
  remove: t.array(NonEmptyString),
}, 'kis.map: reshapes each row. `expr` (if given) builds the new row; then `set` adds or replaces fields; then `remove` drops fields.', {
  set: 'Field name -> JSONata expression over the input row.',
  expr: 'A JSONata expression that yields the whole new row (an object).',
  remove: 'Fields to drop from the result.',
});

export const SinkParams = closed('KisSinkParams', { to: t.union([t.keyof({ stdout: null, stderr: null, file: null, topic: null, none: null }), t.null]) }, {
  path: NonEmptyString,
  topic: NonEmptyString,
  key: t.union([NonEmptyString, t.array(NonEmptyString)]),
  label: NonEmptyString,
}, 'kis.sink: an Expand function that writes each row as one JSON line (or one record of a topic), and passes the rows on.', {
  to: 'stdout, stderr, file (needs path), topic (needs topic: a Kafka topic, or the embedded log), or none (also written null: discards, for benchmarks).',
  path: 'The file to append to, relative to the config directory (to: file).',
  topic: 'The topic to write to (to: topic); each row is one JSON record, acknowledged before the batch commits.',
  key: "Row fields that make the record key (to: topic), in the connectors' style: 'userid_orderid' or a list.",
  label: 'to: stdout or stderr: each line starts with [label], so a person can tell the rows of this sink from other output (files and topics stay plain JSON).',
});

export const BUILTIN_PARAMS: Readonly<Record<string, t.Mixed | undefined>> = {
  'kis.print': undefined,
  'kis.filter': FilterParams,
  'kis.map': MapParams,
  'kis.sink': SinkParams,
  'kis.window': WindowParams,
};

function writeAsync(out: PrepareEnv['stdout'], text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    out.write(text, (err) => (err ? reject(err) : resolve()));
  });
}

// `label` (a non-empty string) replaces flow/fid at the head of the line; the other params follow it.
const print = (params: Readonly<Record<string, unknown>>, env: PrepareEnv): FaasHandler => {
  const label = typeof params['label'] === 'string' && params['label'] !== '' ? params['label'] : undefined;
  const args = Object.entries(params).filter(([k]) => !(k === 'label' && label !== undefined))
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' ');
  return async (flow, rows) => {
    const head = `[${label ?? `${flow.flowId}/${flow.fid}`}${args ? ' ' + args : ''}]`;
    await writeAsync(env.stdout, rows.map((r) => `${head} ${rowToJson(r)}\n`).join(''));
    for (const r of rows) flow.commitRow(r, r);
  };
};

const filter = (params: Readonly<Record<string, unknown>>, env: PrepareEnv): FaasHandler => {
  const p = checkParams(FilterParams, params, env.where);
  const where = compileExpression(p.where, `${env.where} params.where`);
  const reason = `where ${JSON.stringify(p.where)} is false`;
  return async (flow, rows) => {
    for (const r of rows) {
      // A compiled expression answers without a promise; JSONata's evaluation is awaited only when needed.
      let v = where.evaluateSync(r);
      if (v === NEEDS_ASYNC) v = await where.evaluate(r);
      if (truthy(v)) flow.commitRow(r, r);
      else if (flow.mode === 'Verify') flow.reject(r, reason);
    }
  };
};

const hasOwn = Object.prototype.hasOwnProperty;

/**
 * A shallow copy of a row that fields can be added to. Not `{ ...r }`: on Node 20 adding a property to
 * an object made by spread costs about a microsecond (its shape is not in V8's transition tree), after
 * Object.assign it costs nothing. Object.assign would set the prototype for a "__proto__" key: spread then.
 */
function copyRow(r: Row): Row {
  return hasOwn.call(r, '__proto__') ? { ...r } : Object.assign({}, r);
}

/** A copy without the removed fields (rather than `delete`, which turns the row into a slow dictionary). */
function copyWithout(r: Row, drop: ReadonlySet<string>): Row {
  if (hasOwn.call(r, '__proto__')) {
    const out = { ...r };
    for (const k of drop) delete out[k];
    return out;
  }
  const out: Row = {};
  for (const k of Object.keys(r)) if (!drop.has(k)) out[k] = r[k];
  return out;
}

const map = (params: Readonly<Record<string, unknown>>, env: PrepareEnv): FaasHandler => {
  const p = checkParams(MapParams, params, env.where);
  if (!p.expr && !p.set && !p.remove) {
    throw new KisError('KIS_ERR_CONFIG_SCHEMA', `${env.where}: kis.map needs at least one of params.expr, params.set, params.remove`);
  }
  const expr = p.expr ? compileExpression(p.expr, `${env.where} params.expr`) : undefined;
  const setKeys = Object.keys(p.set ?? {});
  const setExprs: CompiledExpression[] = setKeys.map((k) => compileExpression(p.set![k]!, `${env.where} params.set.${k}`));
  const remove = new Set<string>(p.remove ?? []);
  // A set field that is also removed is still evaluated (its errors count), never written.
  const setWrites = setKeys.map((k) => !remove.has(k));
  return async (flow, rows) => {
    for (const r of rows) {
      let base: Row = r;
      if (expr) {
        let v = expr.evaluateSync(r);
        if (v === NEEDS_ASYNC) v = await expr.evaluate(r);
        if (typeof v !== 'object' || v === null || Array.isArray(v)) {
          flow.reject(r, `params.expr ${JSON.stringify(expr.text)} gave ${v === undefined ? 'nothing' : JSON.stringify(v)}, not an object`);
          continue;
        }
        base = v as Row;
      }
      const out = remove.size > 0 ? copyWithout(base, remove) : copyRow(base);
      for (let j = 0; j < setKeys.length; j++) {
        const e = setExprs[j]!;
        let v = e.evaluateSync(r);
        if (v === NEEDS_ASYNC) v = await e.evaluate(r);
        if (setWrites[j]) out[setKeys[j]!] = v;
      }
      flow.commitRow(out, r);
    }
  };
};

const sink = (params: Readonly<Record<string, unknown>>, env: PrepareEnv): FaasHandler => {
  const p = checkParams(SinkParams, params, env.where);
  let out: PrepareEnv['stdout'] | undefined;
  if (p.to === 'stdout') out = env.stdout;
  else if (p.to === 'stderr') out = process.stderr;
  else if (p.to === 'topic') {
    if (!p.topic) throw new KisError('KIS_ERR_CONFIG_SCHEMA', `${env.where}: kis.sink with to: topic needs params.topic`);
    if (!env.topic) throw new KisError('KIS_ERR_CONFIG_UNSUPPORTED', `${env.where}: kis.sink with to: topic needs a service with a log (embedded or Kafka)`);
    const writer = env.topic(p.topic);
    const key = keyFields(p.key);
    return async (flow, rows) => {
      if (rows.length > 0) await writer.write(rows, key);
      for (const r of rows) flow.commitRow(r, r);
    };
  } else if (p.to === 'file') {
    if (!p.path) throw new KisError('KIS_ERR_CONFIG_SCHEMA', `${env.where}: kis.sink with to: file needs params.path`);
    const file = path.resolve(env.configDir, p.path);
    // Opened on the first write, so that building a flow (kisflow validate) creates no file.
    let stream: WriteStream | undefined;
    out = {
      write(text, cb) {
        if (!stream) {
          mkdirSync(path.dirname(file), { recursive: true });
          stream = createWriteStream(file, { flags: 'a' });
        }
        return stream.write(text, cb);
      },
    };
    env.onClose(() => new Promise<void>((resolve) => (stream ? stream.end(() => resolve()) : resolve())));
  }
  const prefix = p.label !== undefined && (p.to === 'stdout' || p.to === 'stderr') ? `[${p.label}] ` : '';
  return async (flow, rows) => {
    if (out && rows.length > 0) await writeAsync(out, rows.map((r) => prefix + rowToJson(r) + '\n').join(''));
    for (const r of rows) flow.commitRow(r, r);
  };
};

export function registerBuiltins(pool: KisPool): KisPool {
  return pool
    .builtin('kis.print', print)
    .builtin('kis.filter', filter)
    .builtin('kis.map', map)
    .builtin('kis.sink', sink)
    .builtin('kis.window', windowAggregate, { state: true, ticks: true });
}
