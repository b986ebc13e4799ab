// Routes under `<base_path>api/`: a method, a path with {params}, who may call it, the body's codec, and
// for a state-changing route the audit action. A literal segment wins over a {param} in the same place.
import type * as t from 'io-ts';
import type { Principal } from '../auth/index.js';
import type { Role } from '../contract.js';

/** public: no session needed; a role: that role or a stronger one. */
export type Access = 'public' | Role;

export interface RouteContext<B = unknown> {
  readonly principal: Principal | undefined;
  readonly params: Readonly<Record<string, string>>;
  readonly query: URLSearchParams;
  readonly body: B;
  /** The client's address (the socket's; a proxy's x-forwarded-for is not trusted for rate limits). */
  readonly address: string;
  /** The request came over TLS (directly, or x-forwarded-proto: https). */
  readonly secure: boolean;
  /** Headers to add to the answer (Set-Cookie). */
  readonly headers: Record<string, string | string[]>;
  /** More detail for the audit record of this request (results, counts). */
  readonly detail: Record<string, unknown>;
}

export interface AuditSpec<B> {
  /** replay, rewind, snapshot, trigger, kill, apply, try, logout. */
  readonly action: string;
  readonly target: (ctx: RouteContext<B>) => string;
  /** What the request asked, for the record (never secrets or whole files). */
  readonly detail?: (ctx: RouteContext<B>) => Record<string, unknown>;
}

export interface Route<B = unknown> {
  readonly method: 'GET' | 'POST';
  /** Relative to `<base_path>api/`, e.g. `jobs/{job}/runs`. */
  readonly path: string;
  readonly access: Access;
  readonly body?: t.Type<B, unknown, unknown>;
  readonly audit?: AuditSpec<B>;
  /** Checks beyond the role (per-scene operators); throws an ApiHttpError to refuse. Runs before the audit check. */
  readonly guard?: (ctx: RouteContext<B>) => Promise<void>;
  readonly handle: (ctx: RouteContext<B>) => Promise<unknown>;
}

/** Erases a route's body type so that routes with different bodies sit in one list. */
export function route<B>(r: Route<B>): Route {
  return r as unknown as Route;
}

interface Compiled {
  readonly route: Route;
  readonly segments: readonly ({ literal: string } | { param: string })[];
}

export type Match =
  | { readonly kind: 'route'; readonly route: Route; readonly params: Record<string, string> }
  | { readonly kind: 'method'; readonly allow: readonly string[] }
  | { readonly kind: 'none' };

export class Router {
  private readonly compiled: Compiled[];

  constructor(readonly routes: readonly Route[]) {
    this.compiled = routes.map((r) => ({
      route: r,
      segments: r.path.split('/').map((s) => (/^\{[a-z_]+\}$/.test(s) ? { param: s.slice(1, -1) } : { literal: s })),
    }));
    const seen = new Set<string>();
    for (const r of routes) {
      const key = `${r.method} ${r.path.replace(/\{[a-z_]+\}/g, '{}')}`;
      if (seen.has(key)) throw new Error(`route ${r.method} ${r.path} is declared twice`);
      seen.add(key);
    }
  }

  /** `segments` are the path after `api/`, split on '/' and percent-decoded. */
  match(method: string, segments: readonly string[]): Match {
    let best: { c: Compiled; params: Record<string, string>; score: number } | undefined;
    const allow = new Set<string>();
    for (const c of this.compiled) {
      if (c.segments.length !== segments.length) continue;
      const params: Record<string, string> = {};
      let score = 0;
      let ok = true;
      c.segments.forEach((s, i) => {
        const seg = segments[i]!;
        if ('literal' in s) {
          if (s.literal !== seg) ok = false;
          else score += 1;
        } else if (seg === '') {
          ok = false;
        } else {
          params[s.param] = seg;
        }
      });
      if (!ok) continue;
      if (c.route.method !== method && !(method === 'HEAD' && c.route.method === 'GET')) {
        allow.add(c.route.method);
        continue;
      }
      if (!best || score > best.score) best = { c, params, score };
    }
    if (best) return { kind: 'route', route: best.c.route, params: best.params };
    return allow.size > 0 ? { kind: 'method', allow: [...allow] } : { kind: 'none' };
  }
}
