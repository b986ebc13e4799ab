// kistype: func — one named unit of logic (KisFunction): its mode, the fields its rows must have, its
// connector, retries, default params and keyed state.
import * as t from 'io-ts';
import { isLeft } from 'fp-ts/lib/Either.js';
import { closed, openMapping } from '../closed.js';
import { MODE_NAMES } from '../model.js';
import { FMode, NonEmptyString, NonNegativeInt, ParamsCodec, PositiveInt } from '../primitives.js';
import { docError, reportValidation } from '../report.js';
import { suggest } from '../suggest.js';
import { defineKind, explained, originOf, rawId } from './kind.js';

export const LoadStepParams = openMapping('KisLoadStepParams', {
  join: t.keyof({ inner: null, left: null }),
  join_as: NonEmptyString,
  join_window_ms: PositiveInt,
}, "Params of a flow step: any keys, with the join params of a Load step that joins (one fed by a source's rows, not by its own topic) typed. " +
  "A Load function's default_params are checked against it too.", {
  join: 'inner (default): a row goes on only with its match; left: a row whose match never arrives goes on without it.',
  join_as: 'Nest the saved row under this field instead of merging its fields into the row.',
  join_window_ms: 'How long a held row waits for its match and a saved row matches (absent: no limit). ' +
    'An inner-join row past it goes to the dead-letter sink (KIS_ERR_JOIN_EXPIRED); a left-join row goes on unmatched.',
});

export const FuncSourceCodec = closed('KisFuncSource', {
  name: t.string,
}, {
  must: t.union([t.array(NonEmptyString), t.null]),
}, 'What the function reads: a description and the fields every input row must have.', {
  name: 'A description of the rows this function reads.',
  must: 'Fields every input row must carry; a row missing one is rejected with the reason, before the function runs.',
});

export const FuncStateCodec = closed('KisFuncState', {}, {
  max_keys: PositiveInt,
  ttl_ms: PositiveInt,
}, 'Keyed state of the function (flow.state() in its code): in memory per partition, backed by a changelog topic <app_id>.<flow>.<fid>.changelog.', {
  max_keys: 'Keys kept per partition at most (default 100000); past it the least recently written are evicted and counted in kisflow_state_evictions_total.',
  ttl_ms: 'Entries expire this many milliseconds after their last write (absent: never, unless set() gives its own ttl).',
});

export const FuncOptionCodec = closed('KisFuncOption', {}, {
  cid: t.string,
  cname: t.string,
  retry_times: NonNegativeInt,
  retry_duration: NonNegativeInt,
  return_duration: NonNegativeInt,
  default_params: t.union([ParamsCodec, t.null]),
  state: t.union([FuncStateCodec, t.null]),
}, 'Optional settings of a function.', {
  cid: 'The connector a Save or Load function goes through.',
  cname: "The Go original's name for cid (accepted as an alias).",
  retry_times: 'Retries of a failing call (retriable errors only); then the call\'s rows are retried in halves to find the failing ones, which go to the dead-letter sink.',
  retry_duration: 'Milliseconds before the first retry; each next retry waits twice as long.',
  return_duration: "The Go original's spelling of retry_duration (accepted as an alias).",
  default_params: 'Params every flow step of this function gets; a flow step\'s own params override them.',
  state: 'Declares keyed state for the function (empty mapping {} for the defaults). Built-ins that keep state (kis.window) declare it themselves; this sets their bounds.',
});

export const FuncCodec = closed('KisFunc', {
  kistype: t.literal('func'),
  fmode: FMode,
}, {
  fid: NonEmptyString,
  fname: NonEmptyString,
  source: FuncSourceCodec,
  option: FuncOptionCodec,
}, 'One named unit of logic (KisFunction).', {
  kistype: 'Always func: tells the loader what this document is.',
  fid: 'The id flows refer to (default: fname).',
  fname: 'The implementation: a FaaS registered by a function module, or a built-in (kis.print, kis.filter, kis.map, kis.sink, kis.window). Default: fid.',
  fmode: 'Verify, Save, Load, Calculate or Expand (or V, S, L, C, E).',
  source: 'The rows it reads and the fields they must have.',
  option: 'Connector, retries and default params.',
});
export type FuncDoc = t.TypeOf<typeof FuncCodec>;

