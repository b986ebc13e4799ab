// The audit trail in Kafka mode, on the librdkafka mock cluster: each action and login is a record in
// `<app_id>.audit` (read back with kcat, an independent client) before the answer, and api/audit reads the
// topic newest first.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Kafka, logLevel } from 'kafkajs';
import { hashPassword } from '../../src/api/auth/password.js';
import type { AuditPage, AuditRecord, Me } from '../../src/api/contract.js';
import { serveConsole, type ConsoleServer } from '../../src/api/index.js';
import { auditTopic } from '../../src/kernel/names.js';
import { silentLogger } from '../../src/observability/logger.js';
import { kcatConsume, randomName, startMockCluster, type MockCluster } from '../infra/kafka-mock/index.js';
import { memoryBackend } from './fake-backend.js';

describe('console audit on the mock cluster', { timeout: 120_000 }, () => {
  let cluster: MockCluster;
  let server: ConsoleServer;
  const appId = randomName('app');
  const backend = { ...memoryBackend(), appId, mode: 'kafka' as const };

  before(async () => {
    cluster = await startMockCluster({ brokers: 1 });
    const kafka = new Kafka({ brokers: cluster.bootstrap.split(','), logLevel: logLevel.NOTHING });
    server = await serveConsole({
      platform: {
        listen: '127.0.0.1:0', basePath: '/', statusIntervalMs: 5000, historyMinutes: 60, sessionSecret: 's', sessionTtlMs: 60_000,
        users: [
          { name: 'ada', role: 'admin', passwordHash: await hashPassword('ada-pw', { n: 1024, r: 8, p: 1 }) },
          { name: 'bot', role: 'operator', token: 'bot-token' },
        ],
      },
      backend, logger: silentLogger(), version: '1', kafka,
    });
  });
  after(async () => {
    await server?.close();
    await cluster?.stop();
  });

  test('actions and logins are records in <app_id>.audit before the answer; api/audit reads them back newest first', async () => {
    const base = server.url;
    const bot = { authorization: 'Bearer bot-token', 'content-type': 'application/json' };
    const trigger = await fetch(`${base}api/jobs/bill-daily/trigger`, { method: 'POST', headers: bot, body: JSON.stringify({ params: { day: 'd1' } }) });
    assert.equal(trigger.status, 200);
    // Written with acks=-1 before the answer: the record is in the topic now, without waiting.
    const first = await kcatConsume(cluster.bootstrap, auditTopic(appId));
    assert.equal(first.length, 1);
    const rec = JSON.parse(first[0]!.value) as AuditRecord;
    assert.deepEqual({ ...rec, at: 0, detail: { ...rec.detail, request_id: 'x' } }, {
      at: 0, user: 'bot', role: 'operator', action: 'trigger', target: 'bill-daily',
      detail: { params: { day: 'd1' }, request_id: 'x', via: 'bearer' }, outcome: 'ok', replica: 'replica-1',
    });
    assert.equal(first[0]!.key, 'bot');

    const bad = await fetch(`${base}api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'ada', password: 'no' }) });
    assert.equal(bad.status, 401);
    const login = await fetch(`${base}api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'ada', password: 'ada-pw' }) });
    assert.equal(login.status, 200);
    const cookie = login.headers.getSetCookie()[0]!.split(';')[0]!;
    const { csrf } = await login.json() as Me;
    const kill = await fetch(`${base}api/runs/run-1/kill`, { method: 'POST', headers: { cookie, 'x-kis-csrf': csrf } });
    assert.equal(kill.status, 200);

    const all = (await kcatConsume(cluster.bootstrap, auditTopic(appId))).map((m) => JSON.parse(m.value) as AuditRecord);
    assert.deepEqual(all.map((r) => `${r.action}:${r.user}:${r.outcome}`), ['trigger:bot:ok', 'login_failed:ada:refused', 'login:ada:ok', 'kill:ada:ok']);

    const page = await fetch(`${base}api/audit`, { headers: { cookie } });
    assert.equal(page.status, 200);
    const { records } = await page.json() as AuditPage;
    assert.deepEqual(records.map((r) => r.action), ['kill', 'login', 'login_failed', 'trigger']);
    assert.deepEqual(records.map((r) => r.at), [...records.map((r) => r.at)].sort((a, b) => b - a));
    const two = await (await fetch(`${base}api/audit?limit=2`, { headers: { cookie } })).json() as AuditPage;
    assert.deepEqual(two.records.map((r) => r.action), ['kill', 'login']);
  });
});
