// The end of a run for a person at a terminal: a few lines on stderr (the JSON log line stays for machines).
import type { KisConfig } from '../config/model.js';
import type { RunSummary } from '../runtime/service.js';

/** RunSummary as the service fills it; unmatchedKeys may be absent (older services). */
export type SummaryInput = RunSummary & { readonly unmatchedKeys?: readonly string[] };

/** Print the summary: KISFLOW_SUMMARY=always|never, else only when stderr is a terminal. */
export function wantsSummary(env: NodeJS.ProcessEnv, isTTY: boolean | undefined): boolean {
  const v = env['KISFLOW_SUMMARY'];
  if (v === 'always' || v === '1') return true;
  if (v === 'never' || v === '0') return false;
  return isTTY === true;
}

const list = (counts: Readonly<Record<string, number>>, more?: (k: string) => string): string => {
  const entries = Object.entries(counts).filter(([, n]) => n > 0);
  return entries.length === 0 ? 'none' : entries.map(([k, n]) => `${k} ${n}${more ? more(k) : ''}`).join(', ');
};

const SHOWN_KEYS = 10;

export function humanSummary(s: SummaryInput, config?: KisConfig): string {
  const total = (c: Readonly<Record<string, number>>): number => Object.values(c).reduce((a, b) => a + b, 0);
  const topic = (flow: string): string => {
    const t = config?.flows.get(flow)?.deadLetterTopic;
    return t ? ` (topic ${t})` : '';
  };
  const lines = [
    `kisflow: run finished (${s.mode} mode): ${total(s.rowsIn)} rows in, ${total(s.rowsOut)} out, ${total(s.deadLetters)} dead-lettered, ${s.unmatched} unmatched`,
    `  rows in by source:      ${list(s.rowsIn)}`,
    `  rows out by flow:       ${list(s.rowsOut)}`,
    `  dead letters by flow:   ${list(s.deadLetters, topic)}`,
  ];
  if (s.unmatched > 0) {
    const keys = s.unmatchedKeys ?? [];
    const shown = keys.slice(0, SHOWN_KEYS).join(', ');
    lines.push(`  unmatched:              ${s.unmatched} inner-join row${s.unmatched === 1 ? '' : 's'} found no saved row to join` +
      (keys.length > 0 ? `; keys ${shown}${keys.length > SHOWN_KEYS ? ` and ${keys.length - SHOWN_KEYS} more` : ''}` : ''));
  }
  if (total(s.deadLetters) > 0) lines.push('  each dead letter carries its reason (header kis-error-message); the log names the first of each kind');
  return lines.join('\n') + '\n';
}
