// The session cookie: `<payload b64url>.<HMAC-SHA256 b64url>`, where the payload holds the user, the
// expiry and the session's CSRF token. Signed, not encrypted: it holds nothing secret from its owner, and
// a signed cookie needs no shared session store, so a session works on every replica with the same secret.
import { createHmac, randomBytes } from 'node:crypto';
import { sameSecret } from './password.js';

export const COOKIE_NAME = 'kis_session';

export interface Session {
  readonly user: string;
  /** ms since the epoch. */
  readonly expires: number;
  readonly csrf: string;
}

export class SessionSigner {
  private readonly key: Buffer;

  /** secret absent: a random key, so sessions end when the process does. */
  constructor(secret: string | undefined) {
    this.key = secret !== undefined ? Buffer.from(secret, 'utf8') : randomBytes(32);
  }

  private mac(payload: string): string {
    return createHmac('sha256', this.key).update(payload).digest('base64url');
  }

  sign(s: Session): string {
    const payload = Buffer.from(JSON.stringify({ u: s.user, e: s.expires, c: s.csrf }), 'utf8').toString('base64url');
    return `${payload}.${this.mac(payload)}`;
  }

  /** The session of a cookie value, or undefined when it is forged, malformed or expired. */
  verify(value: string, now: number): Session | undefined {
    const dot = value.indexOf('.');
    if (dot <= 0) return undefined;
    const payload = value.slice(0, dot);
    if (!sameSecret(this.mac(payload), value.slice(dot + 1))) return undefined;
    let raw: unknown;
    try {
      raw = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    } catch {
      return undefined;
    }
    const o = raw as { u?: unknown; e?: unknown; c?: unknown };
    if (typeof o.u !== 'string' || typeof o.e !== 'number' || typeof o.c !== 'string') return undefined;
    if (o.e <= now) return undefined;
    return { user: o.u, expires: o.e, csrf: o.c };
  }
}

export function newCsrfToken(): string {
  return randomBytes(24).toString('base64url');
}

/** The value of one cookie in a Cookie header. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** A Set-Cookie header for the session (value '' and maxAge 0 clear it). */
export function sessionCookie(value: string, opts: { path: string; maxAgeMs: number; secure: boolean }): string {
  return [
    `${COOKIE_NAME}=${value}`,
    `Path=${opts.path}`,
    `Max-Age=${Math.max(0, Math.floor(opts.maxAgeMs / 1000))}`,
    'HttpOnly',
    'SameSite=Strict',
    ...(opts.secure ? ['Secure'] : []),
  ].join('; ');
}
