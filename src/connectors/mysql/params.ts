// Params of a connector with type mysql (MySQL and MariaDB, through mysql2).
import type * as t from 'io-ts';
import { closed } from '../../config/closed.js';
import { NonEmptyText, SQL_SERVER_DOCS, SQL_SERVER_FIELDS, SQL_TABLE_DOCS, SQL_TABLE_FIELDS, type Unbranded } from '../sql/params.js';

export const MysqlConnParamsCodec = closed('KisMysqlConnParams', {
  table: NonEmptyText,
}, {
  ...SQL_TABLE_FIELDS,
  ...SQL_SERVER_FIELDS,
}, "params of a connector with type mysql (MySQL or MariaDB at addrs 'host:port', default 127.0.0.1:3306): Save upserts rows into table by the connector's key columns, with the source positions in the same transaction; Load looks rows up by key.", {
  ...SQL_TABLE_DOCS,
  ...SQL_SERVER_DOCS,
});
export type MysqlConnParams = Unbranded<t.TypeOf<typeof MysqlConnParamsCodec>>;
