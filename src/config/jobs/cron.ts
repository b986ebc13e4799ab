// Cron expressions with seconds, `<sec> <min> <hour> <day-of-month> <month> <day-of-week>`, evaluated in an
// IANA time zone. Fields take `*`, `?` (day fields), numbers, names (JAN-DEC, SUN-SAT), ranges `a-b`,
// steps `*/s` `a/s` `a-b/s`, lists `a,b`, `L` (last day of the month) and `nL` (last weekday n of the month).
// Day-of-month and day-of-week restricted together match either (Vixie cron), else the restricted one.
//
// DST: the schedule is a set of wall-clock times. A wall time in a gap (clocks jump forward) is shifted
// forward by the length of the gap, as java.time does (02:30 on the spring-forward night fires at 03:30),
// and fires once even where that lands on another tick. A wall time in an overlap (clocks go back) fires once, at its
// first occurrence, unless the hour field is `*` (an interval job): then both occurrences fire, so a job
// every second or every 15 minutes keeps its rhythm through the repeated hour.
import { fromWall, gapInstant, toWall, zone, type Zone } from './zone.js';

export class CronError extends Error {
  constructor(readonly field: string, message: string) {
    super(message);
    this.name = 'CronError';
  }
}

const FIELDS = [
  { name: 'second', min: 0, max: 59 },
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day-of-month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12 },
  { name: 'day-of-week', min: 0, max: 7 },
] as const;

const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const DAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];

interface Field {
  /** next[v] = the smallest allowed value >= v, or -1. */
  readonly next: Int8Array;
  readonly star: boolean;
}

export interface CronSchedule {
  readonly expression: string;
  readonly tz: string;
  /** The first fire time strictly after `afterMs` (epoch ms, whole seconds), or undefined when there is none. */
  next(afterMs: number): number | undefined;
}

function parseValue(text: string, idx: number): number {
  const f = FIELDS[idx]!;
  const upper = text.toUpperCase();
  if (idx === 4 && MONTHS.includes(upper)) return MONTHS.indexOf(upper) + 1;
  if (idx === 5 && DAYS.includes(upper)) return DAYS.indexOf(upper);
  if (!/^\d+$/.test(text)) {
    const names = idx === 4 ? ' or JAN-DEC' : idx === 5 ? ' or SUN-SAT' : '';
    throw new CronError(f.name, `${f.name} field: '${text}' is not a number${names}`);
  }
  const v = Number(text);
  if (v < f.min || v > f.max) throw new CronError(f.name, `${f.name} field: ${v} is out of range ${f.min}-${f.max}`);
  return v;
}

function parseField(text: string, idx: number, lastDow: Set<number>): { allowed: Set<number>; star: boolean; last: boolean } {
  const f = FIELDS[idx]!;
  if (text === '?') {
    if (idx !== 3 && idx !== 5) throw new CronError(f.name, `${f.name} field: '?' is only allowed in day-of-month and day-of-week`);
    return { allowed: range(f.min, f.max), star: true, last: false };
  }
  const allowed = new Set<number>();
  let last = false;
  for (const part of text.split(',')) {
    if (part === '') throw new CronError(f.name, `${f.name} field: empty list item in '${text}'`);
    if (part === 'L' || part === 'l') {
      if (idx !== 3) throw new CronError(f.name, `${f.name} field: 'L' alone is only allowed in day-of-month (use nL in day-of-week)`);
      last = true;
      continue;
    }
    const lastWeekday = /^(\w+)L$/i.exec(part);
    if (lastWeekday && idx === 5) {
      lastDow.add(parseValue(lastWeekday[1]!, idx) % 7);
      continue;
    }
    const [base, stepText, extra] = part.split('/');
    if (extra !== undefined) throw new CronError(f.name, `${f.name} field: '${part}' has more than one '/'`);
    let step = 1;
    if (stepText !== undefined) {
      if (!/^\d+$/.test(stepText) || Number(stepText) === 0) throw new CronError(f.name, `${f.name} field: step '${stepText}' must be a whole number > 0`);
      step = Number(stepText);
    }
    let lo: number;
    let hi: number;
    if (base === '*') {
      lo = f.min;
      hi = idx === 5 ? 6 : f.max;
    } else {
      const dash = base!.split('-');
      if (dash.length > 2 || dash[0] === '') throw new CronError(f.name, `${f.name} field: '${base}' is not a value or a range a-b`);
      lo = parseValue(dash[0]!, idx);
      hi = dash.length === 2 ? parseValue(dash[1]!, idx) : stepText !== undefined ? (idx === 5 ? 6 : f.max) : lo;
      if (hi < lo) throw new CronError(f.name, `${f.name} field: range ${base} runs backwards`);
    }
    for (let v = lo; v <= hi; v += step) allowed.add(idx === 5 ? v % 7 : v);
  }
  return { allowed, star: text === '*', last };
}

function range(lo: number, hi: number): Set<number> {
  const s = new Set<number>();
  for (let v = lo; v <= hi; v++) s.add(v);
  return s;
}

function table(allowed: Set<number>, size: number): Int8Array {
  const next = new Int8Array(size + 1).fill(-1);
  for (let v = size - 1; v >= 0; v--) next[v] = allowed.has(v) ? v : next[v + 1]!;
  return next;
}

