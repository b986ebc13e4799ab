// The small parts of authentication on their own: the login limiter's two counts, the signed session
// cookie, constant-time comparison, and where the package (and its built page) is found.
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { sameSecret } from '../../src/api/auth/password.js';
import { LoginLimiter } from '../../src/api/auth/rate-limit.js';
import { cookieValue, SessionSigner, sessionCookie } from '../../src/api/auth/session.js';
import { defaultConsoleDir, packageRoot } from '../../src/api/http/static.js';

test('the limiter counts failures per user and per address, and a success clears only the user', () => {
  const l = new LoginLimiter({ perUser: 2, perAddress: 3, windowMs: 1000 });
  l.failed('a', '1.1.1.1', 0);
  assert.equal(l.blockedFor('a', '1.1.1.1', 10), 0);
  l.failed('a', '2.2.2.2', 10);
  assert.equal(l.blockedFor('a', '3.3.3.3', 20), 980, 'user a is locked from any address');
  assert.equal(l.blockedFor('b', '1.1.1.1', 20), 0);
  l.failed('b', '1.1.1.1', 30);
  l.failed('c', '1.1.1.1', 40);
  assert.equal(l.blockedFor('d', '1.1.1.1', 50), 950, 'address 1.1.1.1 is locked for every user');
  l.succeeded('a');
  assert.equal(l.blockedFor('a', '3.3.3.3', 60), 0);
  assert.equal(l.blockedFor('d', '1.1.1.1', 1000), 0, 'the window passed');
});

test('session cookies: signed with the secret, refused when changed, expired or signed with another secret', () => {
  const s = new SessionSigner('k1');
  const v = s.sign({ user: 'ann', expires: 100, csrf: 'c' });
  assert.deepEqual(s.verify(v, 50), { user: 'ann', expires: 100, csrf: 'c' });
  assert.equal(s.verify(v, 100), undefined);
  assert.equal(new SessionSigner('k2').verify(v, 50), undefined);
  assert.equal(new SessionSigner(undefined).verify(v, 50), undefined);
  assert.equal(s.verify(v.replace(/^./, (c) => (c === 'e' ? 'f' : 'e')), 50), undefined);
  assert.equal(s.verify('garbage', 50), undefined);
  assert.equal(cookieValue(`a=b; kis_session=${v}; c=d`, 'kis_session'), v);
  assert.equal(sessionCookie('x', { path: '/k/', maxAgeMs: 1500, secure: true }), 'kis_session=x; Path=/k/; Max-Age=1; HttpOnly; SameSite=Strict; Secure');
});

test('sameSecret compares whole values', () => {
  assert.equal(sameSecret('abc', 'abc'), true);
  assert.equal(sameSecret('abc', 'abcd'), false);
  assert.equal(sameSecret('abcd', 'abc'), false);
  assert.equal(sameSecret('', ''), true);
});

test('the package root is the folder of the package.json named kisflow; the page is in its dist/console', () => {
  assert.equal(packageRoot(), path.resolve('.'));
  assert.equal(defaultConsoleDir(), path.resolve('dist/console'));
  assert.equal(packageRoot('/'), undefined);
});
