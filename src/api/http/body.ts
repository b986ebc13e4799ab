// Request bodies: read up to a limit, parsed as JSON, then decoded with the route's codec. Every refusal
// says where: the byte offset of a JSON syntax error, or the field path a codec refused.
import type { IncomingMessage } from 'node:http';
import { isLeft } from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { ClosedType } from '../../config/closed.js';
import { ApiHttpError } from './respond.js';

export const BODY_LIMIT = 1024 * 1024;

export async function readBody(req: IncomingMessage, limit: number = BODY_LIMIT): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (declared > limit) throw new ApiHttpError(413, 'API_BAD_REQUEST', `the body is larger than ${limit} bytes`, 'body');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new ApiHttpError(413, 'API_BAD_REQUEST', `the body is larger than ${limit} bytes`, 'body');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** The body as JSON; an empty body reads as {} (a POST with nothing to say, like logout or kill). */
export function parseJson(body: Buffer, contentType: string | undefined): unknown {
  if (body.length === 0) return {};
  if (contentType !== undefined && !/^application\/([a-z.+-]*\+)?json\b/i.test(contentType.trim())) {
    throw new ApiHttpError(415, 'API_BAD_REQUEST', `expected content-type application/json, found ${contentType}`, 'content-type');
  }
  try {
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch (err) {
    const pos = /position (\d+)/.exec(err instanceof Error ? err.message : '')?.[1];
    throw new ApiHttpError(400, 'API_BAD_REQUEST', `the body is not valid JSON: ${err instanceof Error ? err.message : String(err)}`, pos !== undefined ? `body@${pos}` : 'body');
  }
}

/** A field path of an io-ts error ('filter.since', 'rows[2]'), skipping the branch keys of unions and intersections. */
function pathOf(e: t.ValidationError): string {
  let out = '';
  for (let i = 1; i < e.context.length; i++) {
    const parent = e.context[i - 1]!.type;
    const entry = e.context[i]!;
    if (parent instanceof t.UnionType || parent instanceof t.IntersectionType) continue;
    if (parent instanceof ClosedType && (entry.type instanceof t.InterfaceType || entry.type instanceof t.PartialType)) continue;
    out += parent instanceof t.ArrayType ? `[${entry.key}]` : out === '' ? entry.key : `.${entry.key}`;
  }
  return out;
}

export function decode<C extends t.Mixed>(codec: C, value: unknown, where = 'body'): t.TypeOf<C> {
  const r = codec.decode(value);
  if (!isLeft(r)) return r.right as t.TypeOf<C>;
  const first = r.left[0]!;
  const path = pathOf(first);
  const last = first.context[first.context.length - 1]!;
  const message = first.message
    ?? (last.actual === undefined ? `${path || where} is required (${last.type.name})` : `${path || where}: expected ${last.type.name}, found ${JSON.stringify(last.actual)?.slice(0, 60) ?? String(last.actual)}`);
  throw new ApiHttpError(400, 'API_BAD_REQUEST', message, path === '' ? where : path);
}
