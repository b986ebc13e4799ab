// The join side of a connector: the latest row saved under each key, and the rows that asked for a key
// before it was saved. When the key arrives, the waiting rows are released, joined, to their flow
// (after their Load step), so no arrival order loses a join. Shared by the embedded and Kafka connectors.
import type { ConnConfig } from '../config/model.js';
import { recordKey, type Connector, type JoinRelease, type JoinRequest, type JoinResult, type SaveMeta } from '../core/connector.js';
import type { Position, Row } from '../kernel/types.js';

interface Held {
  readonly flow: string;
  readonly step: number;
  readonly partition: number;
  readonly row: Row;
  readonly position: Position | undefined;
  readonly join: 'inner' | 'left';
  readonly as: string | undefined;
}

export function joinRow(row: Row, saved: Row | undefined, as: string | undefined): Row {
  if (as !== undefined) return { ...row, [as]: saved ?? null };
  return saved ? { ...saved, ...row } : { ...row };
}

export class JoinTable {
  private readonly latest = new Map<string, Row>();
  private readonly held = new Map<string, Held[]>();
  private readonly listeners = new Set<(r: JoinRelease) => void>();

  constructor(private readonly keyOf: (row: Row) => string | undefined) {}

  join(req: JoinRequest): JoinResult {
    const rows: Row[] = [];
    const positions: (Position | undefined)[] = [];
    const unjoinable: Row[] = [];
    req.rows.forEach((row, i) => {
      const key = this.keyOf(row);
      if (key === undefined) {
        unjoinable.push(row);
        return;
      }
      const saved = this.latest.get(key);
      if (saved) {
        rows.push(joinRow(row, saved, req.as));
        positions.push(req.positions[i]);
        return;
      }
      const list = this.held.get(key);
      const h: Held = { flow: req.flow, step: req.step, partition: req.partition, row, position: req.positions[i], join: req.join, as: req.as };
      if (list) list.push(h);
      else this.held.set(key, [h]);
    });
    return { rows, positions, unjoinable };
  }

  /** Rows saved under these keys: the table takes them, and rows waiting for them are released. */
  saved(records: ReadonlyArray<{ key: string | null; value: Row }>): void {
    const ready: Held[] = [];
    for (const rec of records) {
      if (rec.key === null) continue;
      this.latest.set(rec.key, rec.value);
      const waiting = this.held.get(rec.key);
      if (waiting) {
        this.held.delete(rec.key);
        ready.push(...waiting);
      }
    }
    if (ready.length > 0) this.release(ready, (h) => this.latest.get(this.keyOf(h.row)!));
  }

  onRelease(listener: (release: JoinRelease) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  heldCount(): number {
    let n = 0;
    for (const l of this.held.values()) n += l.length;
    return n;
  }

  /** End of input: left-join rows are released unmatched; returns how many inner-join rows stay unmatched. */
  expireHeld(): number {
    const left: Held[] = [];
    let inner = 0;
    for (const list of this.held.values()) {
      for (const h of list) {
        if (h.join === 'left') left.push(h);
        else inner++;
      }
    }
    this.held.clear();
    this.release(left, undefined);
    return inner;
  }

  /** Groups released rows by flow, step and partition, and hands each group to the listeners. */
  private release(list: readonly Held[], savedFor: ((h: Held) => Row | undefined) | undefined): void {
    const groups = new Map<string, { flow: string; step: number; partition: number; rows: Row[]; positions: (Position | undefined)[] }>();
    for (const h of list) {
      const k = `${h.flow}\u0000${h.step}\u0000${h.partition}`;
      let g = groups.get(k);
      if (!g) {
        g = { flow: h.flow, step: h.step, partition: h.partition, rows: [], positions: [] };
        groups.set(k, g);
      }
      g.rows.push(joinRow(h.row, savedFor?.(h), h.as));
      g.positions.push(h.position);
    }
    for (const g of groups.values()) for (const l of this.listeners) l(g);
  }
}

/** A connector whose Load side is a JoinTable; subclasses say how Save writes. */
export abstract class TableConnector implements Connector {
  readonly table: JoinTable;

  constructor(readonly config: ConnConfig) {
    this.table = new JoinTable((row) => this.keyOf(row));
  }

  keyOf(row: Row): string | undefined {
    return recordKey(row, this.config.key);
  }

  abstract save(rows: readonly Row[], positions: readonly (Position | undefined)[], meta: SaveMeta): Promise<void>;

  join(req: JoinRequest): JoinResult {
    return this.table.join(req);
  }

  onRelease(listener: (release: JoinRelease) => void): () => void {
    return this.table.onRelease(listener);
  }

  expireHeld(): number {
    return this.table.expireHeld();
  }
}
