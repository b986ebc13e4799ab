// The single spec of the YAML contract. These io-ts codecs are the TypeScript types (t.TypeOf),
// the validator, and the source of the JSON Schemas in schemas/ (scripts/gen-schemas.ts).
import * as t from 'io-ts';
import { closed } from './closed.js';

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
const IdList = t.union([t.array(NonEmptyString), t.null], 'IdList');

export const FMode = t.keyof(
  { Verify: null, Save: null, Load: null, Calculate: null, Expand: null, V: null, S: null, L: null, C: null, E: null },
  'FMode',
);
export type FullMode = 'Verify' | 'Save' | 'Load' | 'Calculate' | 'Expand';

// ---- kistype: global -------------------------------------------------------------------------
export const KafkaTlsCodec = closed('KafkaTls', {}, {
  ca: t.string,
  cert: t.string,
  key: t.string,
  reject_unauthorized: t.boolean,
}, 'TLS to the brokers. Values are PEM text (use ${VAR} to read them from Secrets).', {
  ca: 'CA certificate(s), PEM.',
  cert: 'Client certificate, PEM (mutual TLS).',
  key: 'Client key, PEM (mutual TLS).',
  reject_unauthorized: 'Verify the brokers\' certificates (default true).',
});

export const KafkaSaslCodec = closed('KafkaSasl', {
  mechanism: t.keyof({ plain: null, 'scram-sha-256': null, 'scram-sha-512': null }),
  username: NonEmptyString,
  password: t.string,
}, {}, 'SASL authentication. Write the password as ${VAR}, never in the YAML.', {
  mechanism: 'plain, scram-sha-256 or scram-sha-512.',
  username: 'The user.',
  password: 'The password (from the environment: ${KAFKA_PASSWORD}).',
});

export const KafkaClusterCodec = closed('KafkaCluster', {
  brokers: t.union([t.string, t.array(NonEmptyString)]),
}, {
  client_id: NonEmptyString,
  tls: t.union([t.boolean, KafkaTlsCodec]),
  sasl: KafkaSaslCodec,
  connection_timeout_ms: PositiveInt,
}, 'The Kafka cluster every kafka source and connector uses unless it sets its own addrs.', {
  brokers: "Bootstrap brokers, 'host:port,host:port' or a list. An empty string (e.g. '${KAFKA_BROKERS:-}' unset) means embedded mode.",
  client_id: 'Kafka client id (default: app_id).',
  tls: 'true for TLS with the system CAs, or a mapping with ca / cert / key / reject_unauthorized.',
  sasl: 'SASL credentials.',
  connection_timeout_ms: 'How long one connection attempt to a broker may take (default 3000).',
});

export const GlobalCodec = closed('KisGlobal', {
  kistype: t.literal('global'),
}, {
  prometheus_enable: t.boolean,
  prometheus_listen: t.boolean,
  prometheus_serve: NonEmptyString,
  app_id: NonEmptyString,
  kafka: KafkaClusterCodec,
  functions: t.array(NonEmptyString),
  drain_timeout_ms: PositiveInt,
  reload_interval_ms: NonNegativeInt,
}, 'Service-wide settings: metrics, the Kafka cluster, where function modules live.', {
  kistype: 'Always global: tells the loader what this document is.',
  prometheus_enable: 'Answer /metrics with the Prometheus metrics (kisflow run collects them either way).',
  prometheus_listen: 'Serve the HTTP endpoints (/metrics, /healthz, /readyz) on prometheus_serve.',
  prometheus_serve: "host:port of the HTTP endpoints, e.g. '0.0.0.0:20004'.",
  app_id: 'Names consumer groups and internal topics (default: kisflow).',
  kafka: 'The Kafka cluster. Absent: connectors of type kafka run on the embedded in-process log.',
  functions: 'Function modules (files or folders, relative to the config directory) whose default export registers FaaS/CaaS in the pool.',
  drain_timeout_ms: 'On SIGTERM, how long in-flight batches may take to finish and commit before the process exits anyway (default 30000).',
  reload_interval_ms: 'How often kisflow run looks for a changed config directory (Kafka mode); 0 turns hot reload off (default 2000).',
});

