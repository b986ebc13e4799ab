// kistype: source — a named upstream that produces batches of rows (KisSource), and the params of each type.
import { isLeft } from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { closed } from '../closed.js';
import { splitList } from '../model.js';
import { NonEmptyString, NonNegativeInt, ParamsCodec, PositiveInt } from '../primitives.js';
import { docError, reportValidation } from '../report.js';
import { suggest } from '../suggest.js';
import type { KisError } from '../../kernel/errors.js';
import type { YamlDoc } from '../yaml-docs.js';
import { defineKind, explained, originOf, rawId } from './kind.js';

/** A binlog source's start: end, beginning, '<file>:<pos>' or 'gtid:<set>'. */
export const BINLOG_START = /^(end|beginning|[^:\s]+:\d+|gtid:.*)$/;

export const SourceType = t.keyof({ file: null, generator: null, stdin: null, kafka: null, binlog: null }, 'SourceType');

export const SourceCodec = closed('KisSource', {
  kistype: t.literal('source'),
  sid: NonEmptyString,
  type: SourceType,
  flows: t.array(NonEmptyString),
}, {
  sname: t.string,
  addrs: t.string,
  params: t.union([ParamsCodec, t.null]),
}, 'A named upstream that produces batches of rows (KisSource).', {
  kistype: 'Always source: tells the loader what this document is.',
  sid: 'The id.',
  sname: 'A readable name.',
  type: 'file (JSON lines), generator, stdin, kafka (a consumer group; needs kafka.brokers or addrs), binlog (MySQL / MariaDB row binlog).',
  addrs: "Addresses of the upstream: for kafka, brokers 'host:port,...' overriding the global cluster; for binlog, the database 'host:port'.",
  params: 'Type-specific settings (see the source types).',
  flows: 'The flows (flow_id) every batch of this source runs through.',
});

export const FileSourceParams = closed('KisFileSourceParams', {
  path: NonEmptyString,
}, {
  batch_size: PositiveInt,
}, 'params of a source with type file: one JSON object per line.', {
  path: 'The JSON-lines file, relative to the config directory.',
  batch_size: 'Rows per batch (default 500).',
});

export const GeneratorSourceParams = closed('KisGeneratorSourceParams', {
  template: ParamsCodec,
}, {
  count: NonNegativeInt,
  rate: PositiveInt,
  batch_size: PositiveInt,
  partitions: PositiveInt,
  key: t.union([NonEmptyString, t.array(NonEmptyString)]),
}, 'params of a source with type generator: rows made from a template.', {
  template: "A row: string values written '{{ expr }}' are JSONata expressions evaluated with $seq (0, 1, 2, ...); other values are copied.",
  count: 'How many rows, then the source ends (absent: endless).',
  rate: 'Rows per second at most (absent: as fast as the flows take them).',
  batch_size: 'Rows per batch (default 500).',
  partitions: 'Spread rows over this many partitions by key (default 1).',
  key: 'Row fields that choose the partition (required with partitions > 1).',
});

export const StdinSourceParams = closed('KisStdinSourceParams', {}, {
  batch_size: PositiveInt,
  max_wait_ms: PositiveInt,
}, 'params of a source with type stdin: one JSON object per line on standard input.', {
  batch_size: 'Rows per batch at most (default 500).',
  max_wait_ms: 'A partial batch is handed on after this many milliseconds (default 200).',
});

export const KafkaSourceParams = closed('KisKafkaSourceParams', {
  topics: t.array(NonEmptyString),
}, {
  group_id: NonEmptyString,
  from_beginning: t.boolean,
  max_batch_rows: PositiveInt,
  max_wait_ms: PositiveInt,
  value_format: t.keyof({ json: null, string: null, bytes: null }),
  partitions_concurrently: PositiveInt,
  commit_interval_ms: NonNegativeInt,
}, 'params of a source with type kafka: a consumer group over topics.', {
  topics: 'The topics to consume.',
  group_id: 'The consumer group (default: <app_id>.<sid>). Replicas with the same group split the partitions.',
  from_beginning: 'With no committed offset, start at the oldest record (default false: only new records).',
  max_batch_rows: 'Rows per batch handed to the flows at most (default 500).',
  max_wait_ms: 'How long the broker may wait for records before answering a fetch (default 100).',
  value_format: 'json (default: each value is a JSON object row), string ({ value: text }) or bytes ({ value: base64 }).',
  partitions_concurrently: 'Partitions processed at the same time, each in order (default 4).',
  commit_interval_ms: 'Commit offsets at most this often per partition (as Kafka Streams\' commit.interval.ms), always only after what the records produced is acknowledged. 0 (default) commits after every chunk of max_batch_rows, so a crash repeats at most two chunks per partition; a larger value repeats up to that many milliseconds of input but spends fewer requests. A graceful stop commits what is processed either way.',
});

