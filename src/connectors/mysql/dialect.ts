// MySQL / MariaDB SQL text and error classes. Statement texts are cached by shape (columns, row count).
import type { Statement } from '../sql/plan.js';
import type { SqlErrorKind } from '../sql/write.js';

export function quoteMy(name: string): string {
  return name.split('.').map((p) => '`' + p.replace(/`/g, '``') + '`').join('.');
}

const cache = new Map<string, string>();

/**
 * INSERT … VALUES ? ON DUPLICATE KEY UPDATE (VALUES(col) runs on MariaDB and MySQL 8), or DELETE … WHERE key IN (?):
 * one `?` takes the statement's rows as nested arrays, expanded by mysql2 as a hand-written loop would.
 */
export function statementSql(table: string, keyColumns: readonly string[], stmt: Statement): string {
  const id = `${table}\u0002${stmt.del ? 'd' : 'u'}\u0002${stmt.cols.join('\u0001')}`;
  const hit = cache.get(id);
  if (hit !== undefined) return hit;
  const t = quoteMy(table);
  let sql: string;
  if (stmt.del) {
    const k = keyColumns.length === 1 ? quoteMy(keyColumns[0]!) : '(' + keyColumns.map(quoteMy).join(',') + ')';
    sql = `DELETE FROM ${t} WHERE ${k} IN (?)`;
  } else {
    const keys = new Set(keyColumns.map((c) => c.toLowerCase()));
    const upd = stmt.cols.filter((c) => !keys.has(c.toLowerCase())).map((c) => `${quoteMy(c)}=VALUES(${quoteMy(c)})`);
    if (upd.length === 0) upd.push(`${quoteMy(keyColumns[0]!)}=${quoteMy(keyColumns[0]!)}`);
    sql = `INSERT INTO ${t} (${stmt.cols.map(quoteMy).join(',')}) VALUES ? ON DUPLICATE KEY UPDATE ${upd.join(',')}`;
  }
  if (cache.size > 512) cache.clear();
  cache.set(id, sql);
  return sql;
}

export function statementValues(stmt: Statement): unknown[] {
  // One key column: DELETE … IN (?) takes a flat list.
  if (stmt.del && stmt.cols.length === 1) return [stmt.ops.map((op) => op.values[0])];
  return [stmt.ops.map((op) => op.values)];
}

const UNAVAILABLE = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN',
  'PROTOCOL_CONNECTION_LOST', 'PROTOCOL_SEQUENCE_TIMEOUT', 'ER_SERVER_SHUTDOWN', 'ER_CONNECTION_KILLED',
  'ER_QUERY_INTERRUPTED', 'ER_LOCK_DEADLOCK', 'ER_LOCK_WAIT_TIMEOUT', 'ER_CON_COUNT_ERROR',
  'ER_TOO_MANY_USER_CONNECTIONS', 'ER_OPTION_PREVENTS_STATEMENT', 'ER_CLIENT_INTERACTION_TIMEOUT',
]);
// Value errors MySQL files under SQLSTATE HY000 or 01000 (wrong value for the column, truncation, check constraint).
const DATA_ERRNO = new Set([1263, 1264, 1265, 1292, 1364, 1365, 1366, 1367, 3140, 3819, 4025, 4078]);

export function classifyMy(err: unknown): SqlErrorKind {
  const e = (typeof err === 'object' && err !== null ? err : {}) as { code?: unknown; errno?: unknown; sqlState?: unknown; fatal?: unknown; message?: unknown };
  const code = typeof e.code === 'string' ? e.code : 'UNKNOWN';
  if (e.fatal === true || UNAVAILABLE.has(code)) return { kind: 'unavailable', code };
  if (typeof e.message === 'string' && /closed state|Pool is closed/i.test(e.message)) return { kind: 'unavailable', code };
  const state = typeof e.sqlState === 'string' ? e.sqlState : '';
  if (state.startsWith('22') || state.startsWith('23') || (typeof e.errno === 'number' && DATA_ERRNO.has(e.errno))) return { kind: 'data', code };
  return { kind: 'other', code };
}