export const funcKind = defineKind({
  kistype: 'func',
  codec: FuncCodec,
  idOf: (raw) => rawId(raw, 'fid', 'fname'),
  collect(entries, ctx) {
    const docs = ctx.docs['func']!;
    for (const { doc, value } of entries) {
      const fid = value.fid ?? value.fname;
      const fname = value.fname ?? value.fid;
      if (fid === undefined || fname === undefined) {
        ctx.errors.push(docError('KIS_ERR_CONFIG_SCHEMA', doc, [], 'a func needs fid or fname (or both), found neither'));
        continue;
      }
      const prior = docs.get(fid);
      if (prior) {
        ctx.errors.push(docError('KIS_ERR_CONFIG_DUPLICATE', doc, [value.fid ? 'fid' : 'fname'],
          `func id '${fid}' is already declared in ${prior.file} doc ${prior.index}`));
        continue;
      }
      const opt = value.option ?? {};
      if (opt.cid !== undefined && opt.cname !== undefined && opt.cid !== opt.cname && opt.cid !== '' && opt.cname !== '') {
        ctx.errors.push(docError('KIS_ERR_CONFIG_SCHEMA', doc, ['option', 'cname'], `option.cid '${opt.cid}' and option.cname '${opt.cname}' disagree; give one`));
      }
      if (opt.retry_duration !== undefined && opt.return_duration !== undefined && opt.retry_duration !== opt.return_duration) {
        ctx.errors.push(docError('KIS_ERR_CONFIG_SCHEMA', doc, ['option', 'return_duration'], 'option.retry_duration and its alias option.return_duration disagree; give one'));
      }
      docs.set(fid, doc);
      ctx.keep('func', fid, doc);
      ctx.funcs.set(fid, {
        fid,
        fname,
        mode: MODE_NAMES[value.fmode]!,
        sourceName: value.source?.name ?? '',
        must: value.source?.must ?? [],
        cid: opt.cid || opt.cname || undefined,
        retryTimes: opt.retry_times ?? 0,
        retryDuration: opt.retry_duration ?? opt.return_duration ?? 0,
        defaultParams: opt.default_params ?? {},
        state: opt.state ? { maxKeys: opt.state.max_keys, ttlMs: opt.state.ttl_ms } : undefined,
        origin: originOf(doc),
        doc: value,
      });
    }
  },
  check(ctx) {
    for (const f of ctx.funcs.values()) {
      const doc = ctx.docs['func']!.get(f.fid)!;
      const cidPath = ['option', f.doc.option?.cid ? 'cid' : 'cname'];
      if (f.cid !== undefined && !ctx.conns.has(f.cid) && !explained(ctx, 'conn', f.cid)) {
        ctx.errors.push(docError('KIS_ERR_CONFIG_REFERENCE', doc, cidPath, `connector '${f.cid}' is not declared by any kistype: conn document${suggest(f.cid, ctx.conns.keys())}`));
      }
      if ((f.mode === 'Save' || f.mode === 'Load') && f.cid === undefined) {
        ctx.errors.push(docError('KIS_ERR_CONFIG_REFERENCE', doc, ['option'], `a ${f.mode} function needs option.cid naming the connector it goes through`));
      }
      if (f.mode === 'Load') {
        const res = LoadStepParams.decode(f.defaultParams);
        if (isLeft(res)) ctx.errors.push(...reportValidation(doc, res.left, { prefix: ['option', 'default_params'], what: 'default_params of a Load function' }));
      }
      if (f.cid !== undefined && f.mode !== 'Save' && f.mode !== 'Load' && ctx.conns.has(f.cid)) {
        ctx.errors.push(docError('KIS_ERR_CONFIG_REFERENCE', doc, cidPath, `a ${f.mode} function has no use for a connector; only Save and Load functions go through one`));
      }
    }
  },
});
