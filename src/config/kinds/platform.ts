// The global document's `platform` section: where the console and its JSON API listen, how sessions are
// signed, and who may sign in (users in the document and in users_file, typically a mounted Secret).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { isLeft } from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { errorMessage, type KisError } from '../../kernel/errors.js';
import { closed } from '../closed.js';
import type { PlatformConfig, PlatformUser } from '../model.js';
import { NonEmptyString, PositiveInt } from '../primitives.js';
import { docError, reportValidation } from '../report.js';
import { formatPath, parseYamlFile, type PathSegment, type YamlDoc } from '../yaml-docs.js';

export const PlatformUserCodec = closed('KisPlatformUser', {
  name: NonEmptyString,
  role: t.keyof({ viewer: null, operator: null, admin: null }),
}, {
  scenes: t.array(NonEmptyString),
  password_hash: NonEmptyString,
  token: NonEmptyString,
}, 'One person or script that may use the console. Exactly one of password_hash and token.', {
  name: 'The user name typed at the login page (and recorded in the audit).',
  role: 'viewer reads; operator also replays, triggers, kills, rewinds, snapshots, tries and validates; admin also applies config and sees users and the audit.',
  scenes: 'Operators only: the job scenes this operator may trigger and kill (absent: every scene).',
  password_hash: 'scrypt$N$r$p$<salt base64>$<hash base64>, as printed by `kisflow users hash` (reads the password on stdin).',
  token: 'A bearer token for scripts (Authorization: Bearer <token>); write it as ${VAR} or keep it in users_file.',
});

export const PlatformCodec = closed('KisPlatform', {
  listen: NonEmptyString,
}, {
  base_path: NonEmptyString,
  status_interval_ms: PositiveInt,
  history_minutes: PositiveInt,
  session_secret: NonEmptyString,
  session_ttl_ms: PositiveInt,
  users: t.array(PlatformUserCodec),
  users_file: NonEmptyString,
}, 'The web console and its JSON API, served by every replica (and in embedded mode). Absent: not served.', {
  listen: "host:port the console listens on, e.g. '0.0.0.0:8080' (port 0: any free port).",
  base_path: "Path prefix when served behind an ingress, e.g. '/kisflow/' (default '/'; a leading and a trailing '/' are added).",
  status_interval_ms: 'How often each replica publishes its status record and samples its history (default 5000).',
  history_minutes: 'How many minutes of history each replica keeps for the charts (default 60).',
  session_secret: 'Signs session cookies; write it as ${VAR} and give every replica the same one so that a session works on any. Absent: a random key per process (sessions end at a restart).',
  session_ttl_ms: 'How long a session lasts without use; each request extends it (default 43200000, 12 h).',
  users: 'Who may sign in (merged with users_file; a name may appear once).',
  users_file: 'A YAML or JSON file holding a list of users (the same fields as users), relative to the config directory: typically a mounted Kubernetes Secret. Keep it outside the config directory or name it .json, so that the loader does not read it as a config document.',
});
export type PlatformDoc = t.TypeOf<typeof PlatformCodec>;
type PlatformUserDoc = t.TypeOf<typeof PlatformUserCodec>;

export const DEFAULT_SESSION_TTL_MS = 12 * 60 * 60 * 1000;

/** The parts of a password hash; undefined when the text does not have the shape `scrypt$N$r$p$salt$hash`. */
export interface PasswordHashParts {
  readonly n: number;
  readonly r: number;
  readonly p: number;
  readonly salt: Buffer;
  readonly hash: Buffer;
}

const B64 = /^[A-Za-z0-9+/]+={0,2}$/;

export function parsePasswordHash(text: string): PasswordHashParts | undefined {
  const parts = text.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return undefined;
  const [n, r, p] = parts.slice(1, 4).map((s) => (/^[1-9][0-9]{0,9}$/.test(s!) ? Number(s) : NaN)) as [number, number, number];
  // scrypt needs N a power of two above 1; r * p is bounded by the algorithm (2^30).
  if (!(n > 1 && (n & (n - 1)) === 0) || !(r > 0) || !(p > 0) || r * p >= 2 ** 30) return undefined;
  const [salt, hash] = [parts[4]!, parts[5]!];
  if (!B64.test(salt) || !B64.test(hash)) return undefined;
  const saltBuf = Buffer.from(salt, 'base64');
  const hashBuf = Buffer.from(hash, 'base64');
  if (saltBuf.length < 8 || hashBuf.length < 16) return undefined;
  return { n, r, p, salt: saltBuf, hash: hashBuf };
}

/** host:port with a port from 0 to 65535. */
export function parseListen(listen: string): { host: string; port: number } | undefined {
  const idx = listen.lastIndexOf(':');
  if (idx <= 0) return undefined;
  const host = listen.slice(0, idx).replace(/^\[(.*)\]$/, '$1');
  const portText = listen.slice(idx + 1);
  if (!/^[0-9]{1,5}$/.test(portText)) return undefined;
  const port = Number(portText);
  return port <= 65535 && host !== '' ? { host, port } : undefined;
}

