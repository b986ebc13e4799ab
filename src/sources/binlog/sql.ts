// The MySQL client the binlog source uses for its own queries (snapshot, SHOW BINARY LOGS): mysql2, which
// is zongji's dependency, loaded through zongji's resolution so that both always agree on the version.
import { createRequire } from 'node:module';
import type * as Mysql2 from 'mysql2/promise';
import type { BinlogSourceParamsT } from '../../config/codecs.js';

const requireFromZongji = createRequire(import.meta.resolve('@vlasky/zongji'));
export const mysql = requireFromZongji('mysql2/promise') as typeof Mysql2;
export type SqlConnection = Mysql2.Connection;

/**
 * Connection settings shared by zongji and the snapshot, so that a row read by a SELECT and the same row
 * decoded from the binlog give the same JSON: dates as MySQL text with full precision, JSON as text, BIGINT
 * as a number up to 2^53 and an exact string beyond, DECIMAL as an exact string.
 */
export function connectionOptions(addr: string, params: BinlogSourceParamsT): Mysql2.ConnectionOptions {
  const i = addr.lastIndexOf(':');
  const host = i > 0 ? addr.slice(0, i) : addr;
  const port = i > 0 ? Number(addr.slice(i + 1)) : 3306;
  const opts: Mysql2.ConnectionOptions = {
    host,
    port,
    user: params.user,
    password: params.password ?? '',
    charset: 'utf8mb4',
    dateStrings: true,
    jsonStrings: true,
    supportBigNumbers: true,
    bigNumberStrings: false,
    decimalNumbers: false,
    connectTimeout: 10_000,
  };
  const tls = params.tls;
  if (tls === true) opts.ssl = {};
  else if (tls && typeof tls === 'object') {
    opts.ssl = {
      ...(tls.ca !== undefined ? { ca: tls.ca } : {}),
      ...(tls.cert !== undefined ? { cert: tls.cert } : {}),
      ...(tls.key !== undefined ? { key: tls.key } : {}),
      ...(tls.reject_unauthorized !== undefined ? { rejectUnauthorized: tls.reject_unauthorized } : {}),
    };
  }
  return opts;
}

/** The server's current binlog file and position, and its GTID position (MariaDB) or executed set (MySQL). */
export async function masterStatus(conn: SqlConnection): Promise<{ file: string; pos: number; gtid: string }> {
  let rows: Array<Record<string, unknown>>;
  try {
    [rows] = await conn.query('SHOW MASTER STATUS') as unknown as [Array<Record<string, unknown>>];
  } catch {
    // MySQL 8.4 renamed it.
    [rows] = await conn.query('SHOW BINARY LOG STATUS') as unknown as [Array<Record<string, unknown>>];
  }
  const row = rows[0];
  if (!row) throw new Error('SHOW MASTER STATUS returned no row: is the binlog on (log_bin)?');
  let gtid = '';
  const [vars] = await conn.query("SHOW VARIABLES WHERE Variable_name IN ('gtid_binlog_pos', 'gtid_executed')") as unknown as [Array<{ Variable_name: string; Value: string }>];
  for (const v of vars) if (v.Value) gtid = v.Value;
  return { file: String(row['File']), pos: Number(row['Position']), gtid };
}

/** The oldest binlog file the server still has. */
export async function firstBinlog(conn: SqlConnection): Promise<string> {
  const [rows] = await conn.query('SHOW BINARY LOGS') as unknown as [Array<{ Log_name: string }>];
  const first = rows[0];
  if (!first) throw new Error('SHOW BINARY LOGS returned no file: is the binlog on (log_bin)?');
  return first.Log_name;
}
