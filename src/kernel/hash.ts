// Small, stable hashes for derived names (topics, files) of ids that may be any UTF-8.

/** 32-bit FNV-1a of the UTF-8 bytes, as 8 hex digits. */
export function fnv1a(s: string): string {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(s, 'utf8')) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
}
