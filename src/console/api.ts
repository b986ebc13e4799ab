// The page's only way to the server: JSON over fetch with relative URLs (so the console works under any
// base path), the CSRF token in `x-kis-csrf` on every POST, 401 back to the login view, and every other
// refusal shown in the banner with the server's own message.
import type { ApiError } from '../api/contract.js';
import { showError } from './banner.js';

/** A request the server refused (already shown to the user) or that never got an answer. */
export class ApiFailure extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
    this.name = 'ApiFailure';
  }
}

let csrf = '';
let onUnauthenticated: () => void = () => undefined;

export function setCsrf(token: string): void {
  csrf = token;
}

/** What to do when the session is gone (the server answered 401): show the login view. */
export function whenUnauthenticated(fn: () => void): void {
  onUnauthenticated = fn;
}

export type Query = Readonly<Record<string, string | number | undefined>>;

export function url(path: string, query?: Query): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {})) {
    if (v !== undefined && v !== '') params.set(k, String(v));
  }
  const qs = params.toString();
  return `api/${path}${qs ? `?${qs}` : ''}`;
}

function isApiError(body: unknown): body is ApiError {
  if (typeof body !== 'object' || body === null || !('error' in body)) return false;
  const e = (body as { error: unknown }).error;
  return typeof e === 'object' && e !== null && typeof (e as { message?: unknown }).message === 'string';
}

async function send<T>(method: 'GET' | 'POST', target: string, body: unknown, quiet401: boolean): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (method === 'POST') {
    headers['content-type'] = 'application/json';
    headers['x-kis-csrf'] = csrf;
  }
  let res: Response;
  try {
    res = await fetch(target, { method, headers, body: method === 'POST' ? JSON.stringify(body ?? {}) : undefined, credentials: 'same-origin' });
  }
  catch (e) {
    const failure = new ApiFailure(0, 'NETWORK', `the server did not answer: ${e instanceof Error ? e.message : String(e)}`);
    showError(failure.message, failure.code);
    throw failure;
  }
  const text = await res.text();
  let parsed: unknown = undefined;
  try { parsed = text ? JSON.parse(text) : undefined; }
  catch { parsed = undefined; }
  if (res.ok) return parsed as T;
  const failure = isApiError(parsed)
    ? new ApiFailure(res.status, parsed.error.code, parsed.error.where ? `${parsed.error.message} (at ${parsed.error.where})` : parsed.error.message)
    : new ApiFailure(res.status, `HTTP_${res.status}`, `${res.status} ${res.statusText || 'error'}`);
  if (res.status === 401) {
    if (!quiet401) onUnauthenticated();
  }
  else showError(failure.message, failure.code);
  throw failure;
}

export function get<T>(path: string, query?: Query): Promise<T> {
  return send<T>('GET', url(path, query), undefined, false);
}

export function post<T>(path: string, body: unknown): Promise<T> {
  return send<T>('POST', url(path), body, false);
}

/** For the login form and the first GET api/me: a 401 there is an answer, not a lost session. */
export function postQuiet<T>(path: string, body: unknown): Promise<T> {
  return send<T>('POST', url(path), body, true);
}

export function getQuiet<T>(path: string): Promise<T> {
  return send<T>('GET', url(path), undefined, true);
}

/** Runs an action of a view; a failure was already shown by the banner, anything else is shown now. */
export function attempt(fn: () => Promise<void>): void {
  fn().catch((e: unknown) => {
    if (e instanceof ApiFailure) return;
    showError(e instanceof Error ? e.message : String(e), 'CONSOLE');
  });
}

/** A path segment for a route (flow ids and fids may hold any character). */
export function seg(s: string): string {
  return encodeURIComponent(s);
}
