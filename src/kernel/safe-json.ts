// JSON text for a dead letter that can always be written: a row too deep, too large, cyclic or otherwise not
// serialisable becomes a described placeholder (valid JSON, within the byte budget) with a truncated preview.
import { checkRowLimits, DEFAULT_ROW_LIMITS } from './limits.js';

export interface SafeJson {
  /** The row's JSON, or the placeholder's. */
  readonly text: string;
  /** True when `text` is a placeholder rather than the row itself. */
  readonly truncated: boolean;
}

/** Characters of the row kept in a placeholder's preview. */
export const PREVIEW_CHARS = 1024;

/**
 * The row as JSON when it fits in maxBytes (UTF-8) and can be serialised; otherwise
 * `{"kis_placeholder":"<why>","bytes_limit":n,"preview":"<the start of its JSON>"}`.
 */
export function safeJson(row: unknown, maxBytes: number = DEFAULT_ROW_LIMITS.maxBytes): SafeJson {
  // Native JSON.stringify recurses: only rows of a sane depth reach it.
  const breach = checkRowLimits(row, { maxDepth: 512, maxBytes, maxKeys: Number.MAX_SAFE_INTEGER });
  let why: string;
  if (breach === undefined) {
    try {
      const text = JSON.stringify(row, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
      if (text !== undefined && Buffer.byteLength(text, 'utf8') <= maxBytes) return { text, truncated: false };
      why = text === undefined ? 'the row has no JSON form' : `the row's JSON is more than ${maxBytes} bytes`;
    } catch (err) {
      why = `the row cannot be serialised: ${err instanceof Error ? err.message : String(err)}`;
    }
  } else {
    why = breach.limit === 'max_depth' ? 'the row is nested deeper than 512 levels' : `the row's JSON is more than ${maxBytes} bytes`;
  }
  const head = preview(row, Math.min(PREVIEW_CHARS, Math.max(0, Math.floor(maxBytes / 8) - 64)));
  // A cycle also looks endlessly deep or large to the walk; the preview marks it, so say what it is.
  if (head.includes('"[Circular]"')) why = 'the row refers to itself (a cycle), so it has no JSON form';
  return { text: placeholder(why, maxBytes, head), truncated: true };
}

function placeholder(why: string, maxBytes: number, head: string): string {
  return JSON.stringify({ kis_placeholder: why, bytes_limit: maxBytes, preview: head });
}

interface Frame { readonly value: unknown; readonly keys: readonly string[] | undefined; i: number }

/** The first `budget` characters of the value's JSON, written without recursion (cycles shown as "[Circular]"). */
export function preview(value: unknown, budget: number): string {
  let out = '';
  const stack: Frame[] = [];
  const open = new Set<unknown>();
  const scalar = (v: unknown): string | undefined => {
    switch (typeof v) {
      case 'string': return JSON.stringify(v.length > budget ? v.slice(0, budget) : v);
      case 'number': return Number.isFinite(v) ? String(v) : 'null';
      case 'boolean': return String(v);
      case 'bigint': return `"${v.toString()}"`;
      case 'object': return v === null ? 'null' : undefined;
      default: return 'null';
    }
  };
  const enter = (raw: unknown): void => {
    let v = raw;
    if (typeof v === 'object' && v !== null && typeof (v as { toJSON?: unknown }).toJSON === 'function' && !ArrayBuffer.isView(v)) {
      try { v = (v as { toJSON: () => unknown }).toJSON(); } catch { v = null; }
    }
    if (ArrayBuffer.isView(v)) { out += `"<${v.byteLength} bytes>"`; return; }
    const s = scalar(v);
    if (s !== undefined) { out += s; return; }
    if (open.has(v)) { out += '"[Circular]"'; return; }
    open.add(v);
    if (Array.isArray(v)) { out += '['; stack.push({ value: v, keys: undefined, i: 0 }); }
    else { out += '{'; stack.push({ value: v, keys: Object.keys(v as object), i: 0 }); }
  };
  enter(value);
  while (stack.length > 0 && out.length < budget) {
    const f = stack[stack.length - 1]!;
    const size = f.keys ? f.keys.length : (f.value as unknown[]).length;
    if (f.i >= size) {
      out += f.keys ? '}' : ']';
      open.delete(f.value);
      stack.pop();
      continue;
    }
    if (f.i > 0) out += ',';
    if (f.keys) {
      const k = f.keys[f.i]!;
      out += JSON.stringify(k) + ':';
      f.i++;
      enter((f.value as Record<string, unknown>)[k]);
    } else {
      enter((f.value as unknown[])[f.i++]);
    }
  }
  return out.length > budget ? out.slice(0, budget) : out;
}

/** Text cut to at most maxBytes of UTF-8 (never inside a character), for raw records in dead letters. */
export function truncateUtf8(text: string, maxBytes: number): { readonly text: string; readonly truncated: boolean } {
  if (text.length <= maxBytes / 3 || Buffer.byteLength(text, 'utf8') <= maxBytes) return { text, truncated: false };
  // Decoding a cut buffer would turn a split character into U+FFFD (3 bytes): leave room for it.
  const cut = Buffer.from(text, 'utf8').subarray(0, Math.max(0, maxBytes - 3)).toString('utf8');
  return { text: cut, truncated: true };
}
