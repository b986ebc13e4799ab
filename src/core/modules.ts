// Function modules: files or folders listed under `functions:` in the global document. Each module's
// default export receives the pool and registers its functions: export default (pool) => pool.faas(...).
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { KisConfig } from '../config/model.js';
import { errorMessage, isKisError, KisError } from '../kernel/errors.js';
import type { KisPool } from './pool.js';

export type FunctionModule = (pool: KisPool) => void | Promise<void>;

const MODULE_FILE = /\.(m?js|ts|mts)$/;
const NOT_MODULE = /\.d\.(m?ts)$|\.test\.(m?[jt]s)$/;

async function moduleFiles(entry: string): Promise<string[]> {
  const s = await stat(entry);
  if (!s.isDirectory()) return [entry];
  const out: string[] = [];
  const names = (await readdir(entry)).sort();
  for (const n of names) {
    if (n.startsWith('.')) continue;
    const full = path.join(entry, n);
    if ((await stat(full)).isDirectory()) out.push(...await moduleFiles(full));
    else if (MODULE_FILE.test(n) && !NOT_MODULE.test(n)) out.push(full);
  }
  return out;
}

let tsLoader: Promise<void> | undefined;
/** TypeScript function modules load through tsx's ESM hooks, registered on first need. */
function ensureTypeScript(): Promise<void> {
  tsLoader ??= import('tsx/esm/api').then((m) => { m.register(); });
  return tsLoader;
}

/** Imports every function module and lets it register; returns one error per module that fails. */
export async function loadFunctionModules(config: KisConfig, pool: KisPool, version?: string): Promise<KisError[]> {
  const errors: KisError[] = [];
  const where = config.global.origin ? `${config.global.origin.file} doc ${config.global.origin.doc}` : 'global';
  for (const [i, rel] of config.global.functions.entries()) {
    const abs = path.resolve(config.dir, rel);
    let files: string[];
    try {
      files = await moduleFiles(abs);
    } catch (cause) {
      errors.push(new KisError('KIS_ERR_MODULE_LOAD', `${where} at functions[${i}]: ${rel} does not exist (resolved to ${abs})`, { cause }));
      continue;
    }
    for (const file of files) {
      const shown = path.relative(config.dir, file);
      try {
        if (/\.m?ts$/.test(file)) await ensureTypeScript();
        // A version query makes a hot reload import the module afresh (ESM caches modules by URL).
        const url = pathToFileURL(file).href + (version ? `?v=${encodeURIComponent(version)}` : '');
        const mod = (await import(url)) as { default?: unknown };
        if (typeof mod.default !== 'function') {
          errors.push(new KisError('KIS_ERR_MODULE_LOAD', `${where} at functions[${i}]: module ${shown} has no default export function; write export default (pool) => { pool.faas('Name', handler) }`));
          continue;
        }
        await (mod.default as FunctionModule)(pool);
      } catch (cause) {
        errors.push(isKisError(cause)
          ? new KisError(cause.code, `${where} at functions[${i}]: module ${shown}: ${cause.message}`, { cause })
          : new KisError('KIS_ERR_MODULE_LOAD', `${where} at functions[${i}]: module ${shown} failed to load: ${errorMessage(cause)}`, { cause }));
      }
    }
  }
  return errors;
}
