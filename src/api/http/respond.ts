// Writing answers: JSON with the security headers every response carries, and the one error shape
// (ApiError) every refusal has. An error the service did not expect answers 500 with a generic message;
// the real one goes to the log only, because a message or a stack can carry hosts, paths or row data.
import type { ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { isKisError, type KisErrorCode } from '../../kernel/errors.js';
import { ApiRefusal } from '../backend.js';
import type { ApiError } from '../contract.js';

/** A refusal decided by the HTTP layer itself (auth, CSRF, validation, routing). */
export class ApiHttpError extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly where?: string, readonly headers: Readonly<Record<string, string>> = {}) {
    super(message);
    this.name = 'ApiHttpError';
  }
}

/** Headers on every response, page and API alike. The page runs no inline script, so CSP can forbid it. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Readonly<Record<string, string | string[]>> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...SECURITY_HEADERS,
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    'content-length': String(Buffer.byteLength(text)),
    ...headers,
  });
  res.end(text);
}

// KisErrors that reach a route are the request's fault when they name bad input; the rest are ours.
const KIS_STATUS: Partial<Record<KisErrorCode, number>> = {
  KIS_ERR_CONFIG_PARSE: 422,
  KIS_ERR_CONFIG_SCHEMA: 422,
  KIS_ERR_CONFIG_KISTYPE: 422,
  KIS_ERR_CONFIG_DUPLICATE: 422,
  KIS_ERR_CONFIG_REFERENCE: 422,
  KIS_ERR_CONFIG_ENV: 422,
  KIS_ERR_CONFIG_NO_IMPL: 422,
  KIS_ERR_CONFIG_UNSUPPORTED: 422,
  KIS_ERR_JOB_CRON: 422,
  KIS_ERR_JOB_CYCLE: 422,
  KIS_ERR_EXPRESSION: 400,
  KIS_ERR_USAGE: 400,
  KIS_ERR_REPAIR_REQUEST: 400,
};

/** The status, code, message and where of any error, and whether its message may be shown. */
export function classify(err: unknown): { status: number; body: ApiError; headers: Readonly<Record<string, string>>; internal: boolean } {
  if (err instanceof ApiHttpError) {
    return { status: err.status, body: errorBody(err.code, err.message, err.where), headers: err.headers, internal: false };
  }
  if (err instanceof ApiRefusal) {
    return { status: err.status, body: errorBody(err.code, err.message, err.where), headers: {}, internal: false };
  }
  if (isKisError(err)) {
    const status = KIS_STATUS[err.code];
    // A "no such …" refusal from the repair code is a 404 in HTTP terms.
    if (status === 400 && err.code === 'KIS_ERR_REPAIR_REQUEST' && /^no (flow|source|job|run) /.test(err.message)) {
      return { status: 404, body: errorBody(err.code, err.message, err.context.path), headers: {}, internal: false };
    }
    if (status !== undefined) return { status, body: errorBody(err.code, err.message, err.context.path), headers: {}, internal: false };
  }
  return { status: 500, body: errorBody('API_INTERNAL', 'internal error; the server log has the details'), headers: {}, internal: true };
}

export function errorBody(code: string, message: string, where?: string): ApiError {
  return { error: { code, message, ...(where !== undefined ? { where } : {}) } };
}

export function sendError(res: ServerResponse, err: unknown, logger: Logger, context: Readonly<Record<string, string>>): void {
  const c = classify(err);
  if (c.internal) {
    logger.error({ ...context, err }, 'console API request failed');
  } else if (c.status >= 500) {
    logger.warn({ ...context, code: c.body.error.code, reason: c.body.error.message }, 'console API request refused');
  }
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJson(res, c.status, c.body, c.headers);
}
