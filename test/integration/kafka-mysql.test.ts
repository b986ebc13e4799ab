// kafka -> flow -> mysql, exactly once across a kill -9 between the database commit and the Kafka commit. The
// source commits offsets only on a graceful stop (commit_interval_ms far in the future), so when the service
// is killed every row it wrote to MariaDB is still uncommitted in Kafka. The restarted service reads them all
// again, and skips, by the positions stored with the data, exactly the rows the database already has: the
// skipped count equals the rows written before the kill, and the table ends with every row once.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { kcatProduce, randomName, startMockCluster, type MockCluster } from '../infra/kafka-mock/index.js';
import { ensureServer, freshMysqlDb, type MysqlDb } from '../connectors/storage/helpers.js';
import { ServiceProcess, waitFor } from './kafka-helpers.js';

let cluster: MockCluster;
let target: MysqlDb;
let dir: string;
const services: ServiceProcess[] = [];
const N = 3000;

before(async () => {
  await ensureServer('mariadb');
  [cluster, target] = await Promise.all([startMockCluster({ brokers: 1 }), freshMysqlDb()]);
  await target.pool.query('CREATE TABLE payments (id VARCHAR(20) PRIMARY KEY, amount INT, seen INT NOT NULL DEFAULT 1)');
  dir = await mkdtemp(path.join(tmpdir(), 'kisflow-kafka-mysql-'));
});

after(async () => {
  await Promise.all(services.map((s) => s.kill()));
  await cluster?.stop();
  await target?.drop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const count = async (): Promise<number> => ((await target.pool.query('SELECT COUNT(*) AS n FROM payments'))[0] as Array<{ n: number }>)[0]!.n;

test('a kill -9 after the database commit and before the Kafka commit: the restart skips exactly what the database has', { timeout: 180_000 }, async () => {
  const topic = randomName('pays');
  await cluster.createTopic(topic, 1);
  await cluster.createTopic('Pays.dlq', 1).catch(() => undefined);
  await writeFile(path.join(dir, 'kisflow.yml'), `kistype: global
app_id: ${randomName('kis-kmysql')}
kafka: { brokers: "\${KAFKA_BROKERS}" }
---
kistype: source
sid: pays
type: kafka
params: { topics: [${topic}], from_beginning: true, max_batch_rows: 100, commit_interval_ms: 3600000 }
flows: [Pays]
---
kistype: flow
flow_id: Pays
flow_name: Pays
flows: [{ fid: SavePay }]
---
kistype: func
fid: SavePay
fmode: Save
option: { cid: PayTable }
---
kistype: conn
cid: PayTable
type: mysql
addrs: 127.0.0.1:3306
key: id
params: { database: ${target.name}, table: payments, columns: { id: id, amount: amount } }
save: [SavePay]
`);
  await kcatProduce(cluster.bootstrap, topic, Array.from({ length: N }, (_, i) => ({ key: `p${i}`, value: JSON.stringify({ id: `p${i}`, amount: i }) })));
  const first = ServiceProcess.start('first', dir, cluster.bootstrap);
  services.push(first);
  await waitFor('rows in the database', async () => ((await count()) >= 500 ? true : undefined), 60_000, 50);
  await first.kill();
  const before = await count();
  const second = ServiceProcess.start('second', dir, cluster.bootstrap);
  services.push(second);
  await waitFor(`all ${N} rows in the database`, async () => ((await count()) === N ? true : undefined), 90_000, 200);
  const skippedNow = (): number => second.lines
    .filter((l) => String(l['msg']).startsWith('rows handed on again were applied to the store already'))
    .reduce((a, l) => a + Number(l['rows']), 0);
  // When the first service wrote every row before it was killed, the table is full before the second one has
  // read anything: wait for it to have gone through what it reads again.
  await waitFor('the second service through the rows it reads again', () => (skippedNow() >= before ? true : undefined), 90_000, 200).catch(() => undefined);
  const skipped = skippedNow();
  assert.ok(before > 0, `rows were written before the kill (${before})`);
  assert.equal(skipped, before, 'the rows skipped after the restart are exactly those the database had');
  const [stored] = await target.pool.query('SELECT position FROM kisflow_positions WHERE source = ?', ['pays']) as unknown as [Array<{ position: string }>];
  assert.deepEqual(stored.map((r) => r.position), [String(N - 1)]);
  const exit = await second.stop();
  assert.equal(exit.code, 0, second.tail());
});
