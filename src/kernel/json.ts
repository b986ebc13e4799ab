// A row as JSON text, for sinks and connectors. Plain JSON.stringify on the hot path; the replacer (slow,
// called for every value) only for the rare row that holds a BigInt, which JSON.stringify refuses.
import type { Row } from './types.js';

export function rowToJson(row: Row): string {
  try {
    return JSON.stringify(row);
  } catch {
    return JSON.stringify(row, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
  }
}
