// Hot reload reacts to what the config loads (YAML documents, function modules, the files they import from
// the config directory) and to nothing else: a data file or a log written there leaves the hash alone.
import assert from 'node:assert/strict';
import { appendFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { configFiles, relativeImports } from '../../src/core/module-graph.js';
import { hashDir } from '../../src/runtime/supervisor.js';

test('relative imports are found in import, export, dynamic import and require forms', () => {
  const text = `import a from './a.js';\nimport type { B } from "../b";\nexport * from './c.ts';\nconst d = await import('./d.mjs');\nconst e = require('./e.cjs');\nimport 'io-ts';\nimport './side.js';\n`;
  assert.deepEqual(relativeImports(text), ['./a.js', '../b', './c.ts', './d.mjs', './e.cjs', './side.js']);
});

test('the hash covers YAML, modules and their imports from the directory, and not data files or logs', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'kisflow-hash-'));
  try {
    await mkdir(path.join(dir, 'fns'));
    await mkdir(path.join(dir, 'lib'));
    await mkdir(path.join(dir, 'data'));
    await writeFile(path.join(dir, 'c.yml'), 'kistype: global\nfunctions: [fns]\n---\nkistype: func\nfid: P\nfname: kis.print\nfmode: C\n');
    await writeFile(path.join(dir, 'fns', 'm.ts'), "import { k } from '../lib/k.js';\nexport default () => { void k; };\n");
    await writeFile(path.join(dir, 'lib', 'k.ts'), "export { j as k } from './j';\n");
    await writeFile(path.join(dir, 'lib', 'j.ts'), 'export const j = 1;\n');
    await writeFile(path.join(dir, 'lib', 'unused.ts'), 'export const u = 1;\n');
    await writeFile(path.join(dir, 'data', 'orders.jsonl'), '{"a":1}\n');
    const rel = (files: string[]): string[] => files.map((f) => path.relative(dir, f));
    assert.deepEqual(rel(await configFiles(dir, ['fns'])), ['c.yml', 'fns/m.ts', 'lib/j.ts', 'lib/k.ts']);

    let last = await hashDir(dir);
    const changed = async (): Promise<boolean> => {
      const h = await hashDir(dir);
      const diff = h !== last;
      last = h;
      return diff;
    };
    await appendFile(path.join(dir, 'data', 'orders.jsonl'), '{"a":2}\n');
    await writeFile(path.join(dir, 'service.log'), 'a log line\n');
    await writeFile(path.join(dir, 'lib', 'unused.ts'), 'export const u = 2;\n');
    assert.equal(await changed(), false, 'data, logs and unimported files do not count');
    await writeFile(path.join(dir, 'lib', 'j.ts'), 'export const j = 2;\n');
    assert.equal(await changed(), true, 'a file imported through two hops counts');
    await writeFile(path.join(dir, 'fns', 'm.ts'), "import { k } from '../lib/k.js';\nexport default () => { void k; void 1; };\n");
    assert.equal(await changed(), true, 'a function module counts');
    await writeFile(path.join(dir, 'more.yaml'), 'kistype: func\nfid: Q\nfname: kis.print\nfmode: C\n');
    assert.equal(await changed(), true, 'a new YAML document counts');
    // A module folder newly listed in the YAML is hashed from then on.
    await mkdir(path.join(dir, 'extra'));
    await writeFile(path.join(dir, 'extra', 'x.ts'), 'export default () => {};\n');
    assert.equal(await changed(), false);
    await writeFile(path.join(dir, 'c.yml'), 'kistype: global\nfunctions: [fns, extra]\n---\nkistype: func\nfid: P\nfname: kis.print\nfmode: C\n');
    assert.equal(await changed(), true);
    await writeFile(path.join(dir, 'extra', 'x.ts'), 'export default () => { void 0; };\n');
    assert.equal(await changed(), true, 'the newly listed module counts');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
