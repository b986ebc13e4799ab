// kistype: flow — an ordered chain of function references (KisFlow), each step with its params (the join
// params of a Load step, join / join_as / join_window_ms, are typed in the step codec).
import * as t from 'io-ts';
import { deadLetterTopic } from '../../kernel/names.js';
import { closed } from '../closed.js';
import { NonEmptyString } from '../primitives.js';
import { docError } from '../report.js';
import { suggest } from '../suggest.js';
import { LoadStepParams } from './func.js';
import { defineKind, explained, originOf, rawId } from './kind.js';

export const FlowStepCodec = closed('KisFlowStep', {}, {
  fid: NonEmptyString,
  fname: NonEmptyString,
  params: t.union([LoadStepParams, t.null]),
}, 'One step of a flow: a function reference and its params.', {
  fid: 'The function to run.',
  fname: "The Go original's name for fid (accepted as an alias).",
  params: "Params for this step; they override the function's default_params key by key. Any keys, except that join, join_as and join_window_ms are a Load step's join params and must have their types on every step.",
});

export const DeadLetterCodec = closed('KisDeadLetter', {}, {
  topic: NonEmptyString,
}, 'Where rows that could not be processed go.', {
  topic: 'The dead-letter topic (default: <flow id>.dlq).',
});

export const FlowCodec = closed('KisFlow', {
  kistype: t.literal('flow'),
  flow_name: NonEmptyString,
  flows: t.array(FlowStepCodec),
}, {
  flow_id: NonEmptyString,
  status: t.union([t.literal(0), t.literal(1)]),
  dead_letter: DeadLetterCodec,
}, 'An ordered chain of function references (KisFlow).', {
  kistype: 'Always flow: tells the loader what this document is.',
  flow_id: 'The id sources refer to (default: flow_name).',
  flow_name: 'A readable name; used in metrics labels.',
  status: '1 enabled (default), 0 disabled: a disabled flow is loaded and validated but never run.',
  flows: 'The steps, in order.',
  dead_letter: "Where this flow's dead letters go.",
});
export type FlowDoc = t.TypeOf<typeof FlowCodec>;

/** A dead-letter topic name that is a valid Kafka topic whatever the flow id is (ids may be any UTF-8). */
export const deadLetterTopicFor = deadLetterTopic;

export const flowKind = defineKind({
  kistype: 'flow',
  codec: FlowCodec,
  idOf: (raw) => rawId(raw, 'flow_id', 'flow_name'),
  collect(entries, ctx) {
    const docs = ctx.docs['flow']!;
    for (const { doc, value } of entries) {
      const id = value.flow_id ?? value.flow_name;
      const prior = docs.get(id);
      if (prior) {
        ctx.errors.push(docError('KIS_ERR_CONFIG_DUPLICATE', doc, [value.flow_id ? 'flow_id' : 'flow_name'], `flow id '${id}' is already declared in ${prior.file} doc ${prior.index}`));
        continue;
      }
      const steps = value.flows.map((s, i) => {
        const fid = s.fid ?? s.fname;
        if (fid === undefined) ctx.errors.push(docError('KIS_ERR_CONFIG_SCHEMA', doc, ['flows', i], 'a flow step needs fid (or fname), found neither'));
        else if (s.fid !== undefined && s.fname !== undefined && s.fid !== s.fname) {
          ctx.errors.push(docError('KIS_ERR_CONFIG_SCHEMA', doc, ['flows', i, 'fname'], `fid '${s.fid}' and fname '${s.fname}' disagree; give one`));
        }
        return { fid: fid ?? '', params: s.params ?? {} };
      });
      if (steps.length === 0) ctx.errors.push(docError('KIS_ERR_CONFIG_SCHEMA', doc, ['flows'], 'a flow needs at least one step'));
      docs.set(id, doc);
      ctx.keep('flow', id, doc);
      ctx.flows.set(id, {
        id,
        name: value.flow_name,
        enabled: (value.status ?? 1) === 1,
        steps,
        deadLetterTopic: value.dead_letter?.topic ?? deadLetterTopicFor(id),
        // The global kind collects first, so its limits are known here.
        limits: ctx.global.limits,
        origin: originOf(doc),
        doc: value,
      });
    }
  },
  check(ctx) {
    for (const fl of ctx.flows.values()) {
      const doc = ctx.docs['flow']!.get(fl.id)!;
      fl.steps.forEach((s, i) => {
        const f = ctx.funcs.get(s.fid);
        if (s.fid !== '' && !f && !explained(ctx, 'func', s.fid)) {
          const key = fl.doc.flows[i]?.fid !== undefined ? 'fid' : 'fname';
          ctx.errors.push(docError('KIS_ERR_CONFIG_REFERENCE', doc, ['flows', i, key], `function '${s.fid}' is not declared by any kistype: func document${suggest(s.fid, ctx.funcs.keys())}`));
        }
      });
      const loads = fl.steps.map((s, i) => ({ i, f: ctx.funcs.get(s.fid) })).filter((x) => x.f?.mode === 'Load');
      const fedBySource = [...ctx.sources.values()].some((s) => s.flows.includes(fl.id));
      if (!fedBySource && loads.length > 0 && loads[0]!.i !== 0) {
        ctx.errors.push(docError('KIS_ERR_CONFIG_REFERENCE', doc, ['flows', loads[0]!.i],
          'no source feeds this flow, so it is driven by its Load connector and the Load step must come first'));
      }
    }
  },
});
