// The record format every KisFlow topic shares, on Kafka and on the embedded log alike: the headers of a
// saved record (its lineage) and of a dead letter (why, and where its row came from).
import type { SaveMeta } from '../core/connector.js';
import type { DeadLetter } from '../core/dead-letter.js';
import type { Position } from '../kernel/types.js';

/**
 * The two headers every saved record carries (two, not six: kafkajs encodes each header separately,
 * and per-record headers were the largest cost of a Save):
 *   kis-flow  `<flow>/<fn>`                                 who saved it
 *   kis-pos   `<partition>:<offset>:<topic>:<source id>`   where its source row was (topic empty when not Kafka)
 * A topic name cannot hold ':' and partition and offset are numbers, so the source id (any UTF-8) is the rest.
 */
export function saveHeaders(meta: SaveMeta, p: Position | undefined): Record<string, string> {
  const headers: Record<string, string> = { 'kis-flow': `${meta.flow}/${meta.fn}` };
  if (p) headers['kis-pos'] = `${p.partition}:${p.offset}:${p.topic ?? ''}:${p.source}`;
  return headers;
}

/** Reads a kis-pos header back. */
export function parsePosHeader(value: string): { partition: number; offset: string; topic: string | undefined; source: string } | undefined {
  const m = /^(\d+):([^:]*):([^:]*):(.*)$/s.exec(value);
  if (!m) return undefined;
  return { partition: Number(m[1]), offset: m[2]!, topic: m[3] || undefined, source: m[4]! };
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
