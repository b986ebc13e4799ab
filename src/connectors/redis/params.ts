// Params of a connector with type redis (ioredis): one address is a standalone server, several a Redis Cluster.
import * as t from 'io-ts';
import { closed } from '../../config/closed.js';
import { LOOKUP_CACHE_DOCS, LOOKUP_CACHE_FIELDS, NonEmptyText, PositiveWhole, TlsCodec, type Unbranded } from '../sql/params.js';

export const RedisConnParamsCodec = closed('KisRedisConnParams', {}, {
  prefix: t.string,
  format: t.keyof({ hash: null, json: null }),
  ttl_ms: PositiveWhole,
  incr: t.record(t.string, NonEmptyText),
  db: t.number,
  username: NonEmptyText,
  password: t.string,
  tls: TlsCodec,
  connect_timeout_ms: PositiveWhole,
  ...LOOKUP_CACHE_FIELDS,
}, "params of a connector with type redis (addrs 'host:port': one address is a standalone server, several are the seed nodes of a Redis Cluster). Save writes each row under <prefix><key>, pipelined per batch; Load reads rows back by key.", {
  prefix: "Prepended to every key (default '<cid>:'); the key is the connector's key fields joined by '_'.",
  format: 'hash (default: one hash field per row field, values as text) or json (the row as one JSON string).',
  ttl_ms: 'Expire every written key this long after its last write (default: never).',
  incr: 'Counters { row_field: hash_field }: HINCRBYFLOAT hash_field by the row field instead of setting it, skipping rows already applied (replays after a crash), by the source positions kept in <prefix>kisflow:positions:<app_id>:<flow>. Needs format hash.',
  db: 'Database number of a standalone server (default 0).',
  username: 'ACL user name (Redis 6+).',
  password: 'Password; write ${VAR} to read it from the environment. Never logged.',
  tls: 'true for TLS with the system CAs, or { ca, cert, key, reject_unauthorized }. Default: no TLS.',
  connect_timeout_ms: 'How long a connection attempt may take (default 10000).',
  ...LOOKUP_CACHE_DOCS,
});
export type RedisConnParams = Unbranded<t.TypeOf<typeof RedisConnParamsCodec>>;
