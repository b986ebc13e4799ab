// The binlog election's lease log (kafka/election.ts) and the checkpoint rule that fences a deposed reader:
// records applied in log order decide who holds the lease; a checkpoint of an older term never wins over one of
// a newer term. Pure code, no broker (the kill -9 takeover runs in test/integration/binlog-kafka.test.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LeaseLog, parseLeaseRecord } from '../../src/kafka/election.js';
import { supersedes } from '../../src/sources/binlog/checkpoint.js';

test('a claim on the epoch in force wins; a second claim racing it (same prev) is ignored', () => {
  const log = new LeaseLog();
  assert.equal(log.apply({ kind: 'claim', holder: 'A', epoch: 100, prev: 0 }, 0), 'claimed');
  assert.equal(log.apply({ kind: 'claim', holder: 'B', epoch: 101, prev: 0 }, 1), 'ignored', 'B claimed from the same state as A; A is first in the log');
  assert.deepEqual({ holder: log.holder, epoch: log.epoch }, { holder: 'A', epoch: 100 });
  assert.equal(log.apply({ kind: 'claim', holder: 'B', epoch: 99, prev: 100 }, 2), 'ignored', 'an epoch must grow');
});

test('renewals of the holder keep the lease; a deposed holder\'s renewals do not; it expires after the lease', () => {
  const log = new LeaseLog();
  log.apply({ kind: 'claim', holder: 'A', epoch: 5, prev: 0 }, 0);
  assert.equal(log.apply({ kind: 'renew', holder: 'A', epoch: 5 }, 1_000), 'renewed');
  assert.equal(log.free(2_400, 1_500), false);
  assert.equal(log.free(2_600, 1_500), true, 'silent for longer than the lease');
  assert.equal(log.apply({ kind: 'claim', holder: 'B', epoch: 6, prev: 5 }, 2_600), 'claimed');
  assert.equal(log.apply({ kind: 'renew', holder: 'A', epoch: 5 }, 2_700), 'ignored', 'A paused, then renewing an epoch no longer in force');
  assert.equal(log.apply({ kind: 'renew', holder: 'A', epoch: 6 }, 2_700), 'ignored', 'not the holder of epoch 6');
  assert.deepEqual({ holder: log.holder, epoch: log.epoch, seenAt: log.seenAt }, { holder: 'B', epoch: 6, seenAt: 2_600 });
});

test('a release frees the lease at once; only the holder can release', () => {
  const log = new LeaseLog();
  log.apply({ kind: 'claim', holder: 'A', epoch: 5, prev: 0 }, 0);
  assert.equal(log.apply({ kind: 'release', holder: 'B', epoch: 5 }, 10), 'ignored');
  assert.equal(log.free(20, 1_500), false);
  assert.equal(log.apply({ kind: 'release', holder: 'A', epoch: 5 }, 30), 'released');
  assert.equal(log.free(31, 1_500), true);
});

test('the first record read is the state in force (older ones gone by retention); epochs grow past an emptied log', () => {
  const log = new LeaseLog();
  assert.equal(log.apply({ kind: 'renew', holder: 'A', epoch: 42 }, 7), 'renewed');
  assert.deepEqual({ holder: log.holder, epoch: log.epoch }, { holder: 'A', epoch: 42 });
  assert.equal(log.nextEpoch(10), 43);
  assert.equal(new LeaseLog().nextEpoch(1_700_000_000_000), 1_700_000_000_000, 'an empty log: wall-clock ms, above the epochs of old checkpoints');
});

test('lease records: other values are not records', () => {
  assert.deepEqual(parseLeaseRecord('{"kind":"renew","holder":"A","epoch":3,"sent":1}'), { kind: 'renew', holder: 'A', epoch: 3, sent: 1 });
  assert.equal(parseLeaseRecord('{"kind":"steal","holder":"A","epoch":3}'), undefined);
  assert.equal(parseLeaseRecord('not json'), undefined);
});

test('checkpoints: a record of an older term never replaces one of a newer term, whatever the log order', () => {
  assert.ok(supersedes({ epoch: 7 }, undefined));
  assert.ok(supersedes({ epoch: 7 }, { epoch: 7 }), 'the same term: the later record wins');
  assert.ok(supersedes({ epoch: 8 }, { epoch: 7 }));
  assert.ok(!supersedes({ epoch: 7 }, { epoch: 8 }), 'a deposed reader\'s late write is ignored');
  assert.ok(supersedes({ epoch: 1 }, {}), 'records without an epoch count as 0');
  assert.ok(supersedes({}, {}));
});
