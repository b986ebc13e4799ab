// Loads a config directory as a whole: every .yml/.yaml file below it, every document in each,
// dispatched on kistype, validated against its codec, normalized, cross-checked; all errors at once.
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { isLeft } from 'fp-ts/lib/Either.js';
import type * as t from 'io-ts';
import { KisConfigErrors, KisError } from '../kernel/errors.js';
import {
  CONN_PARAMS_CODECS, KISTYPE_CODECS, SOURCE_PARAMS_CODECS,
  type ConnDoc, type FlowDoc, type FuncDoc, type GlobalDoc, type KisType, type SourceDoc,
} from './codecs.js';
import {
  deepFreeze, keyFields, MODE_NAMES, splitList,
  type ConnConfig, type FlowConfig, type FuncConfig, type GlobalConfig, type KafkaClusterConfig, type KisConfig, type Origin, type SourceConfig,
} from './model.js';
import { docError, reportValidation } from './report.js';
import { parseYamlFile, type PathSegment, type YamlDoc } from './yaml-docs.js';

export interface LoadOptions {
  env?: NodeJS.ProcessEnv;
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

const KAFKA_TOPIC = /^[a-zA-Z0-9._-]{1,249}$/;
/** A binlog source's start: end, beginning, '<file>:<pos>' or 'gtid:<set>'. */
export const BINLOG_START = /^(end|beginning|[^:\s]+:\d+|gtid:.*)$/;

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

interface Entry<D> { doc: YamlDoc; value: D }

export function loadConfigFiles(dir: string, files: readonly ConfigFile[], opts: LoadOptions = {}): LoadResult {
  const env = opts.env ?? process.env;
  const errors: KisError[] = [];
  const docsByOrigin = new Map<string, YamlDoc>();
  const entries = { global: [] as Entry<GlobalDoc>[], source: [] as Entry<SourceDoc>[], flow: [] as Entry<FlowDoc>[], func: [] as Entry<FuncDoc>[], conn: [] as Entry<ConnDoc>[] };

  if (files.length === 0) {
    errors.push(new KisError('KIS_ERR_CONFIG_DIR', `config directory ${dir} holds no .yml or .yaml files`));
  }
  for (const f of files) {
    const parsed = parseYamlFile(f.file, f.text, env);
    errors.push(...parsed.errors);
    for (const doc of parsed.docs) {
      docsByOrigin.set(`${doc.file}#${doc.index}`, doc);
      const v = doc.value;
      const kistype = typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>)['kistype'] : undefined;
      if (typeof kistype !== 'string' || !(kistype in KISTYPE_CODECS)) {
        errors.push(docError('KIS_ERR_CONFIG_KISTYPE', doc, ['kistype'],
          `expected kistype to be one of ${Object.keys(KISTYPE_CODECS).join(', ')}, found ${kistype === undefined ? 'nothing' : JSON.stringify(kistype)}`));
        continue;
      }
      const codec = KISTYPE_CODECS[kistype as KisType] as t.Mixed;
      const decoded = codec.decode(v);
      if (isLeft(decoded)) {
        errors.push(...reportValidation(doc, decoded.left));
        continue;
      }
      (entries[kistype as KisType] as Entry<unknown>[]).push({ doc, value: decoded.right });
    }
  }

  const originOf = (doc: YamlDoc): Origin => ({ file: doc.file, doc: doc.index });
  const templates = new Map<string, ReadonlyMap<string, string>>();
  const keep = (kind: string, id: string, doc: YamlDoc): void => {
    if (doc.templates.size > 0) templates.set(`${kind}:${id}`, doc.templates);
  };

