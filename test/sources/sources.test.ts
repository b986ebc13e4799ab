// The local sources behind the source contract: file (JSON lines), generator, stdin.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { partitionForKey } from '../../src/kernel/partitioner.js';
import { FileSource } from '../../src/sources/file/file-source.js';
import { GeneratorSource } from '../../src/sources/generator/generator-source.js';
import type { Batch } from '../../src/core/source.js';
import { StdinSource } from '../../src/sources/stdin/stdin-source.js';

async function collect(run: (h: (b: Batch) => Promise<void>, s: AbortSignal) => Promise<void>): Promise<Batch[]> {
  const out: Batch[] = [];
  await run(async (b) => { out.push(b); }, new AbortController().signal);
  return out;
}

test('file: JSON lines in batches of batch_size, with positions; bad lines are handed on as undecodable', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'kisflow-file-'));
  try {
    await writeFile(path.join(dir, 'in.jsonl'), '{"a":1}\n\n{"a":2}\n{"a":\n[1,2]\n{"a":3}\n');
    const src = new FileSource('f', { path: 'in.jsonl', batch_size: 2 }, dir);
    const batches = await collect((h, s) => src.run(h, s));
    assert.deepEqual(batches.map((b) => b.rows), [[{ a: 1 }, { a: 2 }], [], [{ a: 3 }]]);
    assert.deepEqual(batches.flatMap((b) => b.positions.map((p) => p.offset)), ['1', '3', '6']);
    const bad = batches.flatMap((b) => b.undecodable);
    assert.deepEqual(bad.map((u) => [u.raw, u.position.offset]), [['{"a":', '4'], ['[1,2]', '5']]);
    assert.match(bad[0]!.reason, /^line 4: malformed JSON/);
    assert.match(bad[1]!.reason, /^line 5: expected a JSON object, found an array/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('file: a missing file is a clear source error', async () => {
  const src = new FileSource('f', { path: 'nope.jsonl' }, '/tmp');
  await assert.rejects(collect((h, s) => src.run(h, s)), /source 'f': cannot read \/tmp\/nope\.jsonl/);
});

test('generator: count rows from the template ($seq), in batches, then it ends', async () => {
  const params = { count: 5, batch_size: 2, template: { id: '{{ $seq + 1 }}', name: "{{ 'n' & $string($seq) }}", fixed: 'x', nested: { even: '{{ $seq % 2 = 0 }}' } } };
  const src = new GeneratorSource('g', params);
  assert.equal(src.finite, true);
  const batches = await collect((h, s) => src.run(h, s));
  assert.deepEqual(batches.map((b) => b.rows.length), [2, 2, 1]);
  assert.deepEqual(batches.flatMap((b) => b.rows)[4], { id: 5, name: 'n4', fixed: 'x', nested: { even: true } });
  assert.deepEqual(batches.flatMap((b) => b.positions.map((p) => p.offset)), ['0', '1', '2', '3', '4']);
});

test('generator: partitions spread rows by key, the way Kafka would', async () => {
  const src = new GeneratorSource('g', { count: 40, partitions: 4, key: 'user', template: { user: "{{ 'u' & $string($seq % 10) }}" } });
  const batches = await collect((h, s) => src.run(h, s));
  const rows = batches.flatMap((b) => b.rows.map((r) => ({ p: b.partition, user: r['user'] as string })));
  assert.equal(rows.length, 40);
  for (const r of rows) assert.equal(r.p, partitionForKey(r.user, 4));
  assert.ok(new Set(rows.map((r) => r.p)).size > 1);
});

test('generator: a rate keeps batches small (about 20 hand-offs a second)', async () => {
  const src = new GeneratorSource('g', { count: 12, rate: 100, template: { a: 1 } });
  const batches = await collect((h, s) => src.run(h, s));
  assert.deepEqual(batches.map((b) => b.rows.length), [5, 5, 2]);
});

test('generator: without count it runs until stopped', async () => {
  const src = new GeneratorSource('g', { batch_size: 10, template: { a: 1 } });
  assert.equal(src.finite, false);
  const ac = new AbortController();
  let n = 0;
  await src.run(async () => { if (++n === 3) ac.abort(); }, ac.signal);
  assert.equal(n, 3);
});

test('stdin: lines become rows; a partial batch goes on after max_wait_ms, before the input ends', async () => {
  const input = new PassThrough();
  const src = new StdinSource('in', { batch_size: 100, max_wait_ms: 20 }, input);
  const seen: Batch[] = [];
  let firstBatch: () => void = () => {};
  const gotFirst = new Promise<void>((r) => { firstBatch = r; });
  const done = src.run(async (b) => { seen.push(b); firstBatch(); }, new AbortController().signal);
  input.write('{"n":1}\n{"n":2}\nnot json\n');
  await gotFirst;
  assert.deepEqual(seen[0]!.rows, [{ n: 1 }, { n: 2 }]);
  assert.equal(seen[0]!.undecodable.length, 1);
  input.end('{"n":3}\n');
  await done;
  assert.deepEqual(seen.flatMap((b) => b.rows), [{ n: 1 }, { n: 2 }, { n: 3 }]);
});
