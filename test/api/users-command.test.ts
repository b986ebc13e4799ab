// kisflow users hash: a password on stdin becomes a password_hash line the loader accepts and a login verifies.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { verifyPassword } from '../../src/api/auth/password.js';
import { usersCommand } from '../../src/api/auth/users-command.js';
import { hasCode } from '../../src/kernel/errors.js';
import { serveConsole } from '../../src/api/index.js';
import { silentLogger } from '../../src/observability/logger.js';
import { memoryBackend } from './fake-backend.js';
import { loadYaml } from '../helpers.js';

async function run(args: string[], stdin: string): Promise<string> {
  let out = '';
  const code = await usersCommand(args, { input: Readable.from([Buffer.from(stdin)]), out: (t) => { out += t; } });
  assert.equal(code, 0);
  return out;
}

test('users hash prints a password_hash line that verifies the password and loads', async () => {
  const out = await run(['hash'], 'correct horse\n');
  const m = /^password_hash: "(scrypt\$32768\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+)"\n$/.exec(out);
  assert.ok(m, out);
  assert.equal(await verifyPassword('correct horse', m[1]!), true);
  assert.equal(await verifyPassword('correct horse\n', m[1]!), false, 'the trailing newline is not part of the password');
  assert.equal(await verifyPassword('wrong', m[1]!), false);
  const r = loadYaml(`kistype: global\nplatform:\n  listen: "127.0.0.1:0"\n  users:\n    - name: ann\n      role: admin\n      ${out}`);
  assert.deepEqual(r.errors.map((e) => e.message), []);
  assert.equal(r.config!.global.platform!.users[0]!.passwordHash, m[1]);
  const again = await run(['hash'], 'correct horse');
  assert.notEqual(again, out, 'a fresh salt each time');
});

test('users: anything but hash, or an empty password, is a usage error', async () => {
  await assert.rejects(run(['list'], ''), (e: unknown) => hasCode(e, 'KIS_ERR_USAGE'));
  await assert.rejects(run(['hash'], '\n'), (e: unknown) => hasCode(e, 'KIS_ERR_USAGE'));
  assert.match(await run(['--help'], ''), /usage: kisflow users hash/);
});

test('kisflow users hash through the command line, the password on stdin', async () => {
  const p = spawn(process.execPath, ['--import', 'tsx', path.resolve('src/cli/main.ts'), 'users', 'hash'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  p.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
  p.stdin.end('s3cret\n');
  const code = await new Promise<number | null>((resolve) => p.on('close', resolve));
  assert.equal(code, 0);
  const hash = /password_hash: "([^"]+)"/.exec(stdout)?.[1];
  assert.ok(hash, stdout);
  assert.equal(await verifyPassword('s3cret', hash), true);
});

test('a hash printed by users hash, loaded from the platform section, lets its user sign in on the console', async () => {
  const line = await run(['hash'], 'pa55 word');
  const r = loadYaml(`kistype: global\nplatform:\n  listen: "127.0.0.1:0"\n  base_path: /ops\n  session_secret: "\${SECRET}"\n  users:\n    - name: ann\n      role: admin\n      ${line}`, { SECRET: 'shared' });
  assert.deepEqual(r.errors.map((e) => e.message), []);
  const server = await serveConsole({ platform: r.config!.global.platform!, backend: memoryBackend(), logger: silentLogger(), version: '1' });
  try {
    assert.ok(server.url.endsWith('/ops/'));
    const login = (password: string): Promise<Response> => fetch(`${server.url}api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'ann', password }) });
    assert.equal((await login('pa55 word\n')).status, 401);
    const ok = await login('pa55 word');
    assert.equal(ok.status, 200);
    assert.match(ok.headers.getSetCookie()[0]!, /Path=\/ops\//);
    assert.equal(((await ok.json()) as { role: string }).role, 'admin');
  } finally {
    await server.close();
  }
});
