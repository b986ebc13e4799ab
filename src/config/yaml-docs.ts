// Reads one YAML file into documents that remember where each value stood (line, column),
// and resolves ${VAR} / ${VAR:-default} from the environment in string values.
import { isMap, isPair, isScalar, isSeq, LineCounter, parseAllDocuments, Scalar, visit, type Document, type Node } from 'yaml';
import { KisError } from '../kernel/errors.js';

export type PathSegment = string | number;

export interface YamlDoc {
  /** File path as the user should read it (relative to the config directory). */
  readonly file: string;
  /** 1-based index of the document in its file. */
  readonly index: number;
  readonly value: unknown;
  /** Line and column (1-based) of the node at a path, or of the nearest ancestor that exists. */
  locate(path: readonly PathSegment[], keyOfLast?: boolean): { line: number; col: number } | undefined;
  /** Paths whose string value was written with ${VAR}, mapped to the text as written. */
  readonly templates: ReadonlyMap<string, string>;
}

export function pathKey(path: readonly PathSegment[]): string {
  return JSON.stringify(path);
}

export function formatPath(path: readonly PathSegment[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += /^[\p{L}_][\p{L}\p{N}_-]*$/u.test(seg) ? (out ? '.' : '') + seg : `[${JSON.stringify(seg)}]`;
  }
  return out || '(document)';
}

const ENV_REF = /\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/** Interpolate one string; returns undefined for every missing variable's name in `missing`. */
export function interpolate(text: string, env: NodeJS.ProcessEnv, missing: string[]): string {
  return text.replace(ENV_REF, (whole, name: string | undefined, fallback: string | undefined) => {
    if (whole === '$${') return '${';
    const value = env[name as string];
    if (value !== undefined && value !== '') return value;
    if (fallback !== undefined) return fallback;
    missing.push(name as string);
    return whole;
  });
}

function nodeAt(doc: Document, path: readonly PathSegment[], keyOfLast: boolean): Node | undefined {
  let node: unknown = doc.contents;
  let found: Node | undefined = doc.contents ?? undefined;
  for (let i = 0; i < path.length; i++) {
    const seg = path[i];
    const last = i === path.length - 1;
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg));
      if (!pair) return found;
      if (last && keyOfLast && isScalar(pair.key)) return pair.key;
      node = pair.value;
    } else if (isSeq(node) && typeof seg === 'number') {
      node = node.items[seg];
    } else {
      return found;
    }
    if (node && typeof node === 'object' && 'range' in node) found = node as Node;
    else return found;
  }
  return found;
}

export function parseYamlFile(file: string, text: string, env: NodeJS.ProcessEnv): { docs: YamlDoc[]; errors: KisError[] } {
  const lineCounter = new LineCounter();
  const parsed = parseAllDocuments(text, { lineCounter, uniqueKeys: true, prettyErrors: false });
  const errors: KisError[] = [];
  const docs: YamlDoc[] = [];
  const list = Array.isArray(parsed) ? parsed : [];
  list.forEach((doc, i) => {
    const index = i + 1;
    if (doc.errors.length > 0) {
      for (const e of doc.errors) {
        const pos = e.linePos?.[0] ?? (e.pos ? lineCounter.linePos(e.pos[0]) : undefined);
        errors.push(new KisError('KIS_ERR_CONFIG_PARSE',
          `${file} doc ${index}${pos ? ` (line ${pos.line}, col ${pos.col})` : ''}: YAML does not parse: ${e.message.split('\n')[0]}`,
          { cause: e, context: { file, doc: index, ...(pos ? { line: pos.line, col: pos.col } : {}) } }));
      }
      return;
    }
    if (doc.contents === null) return; // an empty document (a stray '---') holds nothing
    const templates = new Map<string, string>();
    visit(doc, {
      Scalar(key, node, ancestry) {
        if (key === 'key') return; // only values are interpolated, never mapping keys
        if (typeof node.value !== 'string' || !node.value.includes('${')) return;
        const path = pathOf(ancestry, node);
        const missing: string[] = [];
        const written = node.value;
        const resolved = interpolate(written, env, missing);
        const pos = node.range ? lineCounter.linePos(node.range[0]) : undefined;
        for (const name of missing) {
          errors.push(new KisError('KIS_ERR_CONFIG_ENV',
            `${file} doc ${index} at ${formatPath(path)}${pos ? ` (line ${pos.line}, col ${pos.col})` : ''}: environment variable ${name} is not set and '\${${name}}' has no default (write '\${${name}:-default}' to give one)`,
            { context: { file, doc: index, path: formatPath(path), ...(pos ? { line: pos.line, col: pos.col } : {}), variable: name } }));
        }
        templates.set(pathKey(path), written);
        // A plain (unquoted) scalar that is one whole ${VAR} takes the type its value reads as: `partitions: ${N:-8}` is a number.
        node.value = node.type === Scalar.PLAIN && /^\$\{[^}]*\}$/.test(written) ? typedScalar(resolved) : resolved;
      },
    });
    const value: unknown = doc.toJS({ maxAliasCount: 100 });
    if (value === null || value === undefined) return; // an empty document: a stray '---', or only comments
    docs.push({
      file,
      index,
      value,
      templates,
      locate(path, keyOfLast = false) {
        const node = nodeAt(doc, path, keyOfLast);
        if (!node?.range) return undefined;
        return lineCounter.linePos(node.range[0]);
      },
    });
  });
  return { docs, errors };
}

function typedScalar(s: string): string | number | boolean {
  if (/^-?(0|[1-9]\d*)(\.\d+)?$/.test(s)) return Number(s);
  if (s === 'true') return true;
  if (s === 'false') return false;
  return s;
}

function pathOf(ancestry: readonly unknown[], leaf: unknown): PathSegment[] {
  const path: PathSegment[] = [];
  const chain = [...ancestry, leaf];
  for (let i = 1; i < chain.length; i++) {
    const parent = chain[i - 1];
    const child = chain[i];
    if (isPair(parent)) continue;
    if (isMap(parent) && isPair(child) && isScalar(child.key)) path.push(String(child.key.value));
    else if (isSeq(parent)) path.push(parent.items.indexOf(child as never));
  }
  return path;
}