  // ---- global
  if (entries.global.length > 1) {
    for (const e of entries.global.slice(1)) {
      errors.push(docError('KIS_ERR_CONFIG_DUPLICATE', e.doc, ['kistype'],
        `a second kistype: global document; the first is ${entries.global[0]!.doc.file} doc ${entries.global[0]!.doc.index}`));
    }
  }
  const g = entries.global[0];
  const brokers = splitList(g?.value.kafka?.brokers);
  const global: GlobalConfig = {
    appId: g?.value.app_id ?? 'kisflow',
    prometheus: {
      enable: g?.value.prometheus_enable ?? false,
      listen: g?.value.prometheus_listen ?? false,
      serve: g?.value.prometheus_serve ?? '0.0.0.0:20004',
    },
    kafka: brokers.length > 0 ? {
      brokers,
      clientId: g?.value.kafka?.client_id ?? g?.value.app_id ?? 'kisflow',
      tls: tlsOf(g?.value.kafka?.tls),
      sasl: g?.value.kafka?.sasl,
      connectionTimeoutMs: g?.value.kafka?.connection_timeout_ms ?? 3000,
    } : undefined,
    drainTimeoutMs: g?.value.drain_timeout_ms ?? 30000,
    reloadIntervalMs: g?.value.reload_interval_ms ?? 2000,
    functions: g?.value.functions ?? [],
    origin: g ? originOf(g.doc) : undefined,
    doc: g?.value,
  };
  if (g) keep('global', 'global', g.doc);

  // ---- functions
  const funcs = new Map<string, FuncConfig>();
  const funcDocs = new Map<string, YamlDoc>();
  for (const { doc, value } of entries.func) {
    const fid = value.fid ?? value.fname;
    const fname = value.fname ?? value.fid;
    if (fid === undefined || fname === undefined) {
      errors.push(docError('KIS_ERR_CONFIG_SCHEMA', doc, [], 'a func needs fid or fname (or both), found neither'));
      continue;
    }
    const prior = funcDocs.get(fid);
    if (prior) {
      errors.push(docError('KIS_ERR_CONFIG_DUPLICATE', doc, [value.fid ? 'fid' : 'fname'],
        `func id '${fid}' is already declared in ${prior.file} doc ${prior.index}`));
      continue;
    }
    const opt = value.option ?? {};
    if (opt.cid !== undefined && opt.cname !== undefined && opt.cid !== opt.cname && opt.cid !== '' && opt.cname !== '') {
      errors.push(docError('KIS_ERR_CONFIG_SCHEMA', doc, ['option', 'cname'], `option.cid '${opt.cid}' and option.cname '${opt.cname}' disagree; give one`));
    }
    if (opt.retry_duration !== undefined && opt.return_duration !== undefined && opt.retry_duration !== opt.return_duration) {
      errors.push(docError('KIS_ERR_CONFIG_SCHEMA', doc, ['option', 'return_duration'], 'option.retry_duration and its alias option.return_duration disagree; give one'));
    }
    const cid = opt.cid || opt.cname || undefined;
    funcDocs.set(fid, doc);
    keep('func', fid, doc);
    funcs.set(fid, {
      fid,
      fname,
      mode: MODE_NAMES[value.fmode]!,
      sourceName: value.source?.name ?? '',
      must: value.source?.must ?? [],
      cid,
      retryTimes: opt.retry_times ?? 0,
      retryDuration: opt.retry_duration ?? opt.return_duration ?? 0,
      defaultParams: opt.default_params ?? {},
      state: opt.state ? { maxKeys: opt.state.max_keys, ttlMs: opt.state.ttl_ms } : undefined,
      origin: originOf(doc),
      doc: value,
    });
  }

