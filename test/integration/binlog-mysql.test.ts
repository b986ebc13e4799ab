// binlog -> flow -> mysql: a replica of a table kept by the service process (`kisflow run`, embedded mode,
// checkpoint file), killed with -9 mid-stream and restarted while the source keeps changing. Afterwards the
// replica equals the source row for row (inserts, updates and deletes), and the positions table holds the
// last binlog position applied. The source is a private MariaDB with a row binlog; the replica is the
// machine's MariaDB (127.0.0.1:3306), in a fresh database.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { startMariaDb, type MariaDb } from '../infra/mariadb/index.js';
import { ensureServer, freshMysqlDb, type MysqlDb } from '../connectors/storage/helpers.js';
import { ServiceProcess, waitFor } from './kafka-helpers.js';

let src: MariaDb;
let target: MysqlDb;
let dir: string;
const services: ServiceProcess[] = [];

before(async () => {
  await ensureServer('mariadb');
  [src, target] = await Promise.all([startMariaDb(), freshMysqlDb()]);
  await src.query('CREATE DATABASE shop');
  await src.query('CREATE TABLE shop.items (id INT PRIMARY KEY, v VARCHAR(20), n INT)');
  await target.pool.query('CREATE TABLE items (id INT PRIMARY KEY, v VARCHAR(20), n INT)');
  dir = await mkdtemp(path.join(tmpdir(), 'kisflow-binlog-mysql-'));
  await writeFile(path.join(dir, 'replica.yml'), `kistype: global
app_id: kis-replica
---
kistype: source
sid: shopdb
type: binlog
addrs: ${src.host}:${src.port}
params: { user: root, password: "", tables: [shop.items], start: beginning, max_batch_rows: 50 }
flows: [Replica]
---
kistype: flow
flow_id: Replica
flow_name: Replica
flows: [{ fid: ToRow }, { fid: SaveItem }]
---
kistype: func
fid: ToRow
fname: kis.map
fmode: Calculate
option: { default_params: { expr: "$merge([op = 'd' ? before : after, {'op': op}])" } }
---
kistype: func
fid: SaveItem
fmode: Save
option: { cid: Replica }
---
kistype: conn
cid: Replica
type: mysql
addrs: 127.0.0.1:3306
key: id
params: { database: ${target.name}, table: items, user: root, deletes: true }
save: [SaveItem]
`);
});

after(async () => {
  await Promise.all(services.map((s) => s.kill()));
  await src?.stop();
  await target?.drop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Inserts ids [from, to) in transactions of 5, updates every third, deletes every seventh. */
async function change(from: number, to: number): Promise<void> {
  const conn = await src.connect();
  try {
    for (let i = from; i < to; i += 5) {
      await conn.query('START TRANSACTION');
      for (let k = i; k < Math.min(to, i + 5); k++) await conn.query('INSERT INTO shop.items VALUES (?, ?, ?)', [k, `v${k}`, 0]);
      await conn.query('UPDATE shop.items SET n = n + 1, v = CONCAT(v, "+") WHERE id >= ? AND id < ? AND id % 3 = 0', [i, i + 5]);
      await conn.query('DELETE FROM shop.items WHERE id >= ? AND id < ? AND id % 7 = 0', [i, i + 5]);
      await conn.query('COMMIT');
    }
  } finally {
    await conn.end();
  }
}

const sourceRows = async (): Promise<unknown[]> => src.query('SELECT id, v, n FROM shop.items ORDER BY id');
const replicaRows = async (): Promise<unknown[]> => (await target.pool.query('SELECT id, v, n FROM items ORDER BY id'))[0] as unknown[];

test('a kill -9 mid-stream and a restart: the replica equals the source, and the positions table is at the end', { timeout: 240_000 }, async () => {
  await change(0, 400);
  const first = ServiceProcess.start('first', dir, '');
  services.push(first);
  const writing = change(400, 4000);
  await waitFor('the replica under way', async () => ((await replicaRows()).length > 200 ? true : undefined), 60_000, 100);
  await first.kill();
  const atKill = (await replicaRows()).length;
  await writing;
  const second = ServiceProcess.start('second', dir, '');
  services.push(second);
  const want = JSON.stringify(await sourceRows());
  await waitFor('the replica equal to the source', async () => (JSON.stringify(await replicaRows()) === want ? true : undefined), 120_000, 500)
    .catch(async (err: Error) => { throw new Error(`${err.message}: replica ${(await replicaRows()).length} rows, source ${(await sourceRows()).length}; ${second.tail()}`); });
  assert.ok(atKill < (await replicaRows()).length, `the kill came mid-stream (${atKill} rows then)`);
  const [pos] = await target.pool.query('SELECT source, `partition`, position FROM kisflow_positions WHERE app_id = ? AND flow = ?', ['kis-replica', 'Replica']) as unknown as [Array<{ source: string; partition: number; position: string }>];
  const end = await src.binlogPosition();
  assert.equal(pos.length, 1);
  assert.equal(pos[0]!.source, 'shopdb');
  assert.equal(pos[0]!.position, `${end.file}:${end.position}`, 'the last transaction applied is the end of the binlog');
  const exit = await second.stop();
  assert.equal(exit.code, 0, `a clean stop: ${second.tail()}`);
});
