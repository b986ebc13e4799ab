// Function modules: files or folders listed under `functions:` in the global document. Each module's
// default export receives the pool and registers its functions: export default (pool) => pool.faas(...).
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { KisConfig } from '../config/model.js';
import { errorMessage, isKisError, KisError } from '../kernel/errors.js';
import { registerModuleResolution } from './module-resolution.js';
import type { KisPool } from './pool.js';

export type FunctionModule = (pool: KisPool) => void | Promise<void>;

const MODULE_FILE = /\.(m?js|ts|mts)$/;
const NOT_MODULE = /\.d\.(m?ts)$|\.test\.(m?[jt]s)$/;

/** The module files of one `functions:` entry: the file itself, or every module file below the folder. */
export async function moduleFiles(entry: string): Promise<string[]> {
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

/**
 * Imports a TypeScript function module through tsx, as an ES module whatever package.json (if any) sits
 * above the config directory: a mounted /etc/kisflow has none, and Node would treat the file as CommonJS.
 */
async function importTypeScript(url: string): Promise<unknown> {
  const { tsImport } = await import('tsx/esm/api');
  // parentURL is this file: the resolve hook knows a function module by it (module-resolution.ts).
  return tsImport(url, { parentURL: import.meta.url });
}

/** Imports every function module and lets it register; returns one error per module that fails. */
export async function loadFunctionModules(config: KisConfig, pool: KisPool, version?: string): Promise<KisError[]> {
  const errors: KisError[] = [];
  if (config.global.functions.length > 0) registerModuleResolution(import.meta.url);
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
        // A version query makes a hot reload import the module afresh (ESM caches modules by URL).
        const url = pathToFileURL(file).href + (version ? `?v=${encodeURIComponent(version)}` : '');
        const mod = (/\.m?ts$/.test(file) ? await importTypeScript(url) : await import(url)) as { default?: unknown };
        // A module compiled as CommonJS arrives wrapped once more: { default: { default: fn } }.
        const inner = mod.default as { default?: unknown } | undefined;
        const register = typeof mod.default === 'function' ? mod.default : inner?.default;
        if (typeof register !== 'function') {
          errors.push(new KisError('KIS_ERR_MODULE_LOAD', `${where} at functions[${i}]: module ${shown} has no default export function; write export default (pool) => { pool.faas('Name', handler) }`));
          continue;
        }
        await (register as FunctionModule)(pool);
      } catch (cause) {
        errors.push(isKisError(cause)
          ? new KisError(cause.code, `${where} at functions[${i}]: module ${shown}: ${cause.message}`, { cause })
          : new KisError('KIS_ERR_MODULE_LOAD', `${where} at functions[${i}]: module ${shown} failed to load: ${errorMessage(cause)}`, { cause }));
      }
    }
  }
  return errors;
}
