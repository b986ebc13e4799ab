import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { ERROR_CODES, hasCode, isKisError, isRetriable, KisError } from '../../src/kernel/errors.js';

test('every error code is documented in the README', () => {
  const readme = readFileSync('README.md', 'utf8');
  const missing = Object.keys(ERROR_CODES).filter((c) => !readme.includes(`\`${c}\``));
  assert.deepEqual(missing, []);
  const documented = [...readme.matchAll(/`(KIS_ERR_[A-Z_]+)`/g)].map((m) => m[1]!);
  assert.deepEqual(documented.filter((c) => !(c in ERROR_CODES)), [], 'the README names no code that does not exist');
});

test('errors are classified by code, carry retriable and cause', () => {
  const cause = new Error('root');
  const e = new KisError('KIS_ERR_CONNECTOR', 'save failed', { cause, retriable: true, context: { flow: 'F' } });
  assert.ok(isKisError(e));
  assert.ok(hasCode(e, 'KIS_ERR_CONNECTOR'));
  assert.equal(e.cause, cause);
  assert.equal(isRetriable(e), true);
  assert.equal(isRetriable(new KisError('KIS_ERR_SOURCE', 'x')), false);
  assert.equal(isRetriable(new Error('user error')), true);
  assert.equal(isKisError(new Error('plain')), false);
});
