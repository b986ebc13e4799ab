// Storage connectors in the running service (the test driver over the machine's MariaDB and Redis): a Save
// upserts rows with their positions in one transaction and dead-letters only the rows the database refuses;
// a restart that hands the same rows on again applies nothing twice; a Load on storage is a lookup join
// through a cache; Redis counters do not double-count a replay; the seed's redis document runs with a CaaS.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { TestDriver } from '../../src/testing/driver.js';
import { ensureServer, freshMysqlDb, rand, REDIS, type MysqlDb } from '../connectors/storage/helpers.js';
import { Redis } from 'ioredis';

function yaml(db: string, extra = ''): string {
  return `kistype: global
app_id: kis-storage-flow
---
kistype: source
sid: orders_in
type: stdin
flows: [Figures]
---
kistype: flow
flow_id: Figures
flow_name: Figures
flows: [{ fid: SaveFigure }]
---
kistype: func
fid: SaveFigure
fmode: Save
option: { cid: FigureTable }
---
kistype: conn
cid: FigureTable
type: mysql
addrs: 127.0.0.1:3306
key: id
params: { database: ${db}, table: figures, user: root }
save: [SaveFigure]
${extra}`;
}

describe('storage connectors in the service', { concurrency: false }, () => {
  let db: MysqlDb;
  before(async () => {
    await ensureServer('mariadb');
    db = await freshMysqlDb();
    await db.pool.query('CREATE TABLE figures (id VARCHAR(20) PRIMARY KEY, v VARCHAR(5) NOT NULL, n INT)');
    await db.pool.query('CREATE TABLE users (userid VARCHAR(20) PRIMARY KEY, name VARCHAR(40))');
    await db.pool.query("INSERT INTO users VALUES ('u1', 'Ada'), ('u2', 'Lin')");
  });
  after(async () => { await db?.drop(); });

  test('Save upserts rows and their positions in one transaction; a refused row alone goes to the dead-letter topic', async () => {
    const d = await TestDriver.fromYaml(yaml(db.name));
    await d.pipe('orders_in', [{ id: 'a', v: 'x', n: 1 }, { id: 'b', v: 'far too long', n: 2 }, { id: 'c', v: 'z', n: 3 }]);
    const [rows] = await db.pool.query('SELECT id, v, n FROM figures ORDER BY id');
    assert.deepEqual(rows, [{ id: 'a', v: 'x', n: 1 }, { id: 'c', v: 'z', n: 3 }]);
    const dl = d.deadLetters('Figures');
    assert.deepEqual(dl.map((x) => [x.row['id'], x.code]), [['b', 'KIS_ERR_STORAGE_REJECTED']]);
    assert.match(dl[0]!.message, /connector 'FigureTable' \(mysql\) refused the row: ER_DATA_TOO_LONG/);
    const [pos] = await db.pool.query('SELECT app_id, flow, source, `partition`, position FROM kisflow_positions');
    assert.deepEqual(pos, [{ app_id: 'kis-storage-flow', flow: 'Figures', source: 'orders_in', partition: 0, position: '2' }]);
    await d.close();

    // A restart hands the same rows on again (the source's commit was behind the database): nothing is applied twice.
    await db.pool.query("UPDATE figures SET n = 100 WHERE id = 'a'");
    const again = await TestDriver.fromYaml(yaml(db.name));
    await again.pipe('orders_in', [{ id: 'a', v: 'x', n: 1 }, { id: 'b', v: 'far too long', n: 2 }, { id: 'c', v: 'z', n: 3 }]);
    assert.deepEqual(again.output('Figures'), [], 'rows at or before the stored position are skipped');
    assert.deepEqual(again.deadLetters('Figures'), [], 'the refused row is not dead-lettered twice');
    const [kept] = await db.pool.query("SELECT n FROM figures WHERE id = 'a'");
    assert.deepEqual(kept, [{ n: 100 }], 'the stored row was not written again');
    await again.pipe('orders_in', [{ id: 'd', v: 'w', n: 4 }]);
    const [after4] = await db.pool.query("SELECT id FROM figures WHERE id = 'd'");
    assert.deepEqual(after4, [{ id: 'd' }], 'rows past the stored position are applied');
    await again.close();
  });

  test('a Load step on storage is a lookup join: inner dead-letters a miss, left goes on; lookups are cached', async () => {
    const config = (join: string): string => `kistype: global
app_id: kis-lookup-${join}
---
kistype: source
sid: pays
type: stdin
flows: [Enrich]
---
kistype: flow
flow_id: Enrich
flow_name: Enrich
flows: [{ fid: LoadUser, params: { join: ${join} } }]
---
kistype: func
fid: LoadUser
fmode: Load
option: { cid: Users }
---
kistype: conn
cid: Users
type: mysql
addrs: 127.0.0.1:3306
key: userid
params: { database: ${db.name}, table: users, cache_keys: 100, cache_ttl_ms: 600000 }
load: [LoadUser]
`;
    const inner = await TestDriver.fromYaml(config('inner'));
    const r = await inner.runFlow('Enrich', [{ userid: 'u1', paid: 5 }, { userid: 'u9', paid: 6 }, { paid: 7 }]);
    assert.deepEqual(r.output, [{ userid: 'u1', name: 'Ada', paid: 5 }]);
    assert.deepEqual(r.deadLetters.map((x) => [x.row['paid'], x.code]).sort(), [[6, 'KIS_ERR_LOOKUP_MISS'], [7, 'KIS_ERR_ROW_MISSING_FIELD']]);
    // Within the cache's TTL the stored row is not asked for again: a change in the table is not seen yet.
    await db.pool.query("UPDATE users SET name = 'Ada L.' WHERE userid = 'u1'");
    const cached = await inner.runFlow('Enrich', [{ userid: 'u1', paid: 8 }]);
    assert.deepEqual(cached.output, [{ userid: 'u1', name: 'Ada', paid: 8 }]);
    await inner.close();
    const left = await TestDriver.fromYaml(config('left'));
    const l = await left.runFlow('Enrich', [{ userid: 'u1', paid: 5 }, { userid: 'u9', paid: 6 }]);
    assert.deepEqual(l.output, [{ userid: 'u1', name: 'Ada L.', paid: 5 }, { userid: 'u9', paid: 6 }]);
    await left.close();
  });

  test('kisflow validate checks the tables of a reachable database (--offline does not)', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'kisflow-validate-'));
    try {
      writeFileSync(path.join(dir, 'kisflow.yml'), yaml(db.name).replace('table: figures', 'table: nosuch'));
      const cli = path.join(import.meta.dirname, '..', '..', 'dist', 'src', 'cli', 'main.js');
      const run = (...args: string[]) => spawnSync(process.execPath, [cli, 'validate', '--config', dir, ...args], { encoding: 'utf8' });
      const online = run();
      assert.equal(online.status, 1, online.stdout + online.stderr);
      assert.match(online.stderr, /FigureTable/);
      assert.match(online.stderr, /nosuch/);
      const offline = run('--offline');
      assert.equal(offline.status, 0, offline.stderr);
      assert.match(offline.stdout, /^ok: 1 flows/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('the database away mid-stream: the batch waits, nothing is dead-lettered, and it is written when the database is back', async () => {
    const proxy = await tcpProxy(3306);
    try {
      const d = await TestDriver.fromYaml(yaml(db.name).replace('addrs: 127.0.0.1:3306', `addrs: 127.0.0.1:${proxy.port}`).replace('app_id: kis-storage-flow', 'app_id: kis-storage-down'));
      await d.pipe('orders_in', [{ id: 'p1', v: 'a', n: 1 }]);
      proxy.down();
      let done = false;
      const piping = d.pipe('orders_in', [{ id: 'p2', v: 'b', n: 2 }, { id: 'p3', v: 'c', n: 3 }]).then(() => { done = true; });
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal(done, false, 'the batch waits for the database');
      const [during] = await db.pool.query("SELECT id FROM figures WHERE id LIKE 'p%' ORDER BY id");
      assert.deepEqual(during, [{ id: 'p1' }]);
      await proxy.up();
      await piping;
      const [afterUp] = await db.pool.query("SELECT id FROM figures WHERE id LIKE 'p%' ORDER BY id");
      assert.deepEqual(afterUp, [{ id: 'p1' }, { id: 'p2' }, { id: 'p3' }]);
      assert.deepEqual(d.deadLetters(), [], 'an outage sends no row to the dead-letter topic');
      await d.close();
    } finally {
      await proxy.close();
    }
  });

  test('a missing table stops start-up with a message naming the connector and the table', async () => {
    await assert.rejects(TestDriver.fromYaml(yaml(db.name).replace('table: figures', 'table: nosuch')),
      (err: Error) => /KIS_ERR_STORAGE_SCHEMA|FigureTable/.test(`${(err as { code?: string }).code} ${err.message}`) && /nosuch/.test(err.message));
  });
});

describe('redis counters in the service', () => {
  test('a replayed batch does not count twice (positions in the same Lua call)', async () => {
    await ensureServer('redis');
    const prefix = `kis-t-${rand()}:`;
    const config = `kistype: global
app_id: kis-counters
---
kistype: source
sid: pays
type: stdin
flows: [Count]
---
kistype: flow
flow_id: Count
flow_name: Count
flows: [{ fid: CountPay }]
---
kistype: func
fid: CountPay
fmode: Save
option: { cid: Totals }
---
kistype: conn
cid: Totals
type: redis
addrs: ${REDIS.host}:${REDIS.port}
key: userid
params: { prefix: "${prefix}", incr: { amount: total } }
save: [CountPay]
`;
    const rows = [{ userid: 'u1', amount: 5 }, { userid: 'u1', amount: 7 }, { userid: 'u2', amount: 1 }];
    const first = await TestDriver.fromYaml(config);
    await first.pipe('pays', rows);
    await first.close();
    const replay = await TestDriver.fromYaml(config);
    await replay.pipe('pays', rows);
    await replay.close();
    const r = new Redis(REDIS.port, REDIS.host);
    try {
      assert.equal(await r.hget(`${prefix}u1`, 'total'), '12');
      assert.equal(await r.hget(`${prefix}u2`, 'total'), '1');
      const keys = await r.keys(`${prefix}*`);
      if (keys.length > 0) await r.del(...keys);
    } finally {
      r.disconnect();
    }
  });

  test("the seed's redis document runs as written when a CaaS serves its connector (params are the call's own)", async () => {
    const seed = `kistype: func
fid: 测试KisFunction_S1
fname: 测试KisFunction_S1
fmode: Save
source: { name: 被校验的测试数据源1-用户订单维度, must: [userid, orderid] }
option:
  cid: 测试KisConnector_1
  retry_times: 3
  retry_duration: 500
  default_params: { default1: default1_param, default2: default2_param }
---
kistype: flow
flow_id: MyFlow1
status: 1
flow_name: MyFlow1
flows:
  - { fid: 测试KisFunction_S1 }
---
kistype: conn
cid: 测试KisConnector_1
cname: 测试KisConnector_1
addrs: '0.0.0.0:9988,0.0.0.0:9999,0.0.0.0:9990'
type: redis
key: userid_orderid_option
params: { args1: value1 }
load: null
save: [测试KisFunction_S1]
`;
    const seen: unknown[] = [];
    const d = await TestDriver.fromYaml(seed, { register: (pool) => pool.caas('测试KisConnector_1', '测试KisFunction_S1', (conn, _f, rows) => { seen.push(conn.params, rows.length); }) });
    await d.runFlow('MyFlow1', [{ userid: 'u1', orderid: 'o1', option: 'x' }]);
    assert.deepEqual(seen, [{ args1: 'value1' }, 1]);
    await d.close();
    await assert.rejects(TestDriver.fromYaml(seed), /unknown key 'args1'/, 'without a CaaS the redis type serves it, and its params are checked');
  });
});

/** A TCP proxy to a local port that can be taken down (connections cut, new ones refused) and brought back on the same port. */
async function tcpProxy(target: number): Promise<{ port: number; down(): void; up(): Promise<void>; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const make = (): net.Server => net.createServer((client) => {
    const server = net.connect(target, '127.0.0.1');
    sockets.add(client).add(server);
    client.pipe(server).pipe(client);
    const drop = (): void => { client.destroy(); server.destroy(); sockets.delete(client); sockets.delete(server); };
    client.on('error', drop).on('close', drop);
    server.on('error', drop).on('close', drop);
  });
  let srv = make();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  return {
    port,
    down() {
      srv.close();
      for (const s of sockets) s.destroy();
      sockets.clear();
    },
    async up() {
      srv = make();
      await new Promise<void>((r) => srv.listen(port, '127.0.0.1', r));
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => srv.close(() => r()));
    },
  };
}
