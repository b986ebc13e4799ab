// The record format every KisFlow topic shares, on Kafka and on the embedded log alike: the headers of a
// saved record (its lineage) and of a dead letter (why, and where its row came from).
import type { SaveMeta } from '../core/connector.js';
import type { DeadLetter } from '../core/dead-letter.js';
import type { Position } from '../kernel/types.js';

/** Separates the position from who saved the record in a lineage header (ids may hold ':' and '/', not this). */
const SEP = '\u001f';

/**
 * The one header a saved record carries (one, not two or six: kafkajs encodes every header separately, and
 * per-record headers were the largest cost of a Save), unless the connector sets lineage: false:
 *   kis-lineage  `<partition>:<offset>:<topic>:<source id>` US `<flow>/<fn>`
 * where the source row was (topic empty when not Kafka; absent when the row has no source position), and who
 * saved it. A topic name cannot hold ':' and partition and offset are numbers, so the source id is the rest.
 */
export function saveHeaders(meta: SaveMeta, p: Position | undefined): Record<string, string> {
  const who = `${meta.flow}/${meta.fn}`;
  return { 'kis-lineage': p ? `${p.partition}:${p.offset}:${p.topic ?? ''}:${p.source}${SEP}${who}` : `${SEP}${who}` };
}

export interface Lineage {
  /** `<flow>/<fn>` that saved the record. */
  readonly by: string;
  /** Where its source row was; undefined when the row had no source position. */
  readonly from: { readonly partition: number; readonly offset: string; readonly topic: string | undefined; readonly source: string } | undefined;
}

/** Reads a kis-lineage header back. */
export function parseLineage(value: string | undefined): Lineage | undefined {
  if (value === undefined) return undefined;
  const cut = value.lastIndexOf(SEP);
  if (cut < 0) return undefined;
  const by = value.slice(cut + 1);
  if (cut === 0) return { by, from: undefined };
  const m = /^(\d+):([^:]*):([^:]*):(.*)$/s.exec(value.slice(0, cut));
  if (!m) return undefined;
  return { by, from: { partition: Number(m[1]), offset: m[2]!, topic: m[3] || undefined, source: m[4]! } };
}

export function deadLetterHeaders(d: DeadLetter): Record<string, string> {
  const h: Record<string, string> = {
    'kis-error-code': d.code,
    'kis-error-message': d.message,
    'kis-flow': d.flow,
    'kis-fn': d.fn,
    'kis-attempts': String(d.attempts),
  };
  if (d.position) {
    h['kis-source'] = d.position.source;
    if (d.position.topic !== undefined) h['kis-topic'] = d.position.topic;
    h['kis-partition'] = String(d.position.partition);
    h['kis-offset'] = d.position.offset;
  }
  return h;
}
