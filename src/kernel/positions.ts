// The order of positions within one source partition, shared by the stores that keep positions with their
// data (storage connectors) and the runtime that skips what they already applied.

const DECIMAL = /^\d+$/;

function digitsOnly(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) { const c = s.charCodeAt(i); if (c < 48 || c > 57) return false; }
  return true;
}

/**
 * Orders two positions of the same source partition: negative when a is before b, 0 when equal.
 * Kafka offsets and sequence numbers are decimal strings (compared as whole numbers of any size: offsets pass 2^53);
 * binlog positions `file:pos` compare by file name, then pos as a number; anything else as text.
 */
export function comparePositions(a: string, b: string): number {
  if (a === b) return 0;
  if (digitsOnly(a) && digitsOnly(b)) {
    // Numeric order without BigInt (this runs for every row): the longer number is greater, once leading zeros are gone.
    const x = a.charCodeAt(0) === 48 ? a.replace(/^0+(?=\d)/, '') : a;
    const y = b.charCodeAt(0) === 48 ? b.replace(/^0+(?=\d)/, '') : b;
    if (x.length !== y.length) return x.length < y.length ? -1 : 1;
    return x < y ? -1 : x > y ? 1 : 0;
  }
  const ia = a.lastIndexOf(':');
  const ib = b.lastIndexOf(':');
  if (ia > 0 && ib > 0) {
    const fa = a.slice(0, ia);
    const fb = b.slice(0, ib);
    if (fa !== fb) return fa < fb ? -1 : 1;
    const pa = a.slice(ia + 1);
    const pb = b.slice(ib + 1);
    if (DECIMAL.test(pa) && DECIMAL.test(pb)) return comparePositions(pa, pb);
  }
  return a < b ? -1 : 1;
}
