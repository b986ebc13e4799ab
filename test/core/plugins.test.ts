// Source and connector types are plugins: the built-in ones are registered, and a function module in a
// config directory can register a connector type of its own that Save steps then write through.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import * as t from 'io-ts';
import { KisPool } from '../../src/core/pool.js';
import { TestDriver } from '../../src/testing/driver.js';
import { prepareApp } from '../../src/runtime/app.js';

const FIXTURE = path.join(import.meta.dirname, 'fixtures', 'custom-connector');

test('the built-in source and connector types are registered in the pool', async () => {
  const app = await prepareApp(path.join(import.meta.dirname, '..', '..', 'config'));
  assert.deepEqual(app.pool.types.sourceNames().sort(), ['binlog', 'file', 'generator', 'kafka', 'stdin']);
  assert.ok(app.pool.types.connectorNames().includes('kafka'));
});

test('a connector type registered by a function module in the config directory serves Save steps', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'kisflow-journal-'));
  const journal = path.join(dir, 'journal.jsonl');
  try {
    const d = await TestDriver.fromDir(FIXTURE, { env: { JOURNAL_PATH: journal } });
    const r = await d.runFlow('Orders', [{ orderid: 'o1', amount: 5 }, { amount: 7 }, { orderid: 'o2', amount: 9 }]);
    await d.close();
    const lines = readFileSync(journal, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as unknown);
    assert.deepEqual(lines, [
      { tag: 'orders', key: 'o1', row: { orderid: 'o1', amount: 5 } },
      { tag: 'orders', key: 'o2', row: { orderid: 'o2', amount: 9 } },
    ]);
    assert.deepEqual(r.rejected.map((x) => x.row), [{ amount: 7 }]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a custom type's params are checked by its codec and its own checks, with the file and path", async () => {
  await assert.rejects(TestDriver.fromDir(FIXTURE, { env: { JOURNAL_PATH: 'journal.txt' } }),
    /kisflow\.yml doc 2 at params\.path \(line \d+, col \d+\): expected a \.jsonl file, found 'journal\.txt'/);
  await assert.rejects(TestDriver.fromDir(FIXTURE, { env: {} }), (err: Error) => /kisflow\.yml doc 2/.test(err.message) && /JOURNAL_PATH/.test(err.message));
});

test('a type registered twice, or without a factory, is an error value with a message', () => {
  const pool = new KisPool();
  const spec = { name: 'x', description: 'x', params: t.unknown, create: () => { throw new Error('unused'); } };
  pool.connectorType(spec);
  assert.throws(() => pool.connectorType(spec), /connector type 'x' is registered twice/);
  assert.throws(() => pool.sourceType({ ...spec, create: undefined as never }), /a source type needs a name, a params codec and a create function/);
});
