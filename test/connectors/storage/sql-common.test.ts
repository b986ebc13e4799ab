// Shared SQL logic without a server: position order, the greatest position per partition, statements of a batch.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { groupStatements, planRows, resolveMapping } from '../../../src/connectors/sql/plan.js';
import { comparePositions, greatestPositions } from '../../../src/connectors/sql/positions.js';
import { splitKey } from '../../../src/connectors/sql/sql-connector.js';

test('comparePositions: Kafka offsets as BigInt, binlog file then pos, text otherwise', () => {
  assert.ok(comparePositions('9', '10') < 0);
  assert.ok(comparePositions('9007199254740993', '9007199254740992') > 0);
  assert.equal(comparePositions('42', '42'), 0);
  assert.ok(comparePositions('mysql-bin.000003:1234', 'mysql-bin.000003:999') > 0);
  assert.ok(comparePositions('mysql-bin.000003:99999', 'mysql-bin.000004:4') < 0);
  assert.ok(comparePositions('mysql-bin.000010:4', 'mysql-bin.000009:120') > 0);
  assert.ok(comparePositions('b', 'a') > 0);
});

test('greatestPositions keeps the greatest per (source, partition); rows without a position add none', () => {
  const got = greatestPositions([
    { source: 's', partition: 0, offset: '9' }, undefined, { source: 's', partition: 0, offset: '10' },
    { source: 's', partition: 1, offset: '3' }, { source: 't', partition: 0, offset: 'mysql-bin.000002:4' },
    { source: 't', partition: 0, offset: 'mysql-bin.000001:900' },
  ]);
  assert.deepEqual(got, [
    { source: 's', partition: 0, position: '10' }, { source: 's', partition: 1, position: '3' },
    { source: 't', partition: 0, position: 'mysql-bin.000002:4' },
  ]);
  assert.deepEqual(greatestPositions([undefined]), []);
});

test('a batch becomes few statements: same columns share one, a repeated key or a delete starts the next', () => {
  const m = resolveMapping(['id'], undefined, ['id', 'a', 'B']);
  const { ops, rejected } = planRows([
    { id: 1, a: 1, b: 2, extra: 0 }, { id: 2, a: 1, b: 2 }, { id: 1, a: 3, b: 4 }, { op: 'd', id: 2 }, { a: 9 }, { id: 3, a: { x: 1 }, b: true },
  ], m, { deletes: true, opField: 'op' });
  assert.deepEqual(rejected.map((r) => [r.index, r.code]), [[4, 'KIS_ERR_ROW_MISSING_FIELD']]);
  assert.deepEqual(ops[0]!.cols, ['id', 'a', 'B']);
  assert.deepEqual(ops[4]!.values, [3, '{"x":1}', true]);
  const stmts = groupStatements(ops, 1000);
  assert.deepEqual(stmts.map((s) => [s.del, s.ops.map((o) => o.index)]), [[false, [0, 1]], [false, [2]], [true, [3]], [false, [5]]]);
  assert.deepEqual(groupStatements(ops.slice(0, 2), 1).map((s) => s.ops.length), [1, 1]);
  const when = new Date(Date.UTC(2026, 10, 30));
  assert.deepEqual(planRows([{ id: 1, a: when, b: false }], m, { deletes: false, opField: 'op', booleansAsInts: true }).ops[0]!.values, [1, '2026-11-30T00:00:00.000Z', 0]);
  assert.equal(planRows([{ id: 1, a: when }], m, { deletes: false, opField: 'op' }).ops[0]!.values[1], when);
});

test('lookup keys split back into the key fields', () => {
  assert.deepEqual(splitKey('u1_7', 2), ['u1', '7']);
  assert.deepEqual(splitKey('u_1_7', 1), ['u_1_7']);
  assert.deepEqual(splitKey('a_b_c', 2), ['a', 'b_c']);
});

test('every storage params codec documents each field, refuses unknown keys and converts to a JSON Schema', async () => {
  const { toJsonSchema } = await import('../../../src/config/json-schema.js');
  const { MysqlConnParamsCodec } = await import('../../../src/connectors/mysql/index.js');
  const { PostgresConnParamsCodec } = await import('../../../src/connectors/postgres/index.js');
  const { SqliteConnParamsCodec } = await import('../../../src/connectors/sqlite/index.js');
  const { RedisConnParamsCodec } = await import('../../../src/connectors/redis/index.js');
  for (const codec of [MysqlConnParamsCodec, PostgresConnParamsCodec, SqliteConnParamsCodec, RedisConnParamsCodec]) {
    const fields = [...Object.keys(codec.required), ...Object.keys(codec.optional)];
    assert.deepEqual(fields.filter((f) => !(codec.fieldDocs[f] ?? '').length), [], `${codec.name} documents every field`);
    const schema = toJsonSchema(codec) as { properties?: Record<string, unknown> };
    assert.deepEqual(Object.keys(schema.properties ?? {}).sort(), [...fields].sort());
  }
  assert.equal(MysqlConnParamsCodec.decode({ table: 't', tabel: 'x' })._tag, 'Left');
  assert.equal(RedisConnParamsCodec.decode({ format: 'xml' })._tag, 'Left');
  assert.equal(RedisConnParamsCodec.decode({ format: 'json', ttl_ms: 1000, tls: { ca: 'x', reject_unauthorized: false } })._tag, 'Right');
});

test('TLS params: PEM text as is, a path relative to the config dir; host:port with defaults', async () => {
  const { mkdtempSync, writeFileSync } = await import('node:fs');
  const os = await import('node:os');
  const path = await import('node:path');
  const { hostPort, tlsOptions } = await import('../../../src/connectors/sql/tls.js');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kis-tls-'));
  writeFileSync(path.join(dir, 'ca.pem'), '-----BEGIN CERTIFICATE-----\nfromfile\n-----END CERTIFICATE-----\n');
  assert.equal(tlsOptions(undefined, dir), undefined);
  assert.equal(tlsOptions(false, dir), undefined);
  assert.deepEqual(tlsOptions(true, dir), {});
  assert.deepEqual(tlsOptions({ ca: 'ca.pem', key: '-----BEGIN PRIVATE KEY-----\ninline', reject_unauthorized: false }, dir), {
    ca: '-----BEGIN CERTIFICATE-----\nfromfile\n-----END CERTIFICATE-----\n', key: '-----BEGIN PRIVATE KEY-----\ninline', rejectUnauthorized: false,
  });
  assert.deepEqual(hostPort([], 3306), { host: '127.0.0.1', port: 3306 });
  assert.deepEqual(hostPort(['db.internal:3307'], 3306), { host: 'db.internal', port: 3307 });
  assert.deepEqual(hostPort(['[::1]:5433'], 5432), { host: '::1', port: 5433 });
  assert.deepEqual(hostPort(['db'], 5432), { host: 'db', port: 5432 });
});
