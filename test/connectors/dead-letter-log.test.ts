// Dead letters are logged as counts: the first of each (flow, function, code) at once, the rest summed per interval.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pino from 'pino';
import { DeadLetterLog } from '../../src/connectors/dead-letter-log.js';
import type { DeadLetter } from '../../src/core/dead-letter.js';

function letter(fn: string, code: DeadLetter['code'], message: string): DeadLetter {
  return { row: {}, code, message, flow: 'F', fn, position: undefined, attempts: 0, at: '' };
}

test('a thousand dead letters of one kind make two log lines: the first, then the count', () => {
  const lines: Array<{ msg: string; rows?: number; code?: string }> = [];
  const logger = pino({ level: 'warn' }, { write: (s: string) => { lines.push(JSON.parse(s) as { msg: string }); } });
  const log = new DeadLetterLog(logger, 60_000);
  for (let i = 0; i < 100; i++) log.record('F.dlq', Array.from({ length: 10 }, (_, k) => letter('V', 'KIS_ERR_ROW_REJECTED', `row ${i * 10 + k} rejected`)));
  log.record('F.dlq', [letter('M', 'KIS_ERR_ROW_MISSING_FIELD', 'lacks id')]);
  assert.equal(lines.length, 2, 'one line for the first of each kind, before any summary');
  assert.match(lines[0]!.msg, /row dead-lettered: row 0 rejected/);
  assert.match(lines[1]!.msg, /lacks id/);
  log.flush();
  assert.equal(lines.length, 3);
  assert.equal(lines[2]!.rows, 999);
  assert.match(lines[2]!.msg, /999 more rows dead-lettered by V \(KIS_ERR_ROW_REJECTED\); last: row 999 rejected/);
  log.flush();
  assert.equal(lines.length, 3, 'nothing new, nothing logged');
});