  // ---- connectors
  const conns = new Map<string, ConnConfig>();
  const connDocs = new Map<string, YamlDoc>();
  for (const { doc, value } of entries.conn) {
    const cid = value.cid ?? value.cname;
    if (cid === undefined) {
      errors.push(docError('KIS_ERR_CONFIG_SCHEMA', doc, [], 'a conn needs cid or cname (or both), found neither'));
      continue;
    }
    const prior = connDocs.get(cid);
    if (prior) {
      errors.push(docError('KIS_ERR_CONFIG_DUPLICATE', doc, [value.cid ? 'cid' : 'cname'], `conn id '${cid}' is already declared in ${prior.file} doc ${prior.index}`));
      continue;
    }
    const params = value.params ?? {};
    const paramsCodec = CONN_PARAMS_CODECS[value.type as keyof typeof CONN_PARAMS_CODECS] as t.Mixed | undefined;
    if (paramsCodec) {
      const res = paramsCodec.decode(params);
      if (isLeft(res)) errors.push(...reportValidation(doc, res.left, { prefix: ['params'], what: `params of type ${value.type}` }));
    }
    if (value.type === 'kafka' && params['topic'] === undefined && !KAFKA_TOPIC.test(cid)) {
      errors.push(docError('KIS_ERR_CONFIG_SCHEMA', doc, ['params'],
        `conn '${cid}' is not a valid Kafka topic name (letters, digits, '.', '_', '-'), so params.topic is required`));
    }
    const key = keyFields(value.key);
    connDocs.set(cid, doc);
    keep('conn', cid, doc);
    conns.set(cid, {
      cid,
      name: value.cname ?? cid,
      type: value.type,
      addrs: splitList(value.addrs),
      key,
      params,
      load: value.load ?? [],
      save: value.save ?? [],
      origin: originOf(doc),
      doc: value,
    });
  }

  // ---- flows
  const flows = new Map<string, FlowConfig>();
  const flowDocs = new Map<string, YamlDoc>();
  for (const { doc, value } of entries.flow) {
    const id = value.flow_id ?? value.flow_name;
    const prior = flowDocs.get(id);
    if (prior) {
      errors.push(docError('KIS_ERR_CONFIG_DUPLICATE', doc, [value.flow_id ? 'flow_id' : 'flow_name'], `flow id '${id}' is already declared in ${prior.file} doc ${prior.index}`));
      continue;
    }
    const steps = value.flows.map((s, i) => {
      const fid = s.fid ?? s.fname;
      if (fid === undefined) errors.push(docError('KIS_ERR_CONFIG_SCHEMA', doc, ['flows', i], 'a flow step needs fid (or fname), found neither'));
      else if (s.fid !== undefined && s.fname !== undefined && s.fid !== s.fname) {
        errors.push(docError('KIS_ERR_CONFIG_SCHEMA', doc, ['flows', i, 'fname'], `fid '${s.fid}' and fname '${s.fname}' disagree; give one`));
      }
      return { fid: fid ?? '', params: s.params ?? {} };
    });
    if (steps.length === 0) errors.push(docError('KIS_ERR_CONFIG_SCHEMA', doc, ['flows'], 'a flow needs at least one step'));
    flowDocs.set(id, doc);
    keep('flow', id, doc);
    flows.set(id, {
      id,
      name: value.flow_name,
      enabled: (value.status ?? 1) === 1,
      steps,
      deadLetterTopic: value.dead_letter?.topic ?? deadLetterTopicFor(id),
      origin: originOf(doc),
      doc: value,
    });
  }

