// Loads a config directory as a whole: every .yml/.yaml file below it, every document in each,
// dispatched on kistype to its kind (kinds/), validated against its codec, normalized, cross-checked; all errors at once.
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { isLeft } from 'fp-ts/lib/Either.js';
import { KisConfigErrors, KisError } from '../kernel/errors.js';
import { KINDS } from './kinds/index.js';
import type { Entry, LoadContext } from './kinds/kind.js';
import { deepFreeze, type GlobalConfig, type KisConfig, type Origin } from './model.js';
import { docError, reportValidation } from './report.js';
import { suggest } from './suggest.js';
import { parseYamlFile, type PathSegment, type YamlDoc } from './yaml-docs.js';

// Kept where other folders import them from.
export { fnv1a } from '../kernel/hash.js';
export { deadLetterTopicFor } from './kinds/flow.js';
export { BINLOG_START } from './kinds/source.js';

export interface LoadOptions {
  env?: NodeJS.ProcessEnv;
  /** Where relative data paths in params resolve (KisConfig.dataDir); default: the config directory. */
  dataDir?: string;
}

export interface ConfigFile {
  /** Path relative to the config directory, as errors name it. */
  readonly file: string;
  readonly text: string;
}

export interface LoadResult {
  readonly config: KisConfig | undefined;
  readonly errors: readonly KisError[];
  /** Locates a path in the document an object came from (for errors found later, e.g. missing implementations). */
  readonly locate: (origin: Origin, path: readonly PathSegment[]) => { line: number; col: number } | undefined;
}

export async function readConfigDir(dir: string): Promise<ConfigFile[]> {
  const root = path.resolve(dir);
  let info;
  try {
    info = await stat(root);
  } catch (cause) {
    throw new KisConfigErrors([new KisError('KIS_ERR_CONFIG_DIR', `config directory ${dir} does not exist or cannot be read`, { cause })]);
  }
  if (!info.isDirectory()) {
    throw new KisConfigErrors([new KisError('KIS_ERR_CONFIG_DIR', `${dir} is not a directory (give --config the folder that holds the YAML files)`)]);
  }
  const files: ConfigFile[] = [];
  const walk = async (abs: string): Promise<void> => {
    const entries = await readdir(abs, { withFileTypes: true });
    entries.sort((a, b) => a.name.localeCompare(b.name));
    for (const e of entries) {
      const full = path.join(abs, e.name);
      // Kubernetes mounts a ConfigMap as ..data/ plus symlinks: follow links, skip the hidden copies.
      if (e.name.startsWith('.')) continue;
      const s = await stat(full);
      if (s.isDirectory()) await walk(full);
      else if (/\.ya?ml$/i.test(e.name)) files.push({ file: path.relative(root, full), text: await readFile(full, 'utf8') });
    }
  };
  await walk(root);
  return files;
}

/** Loads and validates a directory; throws KisConfigErrors listing every problem. */
export async function loadConfigDir(dir: string, opts: LoadOptions = {}): Promise<LoadResult & { config: KisConfig }> {
  const files = await readConfigDir(dir);
  const result = loadConfigFiles(path.resolve(dir), files, opts);
  if (!result.config || result.errors.length > 0) throw new KisConfigErrors(result.errors);
  return result as LoadResult & { config: KisConfig };
}

export function loadConfigFiles(dir: string, files: readonly ConfigFile[], opts: LoadOptions = {}): LoadResult {
  const env = opts.env ?? process.env;
  const errors: KisError[] = [];
  const docsByOrigin = new Map<string, YamlDoc>();
  const kinds = new Map(KINDS.map((k) => [k.kistype, k]));
  const entries = new Map<string, Entry<unknown>[]>(KINDS.map((k) => [k.kistype, []]));
  const templates = new Map<string, ReadonlyMap<string, string>>();
  const ctx: LoadContext = {
    errors,
    dir,
    env,
    global: undefined as unknown as GlobalConfig, // set by the global kind, which collects first
    funcs: new Map(),
    conns: new Map(),
    flows: new Map(),
    sources: new Map(),
    jobs: new Map(),
    docs: Object.fromEntries(KINDS.map((k) => [k.kistype, new Map<string, YamlDoc>()])),
    invalid: Object.fromEntries(KINDS.map((k) => [k.kistype, new Set<string>()])),
    keep: (kind, id, doc) => {
      if (doc.templates.size > 0) templates.set(`${kind}:${id}`, doc.templates);
    },
  };

  if (files.length === 0) {
    errors.push(new KisError('KIS_ERR_CONFIG_DIR', `config directory ${dir} holds no .yml or .yaml files`));
  }
  for (const f of files) {
    const parsed = parseYamlFile(f.file, f.text, env);
    errors.push(...parsed.errors);
    for (const doc of parsed.docs) {
      docsByOrigin.set(`${doc.file}#${doc.index}`, doc);
      const v = doc.value;
      const raw = typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
      const kistype = raw?.['kistype'];
      const kind = typeof kistype === 'string' ? kinds.get(kistype) : undefined;
      if (!kind) {
        const hint = typeof kistype === 'string' ? suggest(kistype, kinds.keys()) : '';
        errors.push(docError('KIS_ERR_CONFIG_KISTYPE', doc, ['kistype'],
          `expected kistype to be one of ${[...kinds.keys()].join(', ')}, found ${kistype === undefined ? 'nothing' : JSON.stringify(kistype)}${hint.startsWith(' (did') ? hint : ''}`));
        continue;
      }
      const decoded = kind.codec.decode(v);
      if (isLeft(decoded)) {
        errors.push(...reportValidation(doc, decoded.left));
        const id = kind.idOf(raw!);
        if (id !== undefined) ctx.invalid[kind.kistype]!.add(id);
        continue;
      }
      entries.get(kind.kistype)!.push({ doc, value: decoded.right });
    }
  }

  for (const kind of KINDS) kind.collect(entries.get(kind.kistype)!, ctx);
  for (const kind of KINDS) kind.check(ctx);

  const locate = (origin: Origin, p: readonly PathSegment[]): { line: number; col: number } | undefined =>
    docsByOrigin.get(`${origin.file}#${origin.doc}`)?.locate(p);
  if (errors.length > 0) return { config: undefined, errors, locate };
  const { global, sources, flows, funcs, conns, jobs } = ctx;
  const config: KisConfig = deepFreeze({ dir, dataDir: opts.dataDir !== undefined ? path.resolve(opts.dataDir) : dir, global, sources, flows, funcs, conns, jobs, templates });
  return { config, errors, locate };
}
