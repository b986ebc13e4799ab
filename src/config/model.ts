// The validated, normalized, frozen config every later folder reads. Aliases are resolved here
// (fname/fid, cname/cid, return_duration/retry_duration, V/S/L/C/E), so nothing downstream sees them.
import type { RowLimits } from '../kernel/limits.js';
import type { JobConfig } from './jobs/codec.js';
import type { Params } from '../kernel/types.js';
import type {
  ConnDoc, FlowDoc, FullMode, FuncDoc, GlobalDoc, SourceDoc,
} from './codecs.js';

export interface Origin {
  readonly file: string;
  readonly doc: number;
}

export interface GlobalConfig {
  readonly appId: string;
  readonly prometheus: { readonly enable: boolean; readonly listen: boolean; readonly serve: string };
  readonly kafka: KafkaClusterConfig | undefined;
  readonly drainTimeoutMs: number;
  readonly reloadIntervalMs: number;
  readonly functions: readonly string[];
  /** Bounds on every row (limits: in the global document, or the defaults); always set by the loader. */
  readonly limits?: RowLimits;
  /** The console and its JSON API (the global document's platform section); absent: not served. */
  readonly platform?: PlatformConfig;
  readonly origin: Origin | undefined;
  readonly doc: GlobalDoc | undefined;
}

/** The global document's `platform` section, normalised. */
export interface PlatformConfig {
  /** host:port the console and its API listen on. */
  readonly listen: string;
  /** Path prefix behind an ingress, with a leading and trailing '/' (default '/'). */
  readonly basePath: string;
  /** How often each replica publishes its status record and samples its history (default 5000). */
  readonly statusIntervalMs: number;
  /** How much history each replica keeps in memory for the charts (default 60 minutes). */
  readonly historyMinutes: number;
  /** Signs session cookies; the same on every replica so that a session works on any of them. Absent: random per process. */
  readonly sessionSecret: string | undefined;
  /** How long a session lasts without use (default 12 h). */
  readonly sessionTtlMs: number;
  /** Users from the document (secrets through ${VAR}) and from users_file (a mounted Secret), merged; a name may appear once. */
  readonly users: readonly PlatformUser[];
}

export interface PlatformUser {
  readonly name: string;
  readonly role: 'viewer' | 'operator' | 'admin';
  /** Scenes an operator may act on; absent: all. */
  readonly scenes?: readonly string[];
  /** `scrypt$<N>$<r>$<p>$<salt b64>$<hash b64>` (kisflow users hash), or absent when the user has a token. */
  readonly passwordHash?: string;
  /** A bearer token (Authorization: Bearer …), for scripts; from a Secret. */
  readonly token?: string;
}

export interface KafkaClusterConfig {
  readonly brokers: readonly string[];
  readonly clientId: string;
  readonly tls: boolean | { readonly ca?: string; readonly cert?: string; readonly key?: string; readonly rejectUnauthorized?: boolean } | undefined;
  readonly sasl: { readonly mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512'; readonly username: string; readonly password: string } | undefined;
  readonly connectionTimeoutMs: number;
}

export interface FuncConfig {
  readonly fid: string;
  readonly fname: string;
  readonly mode: FullMode;
  readonly sourceName: string;
  readonly must: readonly string[];
  readonly cid: string | undefined;
  readonly retryTimes: number;
  readonly retryDuration: number;
  readonly defaultParams: Params;
  /** option.state: the function keeps keyed state (bounds absent: the defaults). */
  readonly state: { readonly maxKeys: number | undefined; readonly ttlMs: number | undefined } | undefined;
  readonly origin: Origin;
  readonly doc: FuncDoc;
}

export interface FlowStepConfig {
  readonly fid: string;
  readonly params: Params;
}

export interface FlowConfig {
  readonly id: string;
  readonly name: string;
  readonly enabled: boolean;
  readonly steps: readonly FlowStepConfig[];
  readonly deadLetterTopic: string;
  /** The global document's row limits, checked where rows enter this flow; always set by the loader (absent: the defaults). */
  readonly limits?: RowLimits;
  readonly origin: Origin;
  readonly doc: FlowDoc;
}

export interface ConnConfig {
  readonly cid: string;
  readonly name: string;
  readonly type: string;
  readonly addrs: readonly string[];
  readonly key: readonly string[];
  readonly params: Params;
  readonly load: readonly string[];
  readonly save: readonly string[];
  readonly origin: Origin;
  readonly doc: ConnDoc;
}

export interface SourceConfig {
  readonly sid: string;
  readonly name: string;
  readonly type: SourceDoc['type'];
  readonly addrs: readonly string[];
  readonly params: Params;
  readonly flows: readonly string[];
  readonly origin: Origin;
  readonly doc: SourceDoc;
}

export interface KisConfig {
  /** Absolute path of the config directory; relative paths in params resolve against it. */
  readonly dir: string;
  /**
   * Where relative data paths in params resolve (files a source reads, SQLite databases, checkpoint files):
   * the config directory, except when the service runs from a copy of it with the console's edits laid over
   * (then the mounted directory, so that data lands where it always did).
   */
  readonly dataDir: string;
  readonly global: GlobalConfig;
  readonly sources: ReadonlyMap<string, SourceConfig>;
  readonly flows: ReadonlyMap<string, FlowConfig>;
  readonly funcs: ReadonlyMap<string, FuncConfig>;
  readonly conns: ReadonlyMap<string, ConnConfig>;
  /** Scheduled jobs (kistype: job). */
  readonly jobs: ReadonlyMap<string, JobConfig>;
  /** `${VAR}` templates as written, by object and path, so that export can write them back. */
  readonly templates: ReadonlyMap<string, ReadonlyMap<string, string>>;
}

export const MODE_NAMES: Readonly<Record<string, FullMode>> = {
  V: 'Verify', S: 'Save', L: 'Load', C: 'Calculate', E: 'Expand',
  Verify: 'Verify', Save: 'Save', Load: 'Load', Calculate: 'Calculate', Expand: 'Expand',
};

export function splitList(s: string | readonly string[] | undefined): string[] {
  if (s === undefined) return [];
  const parts = typeof s === 'string' ? s.split(',') : [...s];
  return parts.map((p) => p.trim()).filter((p) => p.length > 0);
}

/** `userid_orderid` names fields userid and orderid; a YAML list names fields that contain '_'. */
export function keyFields(key: string | readonly string[] | undefined): string[] {
  if (key === undefined) return [];
  return typeof key === 'string' ? key.split('_').filter((p) => p.length > 0) : [...key];
}

export function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    if (value instanceof Map) for (const v of value.values()) deepFreeze(v);
    else for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