  // ---- sources
  const sources = new Map<string, SourceConfig>();
  const sourceDocs = new Map<string, YamlDoc>();
  for (const { doc, value } of entries.source) {
    const prior = sourceDocs.get(value.sid);
    if (prior) {
      errors.push(docError('KIS_ERR_CONFIG_DUPLICATE', doc, ['sid'], `source id '${value.sid}' is already declared in ${prior.file} doc ${prior.index}`));
      continue;
    }
    const params = value.params ?? {};
    const paramsCodec = SOURCE_PARAMS_CODECS[value.type as keyof typeof SOURCE_PARAMS_CODECS] as t.Mixed | undefined;
    if (!paramsCodec) {
      errors.push(docError('KIS_ERR_CONFIG_UNSUPPORTED', doc, ['type'],
        `source type '${value.type}' is part of the contract but not in this build yet; use file, generator, stdin, kafka or binlog`));
    } else {
      const res = paramsCodec.decode(params);
      if (isLeft(res)) errors.push(...reportValidation(doc, res.left, { prefix: ['params'], what: `params of type ${value.type}` }));
      else if (value.type === 'generator') {
        const p = res.right as { partitions?: number; key?: unknown };
        if ((p.partitions ?? 1) > 1 && p.key === undefined) {
          errors.push(docError('KIS_ERR_CONFIG_SCHEMA', doc, ['params', 'partitions'], 'a generator with partitions > 1 needs params.key (the fields that choose the partition)'));
        }
      } else if (value.type === 'binlog') {
        const p = res.right as { start?: string; tables: string[]; exclude?: string[] };
        if (p.start !== undefined && !BINLOG_START.test(p.start)) {
          errors.push(docError('KIS_ERR_CONFIG_SCHEMA', doc, ['params', 'start'], `expected end, beginning, '<file>:<pos>' or 'gtid:<set>', found '${p.start}'`));
        }
        for (const [field, list] of [['tables', p.tables], ['exclude', p.exclude ?? []]] as const) {
          list.forEach((pattern, i) => {
            if (!/^[^.]+\.[^.]+$/.test(pattern)) errors.push(docError('KIS_ERR_CONFIG_SCHEMA', doc, ['params', field, i], `expected 'schema.table' ('*' as a wildcard), found '${pattern}'`));
          });
        }
        if (splitList(value.addrs).length !== 1) {
          errors.push(docError('KIS_ERR_CONFIG_SCHEMA', doc, ['addrs'], "a binlog source needs addrs: the database 'host:port' (one address)"));
        }
      }
    }
    sourceDocs.set(value.sid, doc);
    keep('source', value.sid, doc);
    sources.set(value.sid, {
      sid: value.sid,
      name: value.sname ?? value.sid,
      type: value.type,
      addrs: splitList(value.addrs),
      params,
      flows: value.flows,
      origin: originOf(doc),
      doc: value,
    });
  }

  // ---- references between documents
  for (const f of funcs.values()) {
    const doc = funcDocs.get(f.fid)!;
    const cidPath = ['option', f.doc.option?.cid ? 'cid' : 'cname'];
    if (f.cid !== undefined && !conns.has(f.cid)) {
      errors.push(docError('KIS_ERR_CONFIG_REFERENCE', doc, cidPath, `connector '${f.cid}' is not declared by any kistype: conn document${suggest(f.cid, conns.keys())}`));
    }
    if ((f.mode === 'Save' || f.mode === 'Load') && f.cid === undefined) {
      errors.push(docError('KIS_ERR_CONFIG_REFERENCE', doc, ['option'], `a ${f.mode} function needs option.cid naming the connector it goes through`));
    }
    if (f.cid !== undefined && f.mode !== 'Save' && f.mode !== 'Load' && conns.has(f.cid)) {
      errors.push(docError('KIS_ERR_CONFIG_REFERENCE', doc, cidPath, `a ${f.mode} function has no use for a connector; only Save and Load functions go through one`));
    }
  }
  for (const c of conns.values()) {
    const doc = connDocs.get(c.cid)!;
    for (const [list, mode] of [['save', 'Save'], ['load', 'Load']] as const) {
      c[list].forEach((fid, i) => {
        const f = funcs.get(fid);
        if (!f) {
          errors.push(docError('KIS_ERR_CONFIG_REFERENCE', doc, [list, i], `function '${fid}' is not declared by any kistype: func document${suggest(fid, funcs.keys())}`));
        } else if (f.mode !== mode) {
          errors.push(docError('KIS_ERR_CONFIG_REFERENCE', doc, [list, i], `function '${fid}' is listed under ${list} but its fmode is ${f.mode}, expected ${mode}`));
        } else if (f.cid !== undefined && f.cid !== c.cid) {
          errors.push(docError('KIS_ERR_CONFIG_REFERENCE', doc, [list, i], `function '${fid}' goes through connector '${f.cid}' (its option.cid), not '${c.cid}'`));
        }
      });
    }
  }
  for (const fl of flows.values()) {
    const doc = flowDocs.get(fl.id)!;
    fl.steps.forEach((s, i) => {
      if (s.fid !== '' && !funcs.has(s.fid)) {
        const key = fl.doc.flows[i]?.fid !== undefined ? 'fid' : 'fname';
        errors.push(docError('KIS_ERR_CONFIG_REFERENCE', doc, ['flows', i, key], `function '${s.fid}' is not declared by any kistype: func document${suggest(s.fid, funcs.keys())}`));
      }
    });
    const loads = fl.steps.map((s, i) => ({ i, f: funcs.get(s.fid) })).filter((x) => x.f?.mode === 'Load');
    const fedBySource = [...sources.values()].some((s) => s.flows.includes(fl.id));
    if (!fedBySource && loads.length > 0 && loads[0]!.i !== 0) {
      errors.push(docError('KIS_ERR_CONFIG_REFERENCE', doc, ['flows', loads[0]!.i],
        'no source feeds this flow, so it is driven by its Load connector and the Load step must come first'));
    }
  }
  for (const s of sources.values()) {
    const doc = sourceDocs.get(s.sid)!;
    if (s.type === 'kafka' && s.addrs.length === 0 && !global.kafka) {
      errors.push(docError('KIS_ERR_CONFIG_REFERENCE', doc, ['type'],
        'a kafka source needs brokers: set kafka.brokers in the kistype: global document, or addrs on this source'));
    }
    s.flows.forEach((id, i) => {
      if (!flows.has(id)) errors.push(docError('KIS_ERR_CONFIG_REFERENCE', doc, ['flows', i], `flow '${id}' is not declared by any kistype: flow document${suggest(id, flows.keys())}`));
    });
  }

