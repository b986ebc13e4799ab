import assert from 'node:assert/strict';
import { test } from 'node:test';
import { errorWith, loadYaml } from '../helpers.js';

const CONN = (key: string, params: string) => `kistype: conn\ncid: k\ntype: kafka\naddrs: ${key}\nparams: ${params}\n`;

test('${VAR} and ${VAR:-default} are read from the environment in string values', () => {
  const r = loadYaml(CONN('"${BROKER_HOST}:${BROKER_PORT:-9092}"', '{ topic: "orders.${ENV:-dev}" }'), { BROKER_HOST: 'kafka-0' });
  assert.deepEqual(r.errors, []);
  assert.deepEqual(r.config!.conns.get('k')!.addrs, ['kafka-0:9092']);
  assert.equal(r.config!.conns.get('k')!.params['topic'], 'orders.dev');
});

test('a plain scalar that is one whole ${VAR} takes the type its value reads as; a quoted one stays a string', () => {
  const r = loadYaml('kistype: conn\ncid: k\ntype: kafka\nparams:\n  topic: "${T}"\n  partitions: ${PARTS:-8}\n', { T: '12' });
  assert.deepEqual(r.errors, []);
  assert.deepEqual(r.config!.conns.get('k')!.params, { topic: '12', partitions: 8 });
});

test('$${VAR} writes a literal ${VAR}', () => {
  const r = loadYaml(CONN('x:1', '{ topic: "price-$${X}" }'), { X: 'no' });
  assert.equal(r.config!.conns.get('k')!.params['topic'], 'price-${X}');
});

test('an empty variable falls back to its default', () => {
  const r = loadYaml(CONN('"${H:-localhost:9092}"', '{}'), { H: '' });
  assert.deepEqual(r.config!.conns.get('k')!.addrs, ['localhost:9092']);
});

test('a missing variable with no default is an error naming it and where it is', () => {
  const r = loadYaml({ 'c.yml': CONN('"${KAFKA_HOST}"', '{}') });
  const e = errorWith(r.errors, 'KIS_ERR_CONFIG_ENV');
  assert.equal(e.message,
    "c.yml doc 1 at addrs (line 4, col 8): environment variable KAFKA_HOST is not set and '${KAFKA_HOST}' has no default (write '${KAFKA_HOST:-default}' to give one)");
  assert.equal(e.context['variable'], 'KAFKA_HOST');
});

test('keys are never interpolated', () => {
  const r = loadYaml('kistype: conn\ncid: k\ntype: redis\nparams: { "${A}": 1 }\n', { A: 'topic' });
  assert.deepEqual(r.config!.conns.get('k')!.params, { '${A}': 1 });
});
