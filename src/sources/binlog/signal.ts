// The signal table: a row inserted into it asks the running source for a re-snapshot, from any process.
// Its shape follows Debezium's: { id, type: 'snapshot', data: '{"tables": [...], "where": "..."}' }.
import { KisError } from '../../kernel/errors.js';
import type { SnapshotRequest } from './incremental.js';
import type { ChangeRow } from './rows.js';

export interface SignalRow {
  readonly id: string | undefined;
  readonly type: string;
}

/** What the row identifies itself as (for logs), known even when the request inside it is refused. */
export function signalOf(row: ChangeRow): SignalRow {
  const a = row.after ?? {};
  const id = a['id'] === undefined || a['id'] === null ? undefined : String(a['id']);
  return { id, type: String(a['type'] ?? '') };
}

/** The request a signal row carries; throws KIS_ERR_REPAIR_REQUEST when it is not one. */
export function signalRequest(row: ChangeRow): SnapshotRequest {
  const a = row.after ?? {};
  const { id, type } = signalOf(row);
  if (type !== 'snapshot' && type !== 'execute-snapshot') throw new KisError('KIS_ERR_REPAIR_REQUEST', `unknown signal type '${type}' (expected snapshot)`);
  const raw = a['data'];
  const data = (typeof raw === 'string' ? JSON.parse(raw) : raw ?? {}) as { tables?: unknown; 'data-collections'?: unknown; where?: unknown };
  const tables = data.tables ?? data['data-collections'];
  if (!Array.isArray(tables) || !tables.every((x) => typeof x === 'string')) throw new KisError('KIS_ERR_REPAIR_REQUEST', 'expected data {"tables": ["schema.table", ...], "where": "..."}');
  if (data.where !== undefined && typeof data.where !== 'string') throw new KisError('KIS_ERR_REPAIR_REQUEST', 'expected where to be a string');
  return { tables, ...(typeof data.where === 'string' ? { where: data.where } : {}), ...(id !== undefined ? { id } : {}) };
}