  const locate = (origin: Origin, p: readonly PathSegment[]): { line: number; col: number } | undefined =>
    docsByOrigin.get(`${origin.file}#${origin.doc}`)?.locate(p);
  if (errors.length > 0) return { config: undefined, errors, locate };
  const config: KisConfig = deepFreeze({ dir, global, sources, flows, funcs, conns, templates });
  return { config, errors, locate };
}

function tlsOf(v: NonNullable<GlobalDoc['kafka']>['tls'] | undefined): KafkaClusterConfig['tls'] {
  if (v === undefined || typeof v === 'boolean') return v;
  return {
    ...(v.ca !== undefined ? { ca: v.ca } : {}),
    ...(v.cert !== undefined ? { cert: v.cert } : {}),
    ...(v.key !== undefined ? { key: v.key } : {}),
    ...(v.reject_unauthorized !== undefined ? { rejectUnauthorized: v.reject_unauthorized } : {}),
  };
}

/** A dead-letter topic name that is a valid Kafka topic whatever the flow id is (ids may be any UTF-8). */
export function deadLetterTopicFor(flowId: string): string {
  if (KAFKA_TOPIC.test(flowId + '.dlq')) return flowId + '.dlq';
  const safe = flowId.replace(/[^a-zA-Z0-9._-]/g, '').slice(0, 40);
  return `kisflow.dlq.${safe ? safe + '-' : ''}${fnv1a(flowId)}`;
}

export function fnv1a(s: string): string {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(s, 'utf8')) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
}

function suggest(name: string, known: Iterable<string>): string {
  const list = [...known];
  const close = list.filter((k) => k.toLowerCase() === name.toLowerCase() || distance(k, name) <= 2);
  if (close.length > 0) return ` (did you mean '${close[0]}'?)`;
  return list.length > 0 && list.length <= 8 ? ` (declared: ${list.join(', ')})` : '';
}

function distance(a: string, b: string): number {
  const dp = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = dp[0]!;
    dp[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = dp[j]!;
      dp[j] = Math.min(dp[j]! + 1, dp[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return dp[b.length]!;
}