function daysIn(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/** Parses a 6-field expression; throws CronError naming the field and the reason. */
export function parseCron(expression: string, tz = 'UTC'): CronSchedule {
  const parts = expression.trim().split(/\s+/);
  if (parts.length !== 6) {
    throw new CronError('expression', `expected 6 fields '<sec> <min> <hour> <day-of-month> <month> <day-of-week>', found ${parts.length} in '${expression}'`);
  }
  let z: Zone;
  try {
    z = zone(tz);
  } catch {
    throw new CronError('tz', `time zone '${tz}' is not an IANA zone name this runtime knows (e.g. Europe/Berlin, UTC)`);
  }
  const lastDow = new Set<number>();
  const parsed = parts.map((p, i) => parseField(p, i, lastDow));
  const [sec, min, hour, dom, mon, dow] = parsed as [typeof parsed[0], typeof parsed[0], typeof parsed[0], typeof parsed[0], typeof parsed[0], typeof parsed[0]];
  const fields: Field[] = [
    { next: table(sec.allowed, 60), star: sec.star },
    { next: table(min.allowed, 60), star: min.star },
    { next: table(hour.allowed, 24), star: hour.star },
  ];
  const months = table(mon.allowed, 13);
  const domSet = dom.allowed;
  const dowSet = dow.allowed;
  const domStar = dom.star && !dom.last;
  const dowStar = dow.star && lastDow.size === 0;
  if (months[1] === -1) throw new CronError('month', 'month field allows no month');
  if (!dom.last && domSet.size > 0 && ![...mon.allowed].some((m) => [...domSet].some((d) => d <= daysIn(2024, m)))) {
    throw new CronError('day-of-month', `day-of-month field: no allowed month has day ${[...domSet].join(',')}`);
  }

  const dayMatches = (y: number, m: number, d: number): boolean => {
    const len = daysIn(y, m);
    const wd = new Date(Date.UTC(y, m - 1, d)).getUTCDay();
    const domHit = domSet.has(d) || (dom.last && d === len);
    const dowHit = dowSet.has(wd) || (lastDow.has(wd) && d + 7 > len);
    if (domStar && dowStar) return true;
    if (domStar) return dowHit;
    if (dowStar) return domHit;
    return domHit || dowHit;
  };

  /** The first matching wall time >= wall (ms, whole seconds), searching at most 8 years ahead. */
  const nextWall = (wall: number): number | undefined => {
    const start = new Date(wall);
    let y = start.getUTCFullYear();
    let mo = start.getUTCMonth() + 1;
    let d = start.getUTCDate();
    let h = start.getUTCHours();
    let mi = start.getUTCMinutes();
    let s = start.getUTCSeconds();
    const limit = y + 8;
    for (;;) {
      if (y > limit) return undefined;
      const m2 = months[mo]!;
      if (m2 === -1 || mo > 12) { y++; mo = months[1]!; d = 1; h = 0; mi = 0; s = 0; continue; }
      if (m2 !== mo) { mo = m2; d = 1; h = 0; mi = 0; s = 0; }
      if (d > daysIn(y, mo) || !dayMatches(y, mo, d)) {
        d++; h = 0; mi = 0; s = 0;
        if (d > daysIn(y, mo)) { d = 1; mo++; }
        continue;
      }
      const h2 = fields[2]!.next[h]!;
      if (h2 === -1) { d++; h = 0; mi = 0; s = 0; if (d > daysIn(y, mo)) { d = 1; mo++; } continue; }
      if (h2 !== h) { h = h2; mi = 0; s = 0; }
      const mi2 = fields[1]!.next[mi]!;
      if (mi2 === -1) { h++; mi = 0; s = 0; if (h > 23) { h = 0; d++; if (d > daysIn(y, mo)) { d = 1; mo++; } } continue; }
      if (mi2 !== mi) { mi = mi2; s = 0; }
      const s2 = fields[0]!.next[s]!;
      if (s2 === -1) { mi++; s = 0; if (mi > 59) { mi = 0; h++; if (h > 23) { h = 0; d++; if (d > daysIn(y, mo)) { d = 1; mo++; } } } continue; }
      return Date.UTC(y, mo - 1, d, h, mi, s2);
    }
  };

  const intervalHours = parts[2]!.startsWith('*');
  /** Clocks went back between `after` and `hit`: the repeated wall times (second pass) may come first. */
  const earlierInOverlap = (after: number, hit: number): number => {
    const offAfter = z.offsetAt(hit);
    if (z.offsetAt(after) <= offAfter) return hit;
    const w = nextWall(after + 1000 + offAfter);
    if (w === undefined) return hit;
    const second = fromWall(z, w).find((e) => e > after);
    return second !== undefined && second < hit ? second : hit;
  };
  return {
    expression,
    tz: z.name,
    next(afterMs: number): number | undefined {
      const after = Math.floor(afterMs / 1000) * 1000;
      let wall = toWall(z, after) + 1000;
      for (let guard = 0; guard < 1000; guard++) {
        const w = nextWall(wall);
        if (w === undefined) return undefined;
        const instants = fromWall(z, w);
        if (instants.length === 0) {
          const jump = gapInstant(z, w);
          if (jump > after) return jump;
        } else {
          const candidates = intervalHours ? instants : instants.slice(0, 1);
          const hit = candidates.find((e) => e > after);
          if (hit !== undefined) return intervalHours ? earlierInOverlap(after, hit) : hit;
        }
        wall = w + 1000;
      }
      return undefined;
    },
  };
}

/** Every fire time in (fromMs, toMs], capped at `max` (a guard for catch-up over long outages). */
export function fireTimes(schedule: CronSchedule, fromMs: number, toMs: number, max: number): number[] {
  const out: number[] = [];
  let t = schedule.next(fromMs);
  while (t !== undefined && t <= toMs && out.length < max) {
    out.push(t);
    t = schedule.next(t);
  }
  return out;
}
