// Binds a validated config to the pool and the connectors: one compiled Flow per flow document.
// Everything that can be checked before a row moves is checked here, and reported all at once.
import { isLeft } from 'fp-ts/lib/Either.js';
import type { FlowConfig, KisConfig } from '../config/model.js';
import { heldStoreName, tableStoreName } from './join.js';
import type { PathSegment } from '../config/yaml-docs.js';
import { formatPath } from '../config/yaml-docs.js';
import { errorMessage, isKisError, KisError, type KisErrorCode } from '../kernel/errors.js';
import type { Connector } from './connector.js';
import { Flow, type CompiledStep, type FlowDeps } from './flow.js';
import type { KisPool, PrepareEnv } from './pool.js';
import { DEFAULT_MAX_KEYS, type StoreSpec } from './state.js';

export interface BuildEnv extends Omit<PrepareEnv, 'where' | 'configDir'> {
  /** Whether a flow's joins are co-partitioned with their connectors' topics (Kafka inputs): its saved side is then a store of its own partition. */
  readonly coPartitioned?: (flow: FlowConfig) => boolean;
  readonly locate?: (origin: { file: string; doc: number }, path: readonly PathSegment[]) => { line: number; col: number } | undefined;
}

function at(config: KisConfig, env: BuildEnv, origin: { file: string; doc: number }, path: PathSegment[], code: KisErrorCode, what: string, cause?: unknown): KisError {
  const pos = env.locate?.(origin, path);
  return new KisError(code, `${origin.file} doc ${origin.doc} at ${formatPath(path)}${pos ? ` (line ${pos.line}, col ${pos.col})` : ''}: ${what}`, {
    ...(cause === undefined ? {} : { cause }),
    context: { file: origin.file, doc: origin.doc, path: formatPath(path), ...(pos ? { line: pos.line, col: pos.col } : {}) },
  });
}

/** Checks that every function has an implementation and every connector can be served, without building anything. */
export function checkImplementations(config: KisConfig, pool: KisPool, env: BuildEnv = { stdout: process.stdout, onClose() {} }): KisError[] {
  const errors: KisError[] = [];
  for (const f of config.funcs.values()) {
    const impl = pool.getFaas(f.fname);
    const conn = f.cid !== undefined ? config.conns.get(f.cid) : undefined;
    const caas = f.cid !== undefined ? pool.getCaas(f.cid, f.fname) : undefined;
    if (!impl && f.mode !== 'Save' && f.mode !== 'Load') {
      const hint = f.fname.startsWith('kis.')
        ? ` (built-ins: ${pool.faasNames().filter((n) => n.startsWith('kis.')).join(', ')})`
        : ' (register it in a function module listed under functions: in the global document, or use a built-in: kis.print, kis.filter, kis.map, kis.sink, kis.window)';
      errors.push(at(config, env, f.origin, [f.doc.fname !== undefined ? 'fname' : 'fid'], 'KIS_ERR_CONFIG_NO_IMPL',
        `no implementation named '${f.fname}' for ${f.mode} function '${f.fid}'${hint}`));
    }
    if (conn && !pool.types.connector(conn.type) && !caas) {
      errors.push(at(config, env, f.origin, ['option'], 'KIS_ERR_CONFIG_UNSUPPORTED',
        `function '${f.fid}' goes through connector '${conn.cid}' of type ${conn.type}, which no registered connector type serves (types: ${pool.types.connectorNames().join(', ')}); ` +
        `register the type from a function module (pool.connectorType({ name: '${conn.type}', ... })), a CaaS call for it (pool.caas('${conn.cid}', '${f.fname}', call)), or use a connector of type kafka`));
    }
  }
  return errors;
}

export interface BuiltFlows {
  readonly flows: ReadonlyMap<string, Flow>;
}