// ---- kistype: func ---------------------------------------------------------------------------
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
  retry_times: 'Retries of a failing call (retriable errors only) before its rows go to the dead-letter sink.',
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

// ---- kistype: flow ---------------------------------------------------------------------------
export const FlowStepCodec = closed('KisFlowStep', {}, {
  fid: NonEmptyString,
  fname: NonEmptyString,
  params: t.union([ParamsCodec, t.null]),
}, 'One step of a flow: a function reference and its params.', {
  fid: 'The function to run.',
  fname: "The Go original's name for fid (accepted as an alias).",
  params: "Params for this step; they override the function's default_params key by key.",
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

// ---- kistype: conn ---------------------------------------------------------------------------
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

export const KafkaConnParamsCodec = closed('KisKafkaConnParams', {}, {
  topic: NonEmptyString,
  partitions: PositiveInt,
  replication_factor: PositiveInt,
  acks: t.union([t.literal(-1), t.literal(0), t.literal(1), t.literal('all')]),
  compression: t.keyof({ none: null, gzip: null }),
  table_max_keys: PositiveInt,
  lineage: t.boolean,
}, 'params of a connector with type kafka.', {
  topic: 'The topic Save writes to and Load reads from (default: the cid, when it is a valid topic name).',
  partitions: 'Partition count of the topic (default 4). Created with it where the cluster allows; an existing topic with another count stops start-up.',
  replication_factor: 'Replication factor when the topic is created (default: the cluster default).',
  acks: 'Acknowledgements a Save waits for: all (-1, default), 1 (the leader) or 0 (none).',
  compression: 'none (default) or gzip.',
  lineage: 'Give every saved record the kis-lineage header (where its source row was, which flow and function saved it; default true). false saves a little CPU per record; dead letters keep their full position either way.',
  table_max_keys: 'Keys the join table of the whole topic keeps per replica (joins that are not co-partitioned; default 1000000); past it the least recently saved are evicted and counted in kisflow_state_evictions_total{flow_id="conn:<cid>",store="table"}.',
});

// ---- kistype: source -------------------------------------------------------------------------
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

/** A codec's type without its brands, for params built in code (tests, embedding applications). */
export type Unbranded<T> = T extends t.Branded<infer A, unknown>
  ? A
  : T extends ReadonlyArray<infer E> ? Array<Unbranded<E>>
    : T extends object ? { [K in keyof T]: Unbranded<T[K]> } : T;

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
  exclude: "Tables to leave out, same patterns as tables (default none).",
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

export type GlobalDoc = t.TypeOf<typeof GlobalCodec>;
export type FuncDoc = t.TypeOf<typeof FuncCodec>;
export type FlowDoc = t.TypeOf<typeof FlowCodec>;
export type ConnDoc = t.TypeOf<typeof ConnCodec>;
export type SourceDoc = t.TypeOf<typeof SourceCodec>;
export type FileSourceParamsT = Unbranded<t.TypeOf<typeof FileSourceParams>>;
export type GeneratorSourceParamsT = Unbranded<t.TypeOf<typeof GeneratorSourceParams>>;
export type StdinSourceParamsT = Unbranded<t.TypeOf<typeof StdinSourceParams>>;
export type KafkaConnParamsT = Unbranded<t.TypeOf<typeof KafkaConnParamsCodec>>;
export type KafkaSourceParamsT = Unbranded<t.TypeOf<typeof KafkaSourceParams>>;
export type BinlogSourceParamsT = Unbranded<t.TypeOf<typeof BinlogSourceParams>>;

/** One codec per kistype; the loader dispatches on `kistype` and the schema generator walks these. */
export const KISTYPE_CODECS = {
  global: GlobalCodec,
  source: SourceCodec,
  flow: FlowCodec,
  func: FuncCodec,
  conn: ConnCodec,
} as const;
export type KisType = keyof typeof KISTYPE_CODECS;

/** Type-specific params codecs, checked after the document itself. */
export const SOURCE_PARAMS_CODECS = {
  file: FileSourceParams,
  generator: GeneratorSourceParams,
  stdin: StdinSourceParams,
  kafka: KafkaSourceParams,
  binlog: BinlogSourceParams,
} as const;
export const CONN_PARAMS_CODECS = {
  kafka: KafkaConnParamsCodec,
} as const;
