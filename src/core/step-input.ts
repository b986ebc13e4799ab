// What a step refuses before its function runs: rows missing a source.must field, rows that do not match the
// function's row codec, and (Load steps that join) rows that cannot be keyed or sit on the wrong partition.
import { isLeft } from 'fp-ts/lib/Either.js';
import type { KisErrorCode } from '../kernel/errors.js';
import type { Position, Row } from '../kernel/types.js';
import type { CompiledStep } from './flow-types.js';
import type { joinOrHold } from './join.js';

export interface Refusal {
  readonly row: Row;
  readonly code: KisErrorCode;
  readonly message: string;
  /** Where the row came from, when the run carries positions. */
  readonly position: Position | undefined;
}

type Positions = readonly (Position | undefined)[];
const NONE: Refusal[] = [];

/** source.must and the row codec: the rows that pass (with their positions, when given), and why the others do not. */
export function checkInput(step: CompiledStep, input: readonly Row[], positions: Positions | undefined): { rows: readonly Row[]; positions: Positions | undefined; refused: Refusal[] } {
  const func = step.func;
  const must = func.must;
  if (must.length === 0 && !step.rowCodec) return { rows: input, positions, refused: NONE };
  // Sized for the input (most rows pass) and cut to what passed: growing by push would allocate each array about three times over.
  const rows = new Array<Row>(input.length);
  const kept = positions ? new Array<Position | undefined>(input.length) : undefined;
  let n = 0;
  const refused: Refusal[] = [];
  for (let i = 0; i < input.length; i++) {
    const row = input[i]!;
    let complete = true;
    for (let k = 0; k < must.length; k++) {
      const v = row[must[k]!];
      if (v === undefined || v === null) { complete = false; break; }
    }
    if (!complete) {
      const missing = must.filter((f) => row[f] === undefined || row[f] === null);
      refused.push({ row, position: positions?.[i], code: 'KIS_ERR_ROW_MISSING_FIELD', message: `row lacks required field${missing.length > 1 ? 's' : ''} ${missing.join(', ')} (source.must of '${func.fid}')` });
      continue;
    }
    if (step.rowCodec) {
      const res = step.rowCodec.decode(row);
      if (isLeft(res)) {
        const paths = res.left.map((e) => e.context.map((c) => c.key).filter(Boolean).join('.')).filter(Boolean);
        refused.push({ row, position: positions?.[i], code: 'KIS_ERR_ROW_CODEC', message: `row does not match the row codec of '${func.fname}'${paths.length ? ` at ${[...new Set(paths)].join(', ')}` : ''}` });
        continue;
      }
    }
    rows[n] = row;
    if (kept) kept[n] = positions![i];
    n++;
  }
  rows.length = n;
  if (kept) kept.length = n;
  return { rows, positions: kept, refused };
}

/** The rows a join could not take: no key, or a co-partitioned join reached on a partition the key does not hash to. */
export function joinRefusals(step: CompiledStep, joined: ReturnType<typeof joinOrHold>, partition: number, positionOf: (row: Row) => Position | undefined): Refusal[] {
  const connector = step.connector!;
  const cid = step.func.cid;
  const refused: Refusal[] = joined.unjoinable.map((r) => ({
    row: r,
    position: positionOf(r),
    code: 'KIS_ERR_ROW_MISSING_FIELD',
    message: `row lacks key field(s) ${connector.config.key.filter((k) => r[k] === undefined || r[k] === null).join(', ')} of connector '${cid}', so it cannot be joined`,
  }));
  for (const { row, home } of joined.misplaced) {
    refused.push({
      row,
      position: positionOf(row),
      code: 'KIS_ERR_JOIN_PARTITION',
      message: `row's join key ${JSON.stringify(connector.keyOf(row))} belongs to partition ${home} (murmur2, Kafka's default partitioner), but it arrived on partition ${partition}, ` +
        `where its match can never be: key the input topic by connector '${cid}''s key (${connector.config.key.join(', ')}) with the default partitioner`,
    });
  }
  return refused;
}
