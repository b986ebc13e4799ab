// What a binlog source's params resolve to when absent: batch and chunk sizes, connection retries, the
// start point and the server_id it registers with (the same on every replica of the source).
import { partitionForKey } from '../../kernel/partitioner.js';
import type { StartPoint } from './reader.js';

export const DEFAULT_BINLOG_BATCH_ROWS = 500;
export const DEFAULT_SNAPSHOT_CHUNK_ROWS = 1000;
export const DEFAULT_CONNECT_RETRIES = 10;

/** server_id: the configured one, or one derived from app_id and sid (the same on every replica of the source). */
export function serverIdOf(appId: string, sid: string, configured?: number): number {
  return configured ?? 1_000 + partitionForKey(`${appId}.${sid}`, 2 ** 31 - 2_000);
}

export function parseStart(start: string | undefined): StartPoint | 'beginning' {
  if (start === undefined || start === 'end') return { kind: 'end' };
  if (start === 'beginning') return 'beginning';
  if (start.startsWith('gtid:')) return { kind: 'gtid', set: start.slice('gtid:'.length) };
  const i = start.lastIndexOf(':');
  return { kind: 'pos', file: start.slice(0, i), pos: Number(start.slice(i + 1)) };
}