export const BinlogTlsCodec = closed('KisBinlogTls', {}, {
  ca: t.string,
  cert: t.string,
  key: t.string,
  reject_unauthorized: t.boolean,
}, 'TLS to the database. Values are PEM text (use ${VAR} to read them from Secrets).', {
  ca: 'CA certificate(s), PEM.',
  cert: 'Client certificate, PEM (mutual TLS).',
  key: 'Client key, PEM (mutual TLS).',
  reject_unauthorized: "Verify the server's certificate (default true).",
});

export const BinlogSourceParams = closed('KisBinlogSourceParams', {
  user: NonEmptyString,
  tables: t.array(NonEmptyString),
}, {
  password: t.string,
  exclude: t.array(NonEmptyString),
  server_id: PositiveInt,
  start: NonEmptyString,
  snapshot: t.keyof({ none: null, initial: null }),
  snapshot_chunk_rows: PositiveInt,
  max_batch_rows: PositiveInt,
  partitions: PositiveInt,
  tls: t.union([t.boolean, BinlogTlsCodec]),
  checkpoint_file: NonEmptyString,
  checkpoint_topic: NonEmptyString,
  connect_retries: NonNegativeInt,
  on_position_lost: t.keyof({ stop: null, resnapshot: null }),
  signal_table: NonEmptyString,
}, 'params of a source with type binlog: the row changes of MySQL 5.7/8.x or MariaDB tables (zongji).', {
  user: 'The replication user (needs REPLICATION SLAVE, REPLICATION CLIENT / BINLOG MONITOR, and SELECT on the tables for a snapshot).',
  password: 'Its password: write ${MYSQL_PASSWORD}, never the password itself.',
  tables: "Tables to read, 'schema.table'; '*' matches any run of characters ('shop.*', '*.orders').",
  exclude: 'Tables to leave out, same patterns as tables (default none).',
  server_id: 'The replica server id this reader announces; unique among the replicas of the database (default: derived from app_id and sid).',
  start: "Where to begin when there is no checkpoint: end (default), beginning, '<file>:<pos>' or 'gtid:<set>'.",
  snapshot: 'none (default), or initial: read the existing rows of the tables first (op r), then the binlog from where the snapshot began.',
  snapshot_chunk_rows: 'Rows per snapshot SELECT, in primary-key order (default 1000); progress is checkpointed per chunk.',
  max_batch_rows: 'Rows per batch at most; a transaction is never split, so a larger one makes a larger batch (default 500).',
  partitions: 'Spread rows over this many partitions by primary key (default 1): each partition runs in order, so changes to one key stay ordered.',
  tls: 'true for TLS with the system CAs, or a mapping with ca / cert / key / reject_unauthorized.',
  checkpoint_file: 'Keep the checkpoint in this file (relative to the config directory). Default: the Kafka topic in Kafka mode, .kisflow/<sid>.binlog.json under the config directory in embedded mode.',
  checkpoint_topic: 'The Kafka topic of checkpoints, keyed by sid (default <app_id>.binlog-checkpoints).',
  connect_retries: 'Reconnect attempts after a lost connection before the source fails (default 10, with backoff up to 10 s).',
  on_position_lost: 'When the server no longer has the checkpointed position and no GTID resume is possible: stop (default, KIS_ERR_BINLOG_POSITION), or resnapshot: read the tables again (op r) and go on from the current position.',
  signal_table: "A table 'schema.table' (id, type, data) whose inserts, read from the binlog, request snapshots of followed tables: type 'snapshot', data {\"tables\": [...], \"where\": \"...\"} (default none).",
});
export type SourceDoc = t.TypeOf<typeof SourceCodec>;

