// Who is asking: a session cookie (people, through the page) or a bearer token (scripts). Users come from
// the config the process started with; a changed users list takes effect at the next start (a hot reload
// does not re-read it), so a removed user's cookie stops working only then, or when it expires.
import type { PlatformConfig, PlatformUser } from '../../config/model.js';
import { LoginLimiter, type RateLimitOptions } from './rate-limit.js';
import { hashPassword, sameSecret, verifyPassword } from './password.js';
import { COOKIE_NAME, cookieValue, newCsrfToken, SessionSigner, sessionCookie, type Session } from './session.js';

export { hashPassword, verifyPassword } from './password.js';
export { COOKIE_NAME } from './session.js';

export interface Principal {
  readonly user: PlatformUser;
  readonly via: 'cookie' | 'bearer';
  /** The cookie's session (absent for a bearer token, which needs no CSRF token). */
  readonly session?: Session;
}

export type LoginOutcome =
  | { readonly ok: true; readonly user: PlatformUser; readonly session: Session }
  | { readonly ok: false; readonly status: 401 }
  | { readonly ok: false; readonly status: 429; readonly retryAfterMs: number };

export interface AuthOptions {
  readonly now?: () => number;
  readonly limits?: RateLimitOptions;
}

export class Authenticator {
  private readonly users: ReadonlyMap<string, PlatformUser>;
  private readonly signer: SessionSigner;
  private readonly limiter: LoginLimiter;
  private readonly now: () => number;
  /** Checked for unknown users, so that a login for a name that does not exist takes as long as a wrong password. */
  private readonly decoy: Promise<string>;

  constructor(private readonly platform: PlatformConfig, opts: AuthOptions = {}) {
    this.users = new Map(platform.users.map((u) => [u.name, u]));
    this.signer = new SessionSigner(platform.sessionSecret);
    this.limiter = new LoginLimiter(opts.limits);
    this.now = opts.now ?? Date.now;
    const sample = platform.users.find((u) => u.passwordHash !== undefined)?.passwordHash;
    this.decoy = sample !== undefined ? Promise.resolve(sample) : hashPassword('decoy', { n: 2 ** 14, r: 8, p: 1 });
  }

  user(name: string): PlatformUser | undefined {
    return this.users.get(name);
  }

  allUsers(): readonly PlatformUser[] {
    return [...this.users.values()];
  }

  /** The principal of a request, from `Authorization: Bearer` if present (a wrong token does not fall back to the cookie), else the cookie. */
  authenticate(headers: { readonly authorization?: string | undefined; readonly cookie?: string | undefined }): Principal | undefined {
    const auth = headers.authorization;
    if (auth !== undefined) {
      const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
      if (!m) return undefined;
      // Every token is compared, so the time taken does not tell which user's token was close.
      let found: PlatformUser | undefined;
      for (const u of this.users.values()) {
        if (u.token !== undefined && sameSecret(u.token, m[1]!)) found = u;
      }
      return found ? { user: found, via: 'bearer' } : undefined;
    }
    const value = cookieValue(headers.cookie, COOKIE_NAME);
    if (value === undefined) return undefined;
    const session = this.signer.verify(value, this.now());
    const user = session ? this.users.get(session.user) : undefined;
    return user && session ? { user, via: 'cookie', session } : undefined;
  }

  async login(name: string, password: string, address: string): Promise<LoginOutcome> {
    const now = this.now();
    const wait = this.limiter.blockedFor(name, address, now);
    if (wait > 0) return { ok: false, status: 429, retryAfterMs: wait };
    const user = this.users.get(name);
    const hash = user?.passwordHash ?? await this.decoy;
    const good = await verifyPassword(password, hash);
    if (!user || user.passwordHash === undefined || !good) {
      this.limiter.failed(name, address, now);
      return { ok: false, status: 401 };
    }
    this.limiter.succeeded(name);
    return { ok: true, user, session: { user: user.name, expires: now + this.platform.sessionTtlMs, csrf: newCsrfToken() } };
  }

  /** The Set-Cookie header of a session, extended to a full ttl from now (sliding expiry); the CSRF token stays. */
  cookieFor(session: Session, secure: boolean): string {
    const renewed = { ...session, expires: this.now() + this.platform.sessionTtlMs };
    return sessionCookie(this.signer.sign(renewed), { path: this.platform.basePath, maxAgeMs: this.platform.sessionTtlMs, secure });
  }

  clearCookie(secure: boolean): string {
    return sessionCookie('', { path: this.platform.basePath, maxAgeMs: 0, secure });
  }
}
