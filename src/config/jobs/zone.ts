// Wall-clock time in an IANA time zone, with nothing but Intl.DateTimeFormat: the offset of a zone at an
// instant, and the instants a wall-clock time maps to (none in a DST gap, two in a DST overlap).

const HOUR_MS = 3_600_000;

/** A time zone that answers offsets; UTC and fixed offsets skip Intl entirely (the common fast path). */
export interface Zone {
  readonly name: string;
  /** Milliseconds to add to an instant to get its wall-clock time read as UTC. */
  offsetAt(epochMs: number): number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(tz: string): Intl.DateTimeFormat {
  let f = formatters.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: tz, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric',
    });
    formatters.set(tz, f);
  }
  return f;
}

/** Throws a RangeError for a name Intl does not know. */
export function zone(name: string): Zone {
  if (name === 'UTC' || name === 'Etc/UTC' || name === 'GMT') return { name, offsetAt: () => 0 };
  const f = formatterFor(name);
  // Offsets change at most a few times a year, on whole minutes: cache them per quarter hour.
  const cache = new Map<number, number>();
  return {
    name,
    offsetAt(epochMs: number): number {
      const slot = Math.floor(epochMs / 900_000);
      const hit = cache.get(slot);
      // A slot is cached only when no transition falls inside it (checked when stored).
      if (hit !== undefined) return hit;
      const off = rawOffset(f, epochMs);
      const start = slot * 900_000;
      if (rawOffset(f, start) === off && rawOffset(f, start + 899_999) === off) {
        if (cache.size > 4096) cache.clear();
        cache.set(slot, off);
      }
      return off;
    },
  };
}

function rawOffset(f: Intl.DateTimeFormat, epochMs: number): number {
  const whole = epochMs - (((epochMs % 1000) + 1000) % 1000);
  let y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
  for (const p of f.formatToParts(whole)) {
    switch (p.type) {
      case 'year': y = Number(p.value); break;
      case 'month': mo = Number(p.value); break;
      case 'day': d = Number(p.value); break;
      case 'hour': h = Number(p.value); break;
      case 'minute': mi = Number(p.value); break;
      case 'second': s = Number(p.value); break;
      default: break;
    }
  }
  return Date.UTC(y, mo - 1, d, h, mi, s) - whole;
}

/** The wall-clock time of an instant, as epoch milliseconds of the same fields in UTC. */
export function toWall(z: Zone, epochMs: number): number {
  return epochMs + z.offsetAt(epochMs);
}

/**
 * The instants whose wall-clock time is `wall`, earliest first: one normally, two in an overlap (the
 * hour repeated when clocks go back), none in a gap (the hour skipped when clocks go forward). Assumes
 * at most one transition within 12 hours, true of every zone in the IANA database.
 */
export function fromWall(z: Zone, wall: number): number[] {
  const before = z.offsetAt(wall - 12 * HOUR_MS);
  const after = z.offsetAt(wall + 12 * HOUR_MS);
  const out: number[] = [];
  for (const off of before === after ? [before] : [before, after]) {
    const e = wall - off;
    if (z.offsetAt(e) === off && !out.includes(e)) out.push(e);
  }
  return out.sort((a, b) => a - b);
}

/** For a wall time inside a gap: the instant the clocks jumped past it (the wall time read with the offset before the gap). */
export function gapInstant(z: Zone, wall: number): number {
  return wall - z.offsetAt(wall - 12 * HOUR_MS);
}
