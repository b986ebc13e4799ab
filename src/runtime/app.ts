// Start-up, before anything runs: load and validate the config directory, build the pool (built-ins and
// function modules), check every implementation. One list of every error, or a ready app.
import path from 'node:path';
import { loadConfigFiles, readConfigDir, type LoadOptions } from '../config/load.js';
import type { KisConfig } from '../config/model.js';
import type { PathSegment } from '../config/yaml-docs.js';
import { checkImplementations } from '../core/build.js';
import { checkTypeParams } from '../core/type-check.js';
import { loadFunctionModules } from '../core/modules.js';
import { KisPool } from '../core/pool.js';
import { registerBuiltins } from '../functions/builtins.js';
import { registerConnectorTypes } from '../connectors/types.js';
import { registerSourceTypes } from '../sources/types.js';
import { KisConfigErrors, KisError } from '../kernel/errors.js';

export interface App {
  readonly config: KisConfig;
  readonly pool: KisPool;
  readonly locate: (origin: { file: string; doc: number }, path: readonly PathSegment[]) => { line: number; col: number } | undefined;
}

export interface PrepareOptions extends LoadOptions {
  /** Registers more functions before the modules load (tests, embedding applications). */
  readonly register?: (pool: KisPool) => void;
  /** Imports function modules afresh under this version (hot reload). */
  readonly moduleVersion?: string;
}

/** Loads, validates and prepares a config directory; throws KisConfigErrors listing every problem. */
export async function prepareApp(dir: string, opts: PrepareOptions = {}): Promise<App> {
  const files = await readConfigDir(dir);
  const loaded = loadConfigFiles(path.resolve(dir), files, opts);
  if (!loaded.config) throw new KisConfigErrors(loaded.errors);
  const config = loaded.config;
  const pool = registerBuiltins(new KisPool());
  registerSourceTypes(pool.types);
  registerConnectorTypes(pool.types);
  const errors: KisError[] = [];
  try {
    opts.register?.(pool);
  } catch (err) {
    errors.push(err as KisError);
  }
  errors.push(...await loadFunctionModules(config, pool, opts.moduleVersion));
  if (errors.length === 0) errors.push(...checkTypeParams(config, pool, loaded.locate));
  // Job handlers are registered by the modules: a job naming one that is not there is an error now.
  for (const job of config.jobs.values()) {
    if (job.runs.kind === 'handler' && !pool.jobHandlers.get(job.runs.handler)) {
      errors.push(new KisError('KIS_ERR_JOB_HANDLER', `${job.origin.file} doc ${job.origin.doc} at runs.handler: no job handler named '${job.runs.handler}' is registered (handlers: ${pool.jobHandlers.names().join(', ') || 'none'}); register it in a function module with pool.jobHandler('${job.runs.handler}', handler)`));
    }
  }
  errors.push(...checkImplementations(config, pool, { stdout: process.stdout, onClose() {}, locate: loaded.locate }));
  if (errors.length > 0) throw new KisConfigErrors(errors);
  return { config, pool, locate: loaded.locate };
}
