// The OpenAPI description and the router describe the same API: the same routes both ways, the same
// roles, a request body exactly where the server decodes one, and every $ref resolving.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryAudit } from '../../src/api/audit.js';
import { Authenticator } from '../../src/api/auth/index.js';
import { apiRoutes } from '../../src/api/http/routes.js';
import { describedRoutes, openApiDocument } from '../../src/api/openapi.js';
import type { PlatformConfig } from '../../src/config/model.js';
import { silentLogger } from '../../src/observability/logger.js';
import { memoryBackend } from './fake-backend.js';

const platform: PlatformConfig = { listen: '127.0.0.1:0', basePath: '/k/', statusIntervalMs: 5000, historyMinutes: 60, sessionSecret: 's', sessionTtlMs: 1000, users: [] };
const routes = apiRoutes({
  platform, backend: memoryBackend(), auth: new Authenticator(platform), audit: new MemoryAudit(silentLogger()), version: '1', now: Date.now, logger: silentLogger(),
});
type Doc = { paths: Record<string, Record<string, { 'x-kis-role': string; requestBody?: unknown; security?: unknown[]; parameters?: Array<{ name?: string; in?: string; $ref?: string }> }>>; components: Record<string, Record<string, unknown>> };
const doc = openApiDocument('/k/', '1') as unknown as Doc;

test('the router and the OpenAPI description have the same routes, both ways', () => {
  const served = routes.map((r) => `${r.method} api/${r.path}`).sort();
  const described = describedRoutes().sort();
  assert.deepEqual(served.filter((r) => !described.includes(r)), [], 'served but not described');
  assert.deepEqual(described.filter((r) => !served.includes(r)), [], 'described but not served');
  const inDoc = Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p.slice(1)}`)).sort();
  assert.deepEqual(inDoc, served);
});

test('each operation states the role the router enforces, its path parameters, and a body exactly where one is decoded', () => {
  for (const r of routes) {
    const op = doc.paths[`/api/${r.path}`]![r.method.toLowerCase()]!;
    assert.equal(op['x-kis-role'], r.access, `${r.method} ${r.path}`);
    assert.equal(op.requestBody !== undefined, r.body !== undefined, `${r.method} ${r.path} body`);
    const declared = (op.parameters ?? []).filter((p) => p.in === 'path').map((p) => p.name).sort();
    const inPath = [...r.path.matchAll(/\{([a-z_]+)\}/g)].map((m) => m[1]).sort();
    assert.deepEqual(declared, inPath, `${r.method} ${r.path} path parameters`);
    if (r.access === 'public') assert.deepEqual(op.security, []);
    if (r.method === 'POST' && r.access !== 'public') assert.ok(op.parameters?.some((p) => p.$ref === '#/components/parameters/Csrf'), `${r.path} CSRF header`);
  }
});

test('every $ref in the description resolves; the security schemes are the cookie and the bearer token', () => {
  const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"#\/components\/([a-zA-Z]+)\/([a-zA-Z]+)"/g)];
  assert.ok(refs.length > 20);
  for (const [, kind, name] of refs) assert.ok(doc.components[kind!]?.[name!] !== undefined, `${kind}/${name}`);
  assert.deepEqual(doc.components['securitySchemes'], {
    session: { type: 'apiKey', in: 'cookie', name: 'kis_session', description: (doc.components['securitySchemes']!['session'] as { description: string }).description },
    bearer: { type: 'http', scheme: 'bearer', description: (doc.components['securitySchemes']!['bearer'] as { description: string }).description },
  });
  assert.ok(doc.components['schemas']!['ApiError']);
});
