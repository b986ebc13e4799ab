// A `type: kafka` connector on the embedded log. Save appends keyed records; Load joins rows with the
// latest record saved under the same key. A row whose match has not arrived yet is held, and released
// into its flow (after the Load step) when the match is saved, so arrival order never loses a join.
import type { ConnConfig } from '../config/model.js';
import type { Connector, JoinRelease, JoinRequest, JoinResult, SaveMeta } from '../core/connector.js';
import { recordKey } from '../core/connector.js';
import type { Position, Row } from '../kernel/types.js';
import type { EmbeddedLog, EmbeddedTopic, LogRecord } from './embedded-log.js';

export const DEFAULT_PARTITIONS = 4;

interface Held {
  readonly flow: string;
  readonly step: number;
  readonly partition: number;
  readonly row: Row;
  readonly position: Position | undefined;
  readonly join: 'inner' | 'left';
  readonly as: string | undefined;
}

export function connectorTopic(conn: ConnConfig): { topic: string; partitions: number } {
  const topic = typeof conn.params['topic'] === 'string' ? conn.params['topic'] : conn.cid;
  const partitions = typeof conn.params['partitions'] === 'number' ? conn.params['partitions'] : DEFAULT_PARTITIONS;
  return { topic, partitions };
}

export function joinRow(row: Row, saved: Row | undefined, as: string | undefined): Row {
  if (as !== undefined) return { ...row, [as]: saved ?? null };
  return saved ? { ...saved, ...row } : { ...row };
}

export class EmbeddedConnector implements Connector {
  readonly topic: EmbeddedTopic;
  private readonly table = new Map<string, Row>();
  private readonly held = new Map<string, Held[]>();
  private readonly listeners = new Set<(r: JoinRelease) => void>();

  constructor(readonly config: ConnConfig, log: EmbeddedLog) {
    const { topic, partitions } = connectorTopic(config);
    this.topic = log.topic(topic, partitions);
    this.topic.onAppend((_t, records) => this.onSaved(records));
  }

  keyOf(row: Row): string | undefined {
    return recordKey(row, this.config.key);
  }

  async save(rows: readonly Row[], positions: readonly (Position | undefined)[], meta: SaveMeta): Promise<void> {
    this.topic.append(rows.map((value, i) => {
      const p = positions[i];
      const headers: Record<string, string> = { 'kis-flow': meta.flow, 'kis-fn': meta.fn };
      if (p) {
        headers['kis-source'] = p.source;
        headers['kis-partition'] = String(p.partition);
        headers['kis-offset'] = p.offset;
      }
      return { key: this.config.key.length > 0 ? this.keyOf(value) ?? null : null, value, headers };
    }));
  }

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
      const saved = this.table.get(key);
      if (saved) {
        rows.push(joinRow(row, saved, req.as));
        positions.push(req.positions[i]);
        return;
      }
      const list = this.held.get(key) ?? [];
      list.push({ flow: req.flow, step: req.step, partition: req.partition, row, position: req.positions[i], join: req.join, as: req.as });
      this.held.set(key, list);
    });
    return { rows, positions, unjoinable };
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

  private onSaved(records: readonly LogRecord[]): void {
    const ready: Held[] = [];
    for (const rec of records) {
      if (rec.key === null) continue;
      this.table.set(rec.key, rec.value);
      const waiting = this.held.get(rec.key);
      if (waiting) {
        this.held.delete(rec.key);
        ready.push(...waiting);
      }
    }
    if (ready.length > 0) this.release(ready, (h) => this.table.get(this.keyOf(h.row)!));
  }

  /** Groups released rows by flow, step and partition, and hands each group to the listeners. */
  private release(list: readonly Held[], savedFor: ((h: Held) => Row | undefined) | undefined): void {
    const groups = new Map<string, { flow: string; step: number; partition: number; rows: Row[]; positions: (Position | undefined)[] }>();
    for (const h of list) {
      const k = `${h.flow}\u0000${h.step}\u0000${h.partition}`;
      const g = groups.get(k) ?? { flow: h.flow, step: h.step, partition: h.partition, rows: [], positions: [] };
      g.rows.push(joinRow(h.row, savedFor?.(h), h.as));
      g.positions.push(h.position);
      groups.set(k, g);
    }
    for (const g of groups.values()) for (const l of this.listeners) l(g);
  }
}
