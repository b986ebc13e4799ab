// A Load step on storage: a lookup join with the stored rows (a dimension table), one lookup per batch.
import type { KisErrorCode } from '../kernel/errors.js';
import type { Position, Row } from '../kernel/types.js';
import type { CompiledStep } from './flow-types.js';
import { joinRow } from './join.js';

export interface LookupJoined {
  readonly rows: Row[];
  /** The position of each joined row (its input row's), when positions were given. */
  readonly positions: (Position | undefined)[];
  /** Rows that cannot go on: no key (rejected), or no stored match under an inner join. */
  readonly refused: Array<{ row: Row; position: Position | undefined; code: KisErrorCode; message: string }>;
}

/** Joins each row with the row stored under its key; each joined row keeps its input row's position. */
export async function lookupJoin(step: CompiledStep, rows: readonly Row[], positions: readonly (Position | undefined)[] | undefined, partition: number): Promise<LookupJoined> {
  const connector = step.connector!;
  const cid = step.func.cid;
  const keys = rows.map((r) => connector.keyOf(r));
  const found = await step.lookup!(partition, keys.filter((k): k is string => k !== undefined));
  const out: Row[] = [];
  const outPositions: (Position | undefined)[] = [];
  const refused: LookupJoined['refused'] = [];
  rows.forEach((r, k) => {
    const key = keys[k];
    const position = positions?.[k];
    if (key === undefined) {
      const missing = connector.config.key.filter((f) => r[f] === undefined || r[f] === null).join(', ');
      refused.push({ row: r, position, code: 'KIS_ERR_ROW_MISSING_FIELD', message: `row lacks key field(s) ${missing} of connector '${cid}', so it cannot be looked up` });
      return;
    }
    const stored = found.get(key);
    if (stored === undefined && step.join === 'inner') {
      refused.push({ row: r, position, code: 'KIS_ERR_LOOKUP_MISS', message: `no row is stored under key '${key}' through connector '${cid}' (inner lookup join; use join: left to go on without it)` });
      return;
    }
    out.push(joinRow(r, stored, step.joinAs));
    outPositions.push(position);
  });
  return { rows: out, positions: outPositions, refused };
}
