// kistype: conn — a named binding to storage or a transport (KisConnector), and the params of its types.
import { isLeft } from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { closed } from '../closed.js';
import { keyFields, splitList } from '../model.js';
import { IdList, NonEmptyString, ParamsCodec, PositiveInt } from '../primitives.js';
import { docError, reportValidation } from '../report.js';
import { suggest } from '../suggest.js';
import { defineKind, explained, originOf, rawId } from './kind.js';

export const KAFKA_TOPIC = /^[a-zA-Z0-9._-]{1,249}$/;

export const ConnCodec = closed('KisConn', {
  kistype: t.literal('conn'),
  type: NonEmptyString,
}, {
  cid: NonEmptyString,
  cname: NonEmptyString,
  addrs: t.string,
  key: t.union([NonEmptyString, t.array(NonEmptyString)]),
  params: t.union([ParamsCodec, t.null]),
  load: IdList,
  save: IdList,
}, 'A named binding to storage or a transport (KisConnector).', {
  kistype: 'Always conn: tells the loader what this document is.',
  cid: 'The id functions refer to in option.cid (default: cname).',
  cname: 'A readable name (the Go original uses it as the id).',
  addrs: "Addresses, 'host:port,host:port'. For type kafka: overrides the global cluster.",
  type: 'kafka (runs on the embedded log without brokers), or another type served by CaaS calls registered in the pool (redis, mysql, ...).',
  key: "The row fields that make the record key: 'userid_orderid' means fields userid and orderid; a list names fields that contain '_'.",
  params: 'Type-specific settings. kafka: topic, partitions.',
  load: 'The Load functions that use this connector (each must exist and have fmode Load).',
  save: 'The Save functions that use this connector (each must exist and have fmode Save).',
});
export type ConnDoc = t.TypeOf<typeof ConnCodec>;

export const KafkaConnParamsCodec = closed('KisKafkaConnParams', {}, {
  topic: NonEmptyString,
  partitions: PositiveInt,
  replication_factor: PositiveInt,
  acks: t.union([t.literal(-1), t.literal(0), t.literal(1), t.literal('all')]),
  compression: t.keyof({ none: null, gzip: null }),
  table_max_keys: PositiveInt,
  lineage: t.boolean,
  table_restore: t.keyof({ changelog: null, topic: null }),
}, 'params of a connector with type kafka.', {
  topic: 'The topic Save writes to and Load reads from (default: the cid, when it is a valid topic name).',
  partitions: 'Partition count of the topic (default 4). Created with it where the cluster allows; an existing topic with another count stops start-up.',
  replication_factor: 'Replication factor when the topic is created (default: the cluster default).',
  acks: 'Acknowledgements a Save waits for: all (-1, default), 1 (the leader) or 0 (none).',
  compression: 'none (default) or gzip.',
  lineage: 'Give every saved record the kis-lineage header (where its source row was, which flow and function saved it; default true). false saves a little CPU per record; dead letters keep their full position either way.',
  table_restore: 'How the table of a co-partitioned join on this topic is rebuilt after a restart or a rebalance. changelog (default): the table keeps a compacted changelog topic of its own (every saved row is written twice). topic: it is read again from this topic up to the committed offset and writes no changelog (Kafka Streams\' source-topic changelog) - only when this topic keeps every key\'s latest record as long as joins need it (compacted, or retained forever); a table with join_window_ms or a ttl keeps its changelog either way.',
  table_max_keys: 'Keys the join table of the whole topic keeps per replica (joins that are not co-partitioned; default 1000000); past it the least recently saved are evicted and counted in kisflow_state_evictions_total{flow_id="conn:<cid>",store="table"}.',
});

/** Type-specific params codecs, checked after the document itself. */
export const CONN_PARAMS_CODECS = {
  kafka: KafkaConnParamsCodec,
} as const;

export const connKind = defineKind({
  kistype: 'conn',
  codec: ConnCodec,
  idOf: (raw) => rawId(raw, 'cid', 'cname'),
  collect(entries, ctx) {
    const docs = ctx.docs['conn']!;
    for (const { doc, value } of entries) {
      const cid = value.cid ?? value.cname;
      if (cid === undefined) {
        ctx.errors.push(docError('KIS_ERR_CONFIG_SCHEMA', doc, [], 'a conn needs cid or cname (or both), found neither'));
        continue;
      }
      const prior = docs.get(cid);
      if (prior) {
        ctx.errors.push(docError('KIS_ERR_CONFIG_DUPLICATE', doc, [value.cid ? 'cid' : 'cname'], `conn id '${cid}' is already declared in ${prior.file} doc ${prior.index}`));
        continue;
      }
      const params = value.params ?? {};
      const paramsCodec = CONN_PARAMS_CODECS[value.type as keyof typeof CONN_PARAMS_CODECS] as t.Mixed | undefined;
      if (paramsCodec) {
        const res = paramsCodec.decode(params);
        if (isLeft(res)) ctx.errors.push(...reportValidation(doc, res.left, { prefix: ['params'], what: `params of type ${value.type}` }));
      }
      if (value.type === 'kafka' && params['topic'] === undefined && !KAFKA_TOPIC.test(cid)) {
        ctx.errors.push(docError('KIS_ERR_CONFIG_SCHEMA', doc, ['params'],
          `conn '${cid}' is not a valid Kafka topic name (letters, digits, '.', '_', '-'), so params.topic is required`));
      }
      docs.set(cid, doc);
      ctx.keep('conn', cid, doc);
      ctx.conns.set(cid, {
        cid,
        name: value.cname ?? cid,
        type: value.type,
        addrs: splitList(value.addrs),
        key: keyFields(value.key),
        params,
        load: value.load ?? [],
        save: value.save ?? [],
        origin: originOf(doc),
        doc: value,
      });
    }
  },
  check(ctx) {
    for (const c of ctx.conns.values()) {
      const doc = ctx.docs['conn']!.get(c.cid)!;
      for (const [list, mode] of [['save', 'Save'], ['load', 'Load']] as const) {
        c[list].forEach((fid, i) => {
          const f = ctx.funcs.get(fid);
          if (!f) {
            if (!explained(ctx, 'func', fid)) {
              ctx.errors.push(docError('KIS_ERR_CONFIG_REFERENCE', doc, [list, i], `function '${fid}' is not declared by any kistype: func document${suggest(fid, ctx.funcs.keys())}`));
            }
          } else if (f.mode !== mode) {
            ctx.errors.push(docError('KIS_ERR_CONFIG_REFERENCE', doc, [list, i], `function '${fid}' is listed under ${list} but its fmode is ${f.mode}, expected ${mode}`));
          } else if (f.cid !== undefined && f.cid !== c.cid) {
            ctx.errors.push(docError('KIS_ERR_CONFIG_REFERENCE', doc, [list, i], `function '${fid}' goes through connector '${f.cid}' (its option.cid), not '${c.cid}'`));
          }
        });
      }
    }
  },
});