/** '/', 'kisflow', '/kisflow', 'kisflow/' -> '/' or '/kisflow/'. */
export function normaliseBasePath(p: string): string {
  const inner = p.split('/').filter((s) => s !== '').join('/');
  return inner === '' ? '/' : `/${inner}/`;
}

/** One user's own problems (role and scenes, exactly one secret, the hash's shape), as [path, what]. */
function userProblems(u: PlatformUserDoc): Array<[PathSegment[], string]> {
  const out: Array<[PathSegment[], string]> = [];
  if (u.scenes !== undefined && u.role !== 'operator') out.push([['scenes'], `scenes restrict an operator; user ${u.name} is ${u.role === 'admin' ? 'an' : 'a'} ${u.role}`]);
  if ((u.password_hash === undefined) === (u.token === undefined)) {
    out.push([[], `user ${u.name} needs exactly one of password_hash and token, found ${u.password_hash === undefined ? 'neither' : 'both'}`]);
  }
  if (u.password_hash !== undefined && parsePasswordHash(u.password_hash) === undefined) {
    out.push([['password_hash'], `expected scrypt$N$r$p$<salt base64>$<hash base64> (print one with: kisflow users hash), found a value of another shape`]);
  }
  return out;
}

function toUser(u: PlatformUserDoc): PlatformUser {
  return {
    name: u.name,
    role: u.role,
    ...(u.scenes !== undefined ? { scenes: u.scenes } : {}),
    ...(u.password_hash !== undefined ? { passwordHash: u.password_hash } : {}),
    ...(u.token !== undefined ? { token: u.token } : {}),
  };
}

const UsersFileCodec = t.union([t.array(PlatformUserCodec), closed('KisUsersFile', { users: t.array(PlatformUserCodec) }, {}, 'A users file.')]);

/** Reads users_file: a list of users, or a mapping with `users:`. Problems go to `errors`. */
function readUsersFile(dir: string, file: string, env: NodeJS.ProcessEnv, g: YamlDoc, errors: KisError[]): Array<{ user: PlatformUserDoc; doc: YamlDoc; at: PathSegment[] }> {
  const abs = path.resolve(dir, file);
  let text: string;
  try {
    text = readFileSync(abs, 'utf8');
  } catch (cause) {
    errors.push(docError('KIS_ERR_CONFIG_DIR', g, ['platform', 'users_file'], `cannot read ${abs}: ${errorMessage(cause)}`));
    return [];
  }
  const parsed = parseYamlFile(file, text, env);
  errors.push(...parsed.errors);
  const doc = parsed.docs[0];
  if (!doc) {
    if (parsed.errors.length === 0) errors.push(docError('KIS_ERR_CONFIG_SCHEMA', g, ['platform', 'users_file'], `${file} holds no users list`));
    return [];
  }
  const decoded = UsersFileCodec.decode(doc.value);
  if (isLeft(decoded)) {
    errors.push(...reportValidation(doc, decoded.left, { what: 'users_file' }));
    return [];
  }
  const list = Array.isArray(decoded.right) ? decoded.right : decoded.right.users;
  const prefix: PathSegment[] = Array.isArray(decoded.right) ? [] : ['users'];
  return list.map((user, i) => ({ user, doc, at: [...prefix, i] }));
}

/** The normalised section, or undefined when the document has none; its problems go to `errors`. */
export function platformOf(v: PlatformDoc | undefined, g: YamlDoc, dir: string, env: NodeJS.ProcessEnv, errors: KisError[]): PlatformConfig | undefined {
  if (v === undefined) return undefined;
  if (parseListen(v.listen) === undefined) {
    errors.push(docError('KIS_ERR_CONFIG_SCHEMA', g, ['platform', 'listen'], `expected host:port with a port from 0 to 65535, found ${JSON.stringify(v.listen)}`));
  }
  const all = [
    ...(v.users ?? []).map((user, i) => ({ user, doc: g, at: ['platform', 'users', i] as PathSegment[] })),
    ...(v.users_file !== undefined ? readUsersFile(dir, v.users_file, env, g, errors) : []),
  ];
  const seen = new Map<string, { doc: YamlDoc; at: PathSegment[] }>();
  for (const { user, doc, at } of all) {
    for (const [p, what] of userProblems(user)) errors.push(docError('KIS_ERR_CONFIG_SCHEMA', doc, [...at, ...p], what));
    const first = seen.get(user.name);
    if (first) {
      errors.push(docError('KIS_ERR_CONFIG_DUPLICATE', doc, [...at, 'name'], `user ${user.name} is declared twice; the first is in ${first.doc.file} at ${formatPath(first.at)}`));
    } else {
      seen.set(user.name, { doc, at });
    }
  }
  return {
    listen: v.listen,
    basePath: normaliseBasePath(v.base_path ?? '/'),
    statusIntervalMs: v.status_interval_ms ?? 5000,
    historyMinutes: v.history_minutes ?? 60,
    sessionSecret: v.session_secret,
    sessionTtlMs: v.session_ttl_ms ?? DEFAULT_SESSION_TTL_MS,
    users: all.map(({ user }) => toUser(user)),
  };
}