/** Type-specific params codecs, checked after the document itself. */
export const SOURCE_PARAMS_CODECS = {
  file: FileSourceParams,
  generator: GeneratorSourceParams,
  stdin: StdinSourceParams,
  kafka: KafkaSourceParams,
  binlog: BinlogSourceParams,
} as const;

export const sourceKind = defineKind({
  kistype: 'source',
  codec: SourceCodec,
  idOf: (raw) => rawId(raw, 'sid'),
  collect(entries, ctx) {
    const docs = ctx.docs['source']!;
    for (const { doc, value } of entries) {
      const prior = docs.get(value.sid);
      if (prior) {
        ctx.errors.push(docError('KIS_ERR_CONFIG_DUPLICATE', doc, ['sid'], `source id '${value.sid}' is already declared in ${prior.file} doc ${prior.index}`));
        continue;
      }
      const params = value.params ?? {};
      checkParams(value, params, doc, ctx.errors);
      docs.set(value.sid, doc);
      ctx.keep('source', value.sid, doc);
      ctx.sources.set(value.sid, {
        sid: value.sid,
        name: value.sname ?? value.sid,
        type: value.type,
        addrs: splitList(value.addrs),
        params,
        flows: value.flows,
        origin: originOf(doc),
        doc: value,
      });
    }
  },
  check(ctx) {
    for (const s of ctx.sources.values()) {
      const doc = ctx.docs['source']!.get(s.sid)!;
      if (s.type === 'kafka' && s.addrs.length === 0 && !ctx.global.kafka) {
        ctx.errors.push(docError('KIS_ERR_CONFIG_REFERENCE', doc, ['type'],
          'a kafka source needs brokers: set kafka.brokers in the kistype: global document, or addrs on this source'));
      }
      s.flows.forEach((id, i) => {
        if (!ctx.flows.has(id) && !explained(ctx, 'flow', id)) {
          ctx.errors.push(docError('KIS_ERR_CONFIG_REFERENCE', doc, ['flows', i], `flow '${id}' is not declared by any kistype: flow document${suggest(id, ctx.flows.keys())}`));
        }
      });
    }
  },
});

function checkParams(value: SourceDoc, params: Readonly<Record<string, unknown>>, doc: YamlDoc, errors: KisError[]): void {
  const paramsCodec = SOURCE_PARAMS_CODECS[value.type as keyof typeof SOURCE_PARAMS_CODECS] as t.Mixed | undefined;
  if (!paramsCodec) {
    errors.push(docError('KIS_ERR_CONFIG_UNSUPPORTED', doc, ['type'],
      `source type '${value.type}' is part of the contract but not in this build yet; use file, generator, stdin, kafka or binlog`));
    return;
  }
  const res = paramsCodec.decode(params);
  if (isLeft(res)) {
    errors.push(...reportValidation(doc, res.left, { prefix: ['params'], what: `params of type ${value.type}` }));
  } else if (value.type === 'generator') {
    const p = res.right as { partitions?: number; key?: unknown };
    if ((p.partitions ?? 1) > 1 && p.key === undefined) {
      errors.push(docError('KIS_ERR_CONFIG_SCHEMA', doc, ['params', 'partitions'], 'a generator with partitions > 1 needs params.key (the fields that choose the partition)'));
    }
  } else if (value.type === 'binlog') {
    const p = res.right as { start?: string; tables: string[]; exclude?: string[] };
    if (p.start !== undefined && !BINLOG_START.test(p.start)) {
      errors.push(docError('KIS_ERR_CONFIG_SCHEMA', doc, ['params', 'start'], `expected end, beginning, '<file>:<pos>' or 'gtid:<set>', found '${p.start}'`));
    }
    for (const [field, list] of [['tables', p.tables], ['exclude', p.exclude ?? []]] as const) {
      list.forEach((pattern, i) => {
        if (!/^[^.]+\.[^.]+$/.test(pattern)) errors.push(docError('KIS_ERR_CONFIG_SCHEMA', doc, ['params', field, i], `expected 'schema.table' ('*' as a wildcard), found '${pattern}'`));
      });
    }
    if (splitList(value.addrs).length !== 1) {
      errors.push(docError('KIS_ERR_CONFIG_SCHEMA', doc, ['addrs'], "a binlog source needs addrs: the database 'host:port' (one address)"));
    }
  }
}
