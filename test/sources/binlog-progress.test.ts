// Binlog points compared, "caught up" by GTID or position, and the lag that follows from probes and queued
// transactions; the params check of signal_table. Pure code, no server.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { binlogSourceType } from '../../src/sources/binlog/index.js';
import { comparePoints, LagTracker, reached } from '../../src/sources/binlog/progress.js';

test('points compare by file sequence number, then position', () => {
  assert.ok(comparePoints({ file: 'binlog.000009', pos: 900 }, { file: 'binlog.000010', pos: 4 }) < 0);
  assert.ok(comparePoints({ file: 'binlog.000010', pos: 500 }, { file: 'binlog.000010', pos: 400 }) > 0);
  assert.equal(comparePoints({ file: 'binlog.000010', pos: 4 }, { file: 'binlog.000010', pos: 4 }), 0);
});

test('reached: by MariaDB GTID domains (also right after a rotation), else by position', () => {
  const server = { file: 'binlog.000002', pos: 385, gtid: '0-1-12,1-2-5' };
  assert.ok(reached({ file: 'binlog.000002', pos: 4, gtid: '1-2-5,0-1-12' }, server), 'same GTIDs, position behind (rotation)');
  assert.ok(!reached({ file: 'binlog.000002', pos: 4, gtid: '0-1-11,1-2-5' }, server));
  assert.ok(!reached({ file: 'binlog.000002', pos: 4, gtid: '0-1-12' }, server), 'a domain missing');
  assert.ok(reached({ file: 'binlog.000002', pos: 400, gtid: '' }, server), 'no GTID: by position');
  assert.ok(!reached(undefined, server));
});

test('lag: 0 when caught up, from the first unreached probe when behind, from the oldest waiting commit, from a failing probe', () => {
  const lag = new LagTracker();
  const at = (pos: number, gtid: string) => ({ file: 'b.000001', pos, gtid });
  lag.probed(at(100, '0-1-3'), at(100, '0-1-3'), 1_000);
  assert.equal(lag.seconds(2_000, undefined), 0);
  lag.probed(at(200, '0-1-4'), at(100, '0-1-3'), 3_000);
  lag.probed(at(300, '0-1-5'), at(100, '0-1-3'), 4_000);
  assert.equal(lag.seconds(6_000, undefined), 3, 'since the first probe that found the server ahead');
  lag.advance(at(200, '0-1-4'));
  assert.equal(lag.seconds(6_000, undefined), 2, 'the first one reached: since the next');
  assert.equal(lag.seconds(6_000, 1_000), 5, 'a queued transaction committed earlier');
  lag.probed(at(300, '0-1-5'), at(300, '0-1-5'), 7_000);
  assert.equal(lag.seconds(7_500, undefined), 0);
  lag.probeFailed(8_000);
  lag.probeFailed(9_000);
  assert.equal(lag.seconds(10_000, undefined), 2, 'cannot show it is caught up since the first failure');
});

test('signal_table must name one table', () => {
  const check = (signal: string) => binlogSourceType.check!({ user: 'u', tables: ['shop.*'], signal_table: signal }, { addrs: ['db:3306'] } as never, {} as never);
  assert.deepEqual(check('shop.kisflow_signals'), []);
  assert.match(check('shop.*')[0]!.message, /one table/);
});
