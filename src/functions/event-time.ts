// Event time as kis.window reads it: milliseconds since the epoch, or ISO-8601 text (UTC without an offset).
/** Largest time a Date can hold (ms). */
const MAX_TIME_MS = 8.64e15;
const ISO_TIME = /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2})(?::(\d{2})(?:\.(\d+))?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?)?$/i;
const DECIMAL = /^\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*$/;

/** Milliseconds since the epoch, or why the value is not a time. */
export function parseEventTime(v: unknown): number | string {
  let ms: number;
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) return `is ${String(v)}, not a time`;
    ms = Math.floor(v);
  } else if (typeof v === 'string') {
    const m = ISO_TIME.exec(v.trim());
    if (!m) return `is ${JSON.stringify(v)}, neither milliseconds since the epoch nor an ISO-8601 time`;
    const [, date, hm, sec, frac, zone] = m;
    let text = date!;
    if (hm !== undefined) {
      const offset = zone === undefined ? 'Z' : zone.toUpperCase() === 'Z' ? 'Z'
        : zone.length === 3 ? `${zone}:00` : zone.includes(':') ? zone : `${zone.slice(0, 3)}:${zone.slice(3)}`;
      text += `T${hm}:${sec ?? '00'}${frac !== undefined ? '.' + (frac + '00').slice(0, 3) : ''}${offset}`;
    }
    ms = Date.parse(text);
    // Date.parse rolls 2026-02-30 over to March; a date that does not round-trip is not a date.
    const day = Date.parse(`${date!}T00:00:00Z`);
    if (Number.isNaN(ms) || Number.isNaN(day) || new Date(day).toISOString().slice(0, 10) !== date) return `is ${JSON.stringify(v)}, not a valid ISO-8601 time`;
  } else if (v === undefined || v === null) {
    return 'is missing';
  } else {
    return `is ${JSON.stringify(v)}, not a time`;
  }
  if (ms < 0) return `is ${JSON.stringify(v)}, before 1970 (windows start at the epoch)`;
  if (ms > MAX_TIME_MS) return `is ${JSON.stringify(v)}, out of range`;
  return ms;
}

export function numeric(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined;
  if (typeof v === 'string' && DECIMAL.test(v)) return Number(v);
  return undefined;
}
