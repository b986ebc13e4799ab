// Param codecs shared by the SQL connector types (mysql, postgres, sqlite): one spec per field, documented.
import * as t from 'io-ts';
import { closed } from '../../config/closed.js';

// Same brand names as src/config/codecs.ts, so that the JSON Schema generator knows them; defined here so that
// the drivers do not depend on the config folder's layout.
export interface NonEmptyBrand { readonly NonEmptyString: unique symbol }
export const NonEmptyText = t.brand(t.string, (s): s is t.Branded<string, NonEmptyBrand> => s.length > 0, 'NonEmptyString');
export interface PositiveBrand { readonly PositiveInt: unique symbol }
export const PositiveWhole = t.brand(t.number, (n): n is t.Branded<number, PositiveBrand> => Number.isInteger(n) && n > 0, 'PositiveInt');

/** A decoded params type without io-ts brands: what factories take and tests write. */
export type Unbranded<T> = T extends t.Branded<infer A, unknown>
  ? A
  : T extends ReadonlyArray<infer E> ? Array<Unbranded<E>>
    : T extends object ? { [K in keyof T]: Unbranded<T[K]> } : T;

export const TlsCodec = t.union([t.boolean, closed('KisStorageTls', {}, {
  ca: NonEmptyText,
  cert: NonEmptyText,
  key: NonEmptyText,
  reject_unauthorized: t.boolean,
}, 'TLS settings of a storage connection.', {
  ca: 'CA certificate: a PEM text (e.g. from ${VAR}) or a file path, relative to the config directory.',
  cert: 'Client certificate (PEM text or file path) for mutual TLS.',
  key: 'Client private key (PEM text or file path) for mutual TLS.',
  reject_unauthorized: 'Refuse a server whose certificate does not verify (default true).',
})]);
export type TlsParam = Unbranded<t.TypeOf<typeof TlsCodec>>;

/** The cache of a lookup join (a Load step on this connector), fields every storage type takes. */
export const LOOKUP_CACHE_FIELDS = {
  cache_keys: PositiveWhole,
  cache_ttl_ms: PositiveWhole,
} as const;

export const LOOKUP_CACHE_DOCS = {
  cache_keys: 'Keys a Load step (a lookup join) keeps cached per partition, found or not (default 10000); the least recently used go first.',
  cache_ttl_ms: 'How long a cached lookup, found or not, is trusted (default 60000 ms).',
} as const;

/** Fields every SQL connector type takes. */
export const SQL_TABLE_FIELDS = {
  columns: t.record(t.string, NonEmptyText),
  deletes: t.boolean,
  op_field: NonEmptyText,
  positions_table: NonEmptyText,
  batch_rows: PositiveWhole,
  ...LOOKUP_CACHE_FIELDS,
} as const;

export const SQL_TABLE_DOCS = {
  table: "The table Save upserts into and Load looks up in; 'schema.table' or 'db.table' to name another schema.",
  columns: 'Column mapping { column: row_field }. Default: every field of a row that exists as a column. With a mapping, a field missing from a row writes NULL.',
  deletes: "When true, a row whose op_field is 'd' (a binlog delete) deletes the stored row by its key instead of upserting it (default false).",
  op_field: "The row field that says what a binlog row did: c, u, d or r (default 'op').",
  positions_table: 'Table of source positions written in the same transaction as the rows (default kisflow_positions; created when missing).',
  ...LOOKUP_CACHE_DOCS,
  batch_rows: 'Rows per INSERT statement (default 1000 for mysql, 500 for postgres); a batch may take several statements, in one transaction.',
} as const;

/** Fields of the server-based SQL types (mysql, postgres). */
export const SQL_SERVER_FIELDS = {
  database: NonEmptyText,
  user: NonEmptyText,
  password: t.string,
  tls: TlsCodec,
  pool_size: PositiveWhole,
  connect_timeout_ms: PositiveWhole,
} as const;

export const SQL_SERVER_DOCS = {
  database: 'The database to connect to.',
  user: 'User name (default root for mysql, postgres for postgres).',
  password: 'Password; write ${VAR} to read it from the environment (a Kubernetes Secret). Never logged.',
  tls: 'true for TLS with the system CAs, or { ca, cert, key, reject_unauthorized }. Default: no TLS.',
  pool_size: 'Connections in the pool (default 4): writes of different partitions run in parallel.',
  connect_timeout_ms: 'How long a connection attempt may take (default 10000).',
} as const;
