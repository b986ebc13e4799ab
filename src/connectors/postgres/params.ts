// Params of a connector with type postgres (PostgreSQL through pg).
import type * as t from 'io-ts';
import { closed } from '../../config/closed.js';
import { NonEmptyText, SQL_SERVER_DOCS, SQL_SERVER_FIELDS, SQL_TABLE_DOCS, SQL_TABLE_FIELDS, type Unbranded } from '../sql/params.js';

export const PostgresConnParamsCodec = closed('KisPostgresConnParams', {
  table: NonEmptyText,
}, {
  ...SQL_TABLE_FIELDS,
  ...SQL_SERVER_FIELDS,
}, "params of a connector with type postgres (PostgreSQL at addrs 'host:port', default 127.0.0.1:5432): Save upserts rows into table (INSERT … ON CONFLICT on the key columns) with the source positions in the same transaction; Load looks rows up by key.", {
  ...SQL_TABLE_DOCS,
  ...SQL_SERVER_DOCS,
});
export type PostgresConnParams = Unbranded<t.TypeOf<typeof PostgresConnParamsCodec>>;
