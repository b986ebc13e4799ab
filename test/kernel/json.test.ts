import assert from 'node:assert/strict';
import { test } from 'node:test';
import { rowToJson } from '../../src/kernel/json.js';

test('rows become JSON; a BigInt value is written as its decimal text instead of failing', () => {
  assert.equal(rowToJson({ a: 1, s: '二' }), '{"a":1,"s":"二"}');
  assert.equal(rowToJson({ id: 12345678901234567890n, n: 1 }), '{"id":"12345678901234567890","n":1}');
});
