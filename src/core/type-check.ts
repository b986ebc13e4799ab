// The params of every source and connector, checked against their type's codec and the type's own
// checks, once the function modules have registered their types and before anything runs.
import { isLeft } from 'fp-ts/lib/Either.js';
import { CONN_PARAMS_CODECS, SOURCE_PARAMS_CODECS } from '../config/codecs.js';
import type { KisConfig, Origin } from '../config/model.js';
import { docError, reportValidation } from '../config/report.js';
import type { PathSegment, YamlDoc } from '../config/yaml-docs.js';
import type { KisError } from '../kernel/errors.js';
import type { KisPool } from './pool.js';

type Locate = (origin: Origin, path: readonly PathSegment[]) => { line: number; col: number } | undefined;

function docAt(origin: Origin, value: unknown, locate: Locate): YamlDoc {
  return { file: origin.file, index: origin.doc, value, templates: new Map(), locate: (p) => locate(origin, p) };
}

/** Every problem with the params of sources and connectors whose types are registered; unknown types are reported too. */
export function checkTypeParams(config: KisConfig, pool: KisPool, locate: Locate): KisError[] {
  const types = pool.types;
  const errors: KisError[] = [];
  for (const sc of config.sources.values()) {
    // The loader checks the built-in types' params as it reads the document.
    if (sc.type in SOURCE_PARAMS_CODECS) continue;
    const doc = docAt(sc.origin, sc.doc, locate);
    const spec = types.source(sc.type);
    if (!spec) {
      errors.push(docError('KIS_ERR_CONFIG_UNSUPPORTED', doc, ['type'], `no source type '${sc.type}' is registered (types: ${types.sourceNames().join(', ')}); a function module can register one with pool.sourceType(...)`));
      continue;
    }
    const res = spec.params.decode(sc.params);
    if (isLeft(res)) errors.push(...reportValidation(doc, res.left, { prefix: ['params'], what: `params of type ${sc.type}` }));
    else for (const issue of spec.check?.(res.right, sc, config) ?? []) errors.push(docError('KIS_ERR_CONFIG_SCHEMA', doc, issue.path, issue.message));
  }
  for (const conn of config.conns.values()) {
    if (conn.type in CONN_PARAMS_CODECS || servedByCaas(config, pool, conn.cid)) continue;
    const spec = types.connector(conn.type);
    // A connector of a type nobody registered may still be served by CaaS calls (checked per function).
    if (!spec) continue;
    const doc = docAt(conn.origin, conn.doc, locate);
    const res = spec.params.decode(conn.params);
    if (isLeft(res)) errors.push(...reportValidation(doc, res.left, { prefix: ['params'], what: `params of type ${conn.type}` }));
    else for (const issue of spec.check?.(res.right, conn, config) ?? []) errors.push(docError('KIS_ERR_CONFIG_SCHEMA', doc, issue.path, issue.message));
  }
  return errors;
}

/**
 * True when every function that goes through the connector has a CaaS call registered for it (the Go
 * original's way): the connector type then serves nothing, and its params are the calls' own (free).
 */
export function servedByCaas(config: KisConfig, pool: KisPool, cid: string): boolean {
  const users = [...config.funcs.values()].filter((f) => f.cid === cid);
  return users.length > 0 && users.every((f) => pool.getCaas(cid, f.fname) !== undefined);
}
