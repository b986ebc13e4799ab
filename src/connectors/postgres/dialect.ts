// PostgreSQL SQL text and error classes (SQLSTATE). Statement texts are cached by shape.
import type { Statement } from '../sql/plan.js';
import type { SqlErrorKind } from '../sql/write.js';

export function quotePg(name: string): string {
  return name.split('.').map((p) => '"' + p.replace(/"/g, '""') + '"').join('.');
}

/** `(${1},${2}),(${3},${4})`: n tuples of `width` numbered parameters. */
export function tuples(n: number, width: number, first = 1): string {
  const parts = new Array<string>(n);
  let k = first;
  for (let i = 0; i < n; i++) {
    const ps = new Array<string>(width);
    for (let j = 0; j < width; j++) ps[j] = '$' + k++;
    parts[i] = '(' + ps.join(',') + ')';
  }
  return parts.join(',');
}

const cache = new Map<string, string>();

export function statementSql(table: string, keyColumns: readonly string[], del: boolean, cols: readonly string[], n: number): string {
  const id = `${table}\u0002${del ? 'd' : 'u'}\u0002${cols.join('\u0001')}\u0002${n}`;
  const hit = cache.get(id);
  if (hit !== undefined) return hit;
  const t = quotePg(table);
  let sql: string;
  if (del) {
    const k = keyColumns.length === 1 ? quotePg(keyColumns[0]!) : '(' + keyColumns.map(quotePg).join(',') + ')';
    const list = keyColumns.length === 1 ? Array.from({ length: n }, (_, i) => '$' + (i + 1)).join(',') : tuples(n, keyColumns.length);
    sql = `DELETE FROM ${t} WHERE ${k} IN (${list})`;
  } else {
    const keys = new Set(keyColumns);
    const upd = cols.filter((c) => !keys.has(c)).map((c) => `${quotePg(c)} = EXCLUDED.${quotePg(c)}`);
    const action = upd.length === 0 ? 'DO NOTHING' : `DO UPDATE SET ${upd.join(', ')}`;
    sql = `INSERT INTO ${t} (${cols.map(quotePg).join(',')}) VALUES ${tuples(n, cols.length)} ON CONFLICT (${keyColumns.map(quotePg).join(',')}) ${action}`;
  }
  if (cache.size > 512) cache.clear();
  cache.set(id, sql);
  return sql;
}

/** PostgreSQL takes at most 65535 parameters in one statement. */
export function chunks(stmt: Statement): Statement[] {
  const per = Math.max(1, Math.floor(65535 / Math.max(1, stmt.cols.length)));
  if (stmt.ops.length <= per) return [stmt];
  const out: Statement[] = [];
  for (let i = 0; i < stmt.ops.length; i += per) out.push({ ...stmt, ops: stmt.ops.slice(i, i + per) });
  return out;
}

const NODE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);
// Shutdown, too many connections, serialization failure, deadlock, lock timeout, read-only standby after a failover.
const TRANSIENT_STATES = new Set(['57P01', '57P02', '57P03', '53300', '40001', '40P01', '55P03', '25006']);

export function classifyPg(err: unknown): SqlErrorKind {
  const e = (typeof err === 'object' && err !== null ? err : {}) as { code?: unknown; message?: unknown };
  const code = typeof e.code === 'string' ? e.code : 'UNKNOWN';
  if (NODE_CODES.has(code) || TRANSIENT_STATES.has(code) || code.startsWith('08')) return { kind: 'unavailable', code };
  if (typeof e.message === 'string' && /Connection terminated|not queryable|connection error|timeout exceeded when trying to connect/i.test(e.message)) {
    return { kind: 'unavailable', code };
  }
  if (code.startsWith('22') || code.startsWith('23')) return { kind: 'data', code };
  return { kind: 'other', code };
}
