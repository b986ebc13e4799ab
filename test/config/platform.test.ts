// The global document's platform section: defaults, normalisation, users from the document and from
// users_file, and every refusal naming its file, document and path.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { loadConfigFiles } from '../../src/config/load.js';
import { normaliseBasePath, parsePasswordHash } from '../../src/config/kinds/platform.js';
import { errorWith, loadYaml } from '../helpers.js';

// A real hash of 'pw' (N=16 keeps the test fast; the shape is what the loader checks).
const HASH = 'scrypt$16$8$1$c2FsdHNhbHRzYWx0$' + Buffer.alloc(32, 7).toString('base64');

const dir = mkdtempSync(path.join(tmpdir(), 'kisflow-platform-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function load(platform: string, env: NodeJS.ProcessEnv = {}) {
  return loadConfigFiles(dir, [{ file: 'global.yml', text: `kistype: global\nplatform:\n${platform}` }], { env });
}

test('platform absent: no console', () => {
  const c = loadYaml('kistype: global\n').config!;
  assert.equal(c.global.platform, undefined);
});

test('platform: defaults and a user with a password hash', () => {
  const r = load(`  listen: "127.0.0.1:0"\n  users: [{ name: ann, role: admin, password_hash: "${HASH}" }]\n`);
  assert.deepEqual(r.errors.map((e) => e.message), []);
  assert.deepEqual(r.config!.global.platform, {
    listen: '127.0.0.1:0',
    basePath: '/',
    statusIntervalMs: 5000,
    historyMinutes: 60,
    sessionSecret: undefined,
    sessionTtlMs: 12 * 3600 * 1000,
    users: [{ name: 'ann', role: 'admin', passwordHash: HASH }],
  });
});

test('platform: every field set; base_path normalised; secrets through ${VAR}', () => {
  const r = load(`  listen: "0.0.0.0:8080"
  base_path: kisflow
  status_interval_ms: 1000
  history_minutes: 30
  session_secret: "\${SECRET}"
  session_ttl_ms: 60000
  users:
    - { name: op, role: operator, scenes: [billing], token: "\${OP_TOKEN}" }
    - { name: v, role: viewer, password_hash: "${HASH}" }
`, { SECRET: 's3cret', OP_TOKEN: 'tok' });
  assert.deepEqual(r.errors.map((e) => e.message), []);
  const p = r.config!.global.platform!;
  assert.equal(p.basePath, '/kisflow/');
  assert.equal(p.statusIntervalMs, 1000);
  assert.equal(p.historyMinutes, 30);
  assert.equal(p.sessionSecret, 's3cret');
  assert.equal(p.sessionTtlMs, 60000);
  assert.deepEqual(p.users, [
    { name: 'op', role: 'operator', scenes: ['billing'], token: 'tok' },
    { name: 'v', role: 'viewer', passwordHash: HASH },
  ]);
  assert.deepEqual(['/', '//', 'a', '/a', 'a/', '/a/b/'].map(normaliseBasePath), ['/', '/', '/a/', '/a/', '/a/', '/a/b/']);
});

test('platform: listen is required and must be host:port', () => {
  const missing = load('  users: []\n');
  assert.match(errorWith(missing.errors, 'KIS_ERR_CONFIG_SCHEMA').message, /global\.yml doc 1 at platform\.listen.*missing required key/);
  const bad = load('  listen: "8080"\n');
  assert.match(errorWith(bad.errors, 'KIS_ERR_CONFIG_SCHEMA').message, /at platform\.listen \(line 3, col \d+\): expected host:port/);
  const port = load('  listen: "a:70000"\n');
  assert.match(errorWith(port.errors, 'KIS_ERR_CONFIG_SCHEMA').message, /platform\.listen/);
});

test('platform: bad values and unknown keys are refused with their path', () => {
  for (const [yaml, where] of [
    ['  listen: "a:1"\n  status_interval_ms: 0\n', /platform\.status_interval_ms/],
    ['  listen: "a:1"\n  history_minutes: -1\n', /platform\.history_minutes/],
    ['  listen: "a:1"\n  session_ttl_ms: 1.5\n', /platform\.session_ttl_ms/],
    ['  listen: "a:1"\n  base_path: ""\n', /platform\.base_path/],
    ['  listen: "a:1"\n  session_secret: ""\n', /platform\.session_secret/],
    ['  listen: "a:1"\n  lisen: x\n', /unknown key 'lisen' \(did you mean 'listen'/],
    ['  listen: "a:1"\n  users: [{ name: a, role: root, token: t }]\n', /platform\.users\[0\]\.role.*one of viewer, operator, admin/],
    ['  listen: "a:1"\n  users: [{ name: a, role: admin, token: t, pasword_hash: x }]\n', /unknown key 'pasword_hash'/],
  ] as const) {
    const r = load(yaml);
    assert.equal(r.config, undefined, yaml);
    assert.match(errorWith(r.errors, 'KIS_ERR_CONFIG_SCHEMA').message, where, yaml);
  }
});

test('platform: a user needs exactly one of password_hash and token; scenes only for operators', () => {
  const neither = load('  listen: "a:1"\n  users: [{ name: a, role: admin }]\n');
  assert.match(errorWith(neither.errors, 'KIS_ERR_CONFIG_SCHEMA').message, /at platform\.users\[0\].*exactly one of password_hash and token, found neither/);
  const both = load(`  listen: "a:1"\n  users: [{ name: a, role: admin, token: t, password_hash: "${HASH}" }]\n`);
  assert.match(errorWith(both.errors, 'KIS_ERR_CONFIG_SCHEMA').message, /found both/);
  const scenes = load('  listen: "a:1"\n  users: [{ name: a, role: viewer, scenes: [x], token: t }]\n');
  assert.match(errorWith(scenes.errors, 'KIS_ERR_CONFIG_SCHEMA').message, /platform\.users\[0\]\.scenes.*restrict an operator; user a is a viewer/);
});

test('platform: a password_hash of the wrong shape is refused at load', () => {
  for (const h of ['plain', 'scrypt$16$8$1$abc', 'bcrypt$16$8$1$c2FsdHNhbHRzYWx0$' + 'A'.repeat(44), 'scrypt$15$8$1$c2FsdHNhbHRzYWx0$' + 'A'.repeat(44), 'scrypt$16$8$1$c2FsdHNhbHRzYWx0$not*base64']) {
    const r = load(`  listen: "a:1"\n  users: [{ name: a, role: admin, password_hash: "${h}" }]\n`);
    assert.match(errorWith(r.errors, 'KIS_ERR_CONFIG_SCHEMA').message, /platform\.users\[0\]\.password_hash.*expected scrypt\$N\$r\$p/, h);
    assert.equal(parsePasswordHash(h), undefined, h);
  }
  assert.equal(parsePasswordHash(HASH)!.n, 16);
});

test('platform: a duplicate user name is refused', () => {
  const r = load('  listen: "a:1"\n  users: [{ name: a, role: admin, token: t }, { name: a, role: viewer, token: u }]\n');
  assert.match(errorWith(r.errors, 'KIS_ERR_CONFIG_DUPLICATE').message, /platform\.users\[1\]\.name.*user a is declared twice; the first is in global\.yml at platform\.users\[0\]/);
});

test('platform: users_file (YAML or JSON, relative to the config directory) is merged with users', () => {
  writeFileSync(path.join(dir, 'users.json'), JSON.stringify([{ name: 'bot', role: 'operator', token: 'secret-token' }]));
  writeFileSync(path.join(dir, 'users-map.yaml.txt'), `users:\n  - { name: eve, role: viewer, password_hash: "${HASH}" }\n`);
  const r = load('  listen: "a:1"\n  users_file: users.json\n  users: [{ name: ann, role: admin, token: t }]\n');
  assert.deepEqual(r.errors.map((e) => e.message), []);
  assert.deepEqual(r.config!.global.platform!.users.map((u) => u.name), ['ann', 'bot']);
  assert.equal(r.config!.global.platform!.users[1]!.token, 'secret-token');
  const m = load('  listen: "a:1"\n  users_file: users-map.yaml.txt\n');
  assert.deepEqual(m.errors.map((e) => e.message), []);
  assert.deepEqual(m.config!.global.platform!.users, [{ name: 'eve', role: 'viewer', passwordHash: HASH }]);
});

test('platform: users_file problems: missing file, bad entry, a name also in users', () => {
  const missing = load('  listen: "a:1"\n  users_file: nope.json\n');
  assert.match(errorWith(missing.errors, 'KIS_ERR_CONFIG_DIR').message, /platform\.users_file.*cannot read .*nope\.json/);
  writeFileSync(path.join(dir, 'bad.json'), JSON.stringify([{ name: 'x', role: 'boss', token: 't' }]));
  const bad = load('  listen: "a:1"\n  users_file: bad.json\n');
  assert.match(errorWith(bad.errors, 'KIS_ERR_CONFIG_SCHEMA').message, /bad\.json doc 1 \(users_file\) at \[0\]\.role/);
  writeFileSync(path.join(dir, 'dup.json'), JSON.stringify([{ name: 'ann', role: 'viewer', token: 'u' }]));
  const dup = load('  listen: "a:1"\n  users_file: dup.json\n  users: [{ name: ann, role: admin, token: t }]\n');
  assert.match(errorWith(dup.errors, 'KIS_ERR_CONFIG_DUPLICATE').message, /dup\.json doc 1 at \[0\]\.name.*user ann is declared twice/);
  writeFileSync(path.join(dir, 'nohash.json'), JSON.stringify([{ name: 'z', role: 'viewer', password_hash: 'x' }]));
  const nohash = load('  listen: "a:1"\n  users_file: nohash.json\n');
  assert.match(errorWith(nohash.errors, 'KIS_ERR_CONFIG_SCHEMA').message, /nohash\.json doc 1 at \[0\]\.password_hash/);
});
