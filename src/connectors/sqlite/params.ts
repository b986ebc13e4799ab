// Params of a connector with type sqlite (better-sqlite3): the embedded default, a file a person can open.
import * as t from 'io-ts';
import { closed } from '../../config/closed.js';
import { NonEmptyText, PositiveWhole, SQL_TABLE_DOCS, SQL_TABLE_FIELDS, type Unbranded } from '../sql/params.js';

export const SqliteConnParamsCodec = closed('KisSqliteConnParams', {
  path: NonEmptyText,
  table: NonEmptyText,
}, {
  ...SQL_TABLE_FIELDS,
  create: t.boolean,
  busy_timeout_ms: PositiveWhole,
}, "params of a connector with type sqlite (an embedded database file, no server): Save upserts rows into table by the connector's key columns with the source positions in the same transaction; Load looks rows up by key.", {
  ...SQL_TABLE_DOCS,
  path: "The database file, relative to the config directory (its folder is made when missing); ':memory:' for a private in-memory database.",
  create: 'When true and the table is missing, create it at start: the key columns (primary key) and the columns of the columns mapping, which is then required. Columns are untyped, so numbers stay numbers. Default false.',
  busy_timeout_ms: 'How long a write waits for another process holding the file (default 5000); then it is retried as unavailable.',
  batch_rows: 'Rows per transaction step (default 1000); SQLite runs one prepared statement per row inside the transaction.',
});
export type SqliteConnParams = Unbranded<t.TypeOf<typeof SqliteConnParamsCodec>>;