/** Builds every flow. Throws KisError with all problems when any step cannot be built. */
export function buildFlows(
  config: KisConfig,
  pool: KisPool,
  connectors: ReadonlyMap<string, Connector>,
  deps: FlowDeps,
  env: BuildEnv,
): { flows: Map<string, Flow>; errors: KisError[]; stores: StoreSpec[] } {
  const errors = checkImplementations(config, pool, env);
  const flows = new Map<string, Flow>();
  const stores: StoreSpec[] = [];
  const fedBySource = new Set([...config.sources.values()].flatMap((s) => s.flows));
  for (const fc of config.flows.values()) {
    const steps: CompiledStep[] = [];
    fc.steps.forEach((s, index) => {
      const func = config.funcs.get(s.fid);
      if (!func) return; // reported by the loader
      const params = Object.freeze({ ...func.defaultParams, ...s.params });
      const impl = pool.getFaas(func.fname);
      const where = `flow '${fc.id}' step ${index + 1} ('${func.fid}')`;
      let handler;
      if (impl) {
        if (impl.paramsCodec) {
          const res = impl.paramsCodec.decode(params);
          if (isLeft(res)) {
            errors.push(at(config, env, fc.origin, ['flows', index, 'params'], 'KIS_ERR_CONFIG_SCHEMA',
              `params of '${func.fname}' do not match its params codec: ${res.left.map((e) => e.context.map((c) => c.key).filter(Boolean).join('.')).join(', ')}`));
            return;
          }
        }
        try {
          handler = impl.prepare(params, { ...env, where, configDir: config.dataDir });
        } catch (err) {
          errors.push(at(config, env, fc.origin, ['flows', index], isKisError(err) ? err.code : 'KIS_ERR_CONFIG_SCHEMA', errorMessage(err), err));
          return;
        }
      }
      const conn = func.cid !== undefined ? config.conns.get(func.cid) : undefined;
      const join = params['join'] ?? 'inner';
      const joinAs = params['join_as'];
      // join, join_as and join_window_ms are typed by the flow step codec (the loader checked them).
      const window = params['join_window_ms'];
      const joinWindowMs = typeof window === 'number' && window > 0 ? window : undefined;
      const connector = func.cid !== undefined ? connectors.get(func.cid) : undefined;
      // A Load step joins with a change feed (held rows released as matches are saved); a CaaS replaces that.
      const joins = func.mode === 'Load' && !(index === 0 && !fedBySource.has(fc.id)) && connector?.feed !== undefined && pool.getCaas(func.cid!, func.fname) === undefined;
      const coPartitioned = joins && (env.coPartitioned?.(fc) ?? false);
      // A Load step on storage (no change feed) is a lookup join with the stored rows.
      if (func.mode === 'Load' && index === 0 && !fedBySource.has(fc.id) && connector && !connector.feed && !pool.getCaas(func.cid!, func.fname)) {
        errors.push(at(config, env, fc.origin, ['flows', index], 'KIS_ERR_CONFIG_REFERENCE',
          `no source feeds flow '${fc.id}', and its first step '${func.fid}' loads from connector '${connector.config.cid}' (type ${connector.config.type}), which has no change feed to drive a flow: give the flow a source, or Load from a kafka connector`));
      }
      const byKey = func.mode === 'Load' && !joins && !(index === 0 && !fedBySource.has(fc.id)) && pool.getCaas(func.cid!, func.fname) === undefined ? connector?.byKey : undefined;
      if (joins) {
        const maxKeys = func.state?.maxKeys ?? DEFAULT_MAX_KEYS;
        stores.push({ flow: fc.id, store: heldStoreName(func.fid, index), maxKeys, ttlMs: undefined, keepEvicted: true });
        if (coPartitioned) stores.push({ flow: fc.id, store: tableStoreName(func.fid, index), maxKeys, ttlMs: joinWindowMs ?? func.state?.ttlMs });
      }
      const keepsState = func.mode !== 'Load' && (func.state !== undefined || impl?.state === true);
      if (keepsState && !stores.some((x) => x.flow === fc.id && x.store === func.fid)) {
        stores.push({ flow: fc.id, store: func.fid, maxKeys: func.state?.maxKeys ?? DEFAULT_MAX_KEYS, ttlMs: func.state?.ttlMs });
      }
      steps.push({
        index,
        func,
        params,
        handler,
        rowCodec: impl?.rowCodec,
        caas: func.cid !== undefined ? pool.getCaas(func.cid, func.fname) : undefined,
        conn,
        connector,
        drivesFlow: func.mode === 'Load' && index === 0 && !fedBySource.has(fc.id),
        join: join === 'left' ? 'left' : 'inner',
        joinAs: typeof joinAs === 'string' ? joinAs : undefined,
        joinWindowMs,
        heldStore: joins ? heldStoreName(func.fid, index) : undefined,
        tableStore: coPartitioned ? tableStoreName(func.fid, index) : undefined,
        lookup: byKey ? (partition, keys) => byKey.lookupIn(partition, keys) : undefined,
        store: keepsState ? func.fid : undefined,
        ticks: impl?.ticks === true,
      });
    });
    flows.set(fc.id, new Flow(fc, steps, deps));
  }
  return { flows, errors, stores };
}
