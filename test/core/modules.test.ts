// Function modules: TypeScript modules load as ES modules wherever the config directory is (a mounted
// /etc/kisflow has no package.json, or one saying CommonJS), and a new version is imported afresh.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { prepareApp } from '../../src/runtime/app.js';
import { TestDriver } from '../../src/testing/driver.js';

// Under node_modules/.cache so that bare imports (io-ts) resolve as they do from a user's project.
async function configDir(): Promise<string> {
  const base = path.resolve('node_modules/.cache');
  await mkdir(base, { recursive: true });
  return mkdtemp(path.join(base, 'kisflow-modules-'));
}

const MODULE = (factor: number) => `import * as t from 'io-ts';
import type { FlowContext, KisPool, Row } from 'kisflow';
export default (pool: KisPool): void => {
  pool.faas('Scale', (flow: FlowContext, rows: readonly Row[]) => {
    for (const r of rows) flow.commitRow({ n: (r['n'] as number) * ${factor} }, r);
  }, { rowCodec: t.type({ n: t.number }) });
};
`;

const YAML = 'kistype: global\nfunctions: [fns]\n---\nkistype: func\nfid: Scale\nfmode: Calculate\n---\nkistype: flow\nflow_name: F\nflows: [{ fid: Scale }]\n';

test('a TypeScript function module loads in a directory whose package.json says CommonJS', async () => {
  const dir = await configDir();
  try {
    await writeFile(path.join(dir, 'package.json'), '{ "name": "user-config", "type": "commonjs" }\n');
    await mkdir(path.join(dir, 'fns'));
    await writeFile(path.join(dir, 'fns', 'scale.ts'), MODULE(10));
    await writeFile(path.join(dir, 'c.yml'), YAML);
    const d = await TestDriver.fromDir(dir);
    const r = await d.runFlow('F', [{ n: 2 }, { n: 'x' }]);
    assert.deepEqual(r.output, [{ n: 20 }]);
    assert.deepEqual(r.rejected.map((x) => x.code), ['KIS_ERR_ROW_CODEC']);
    await d.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a new module version is imported afresh (hot reload), not served from the module cache', async () => {
  const dir = await configDir();
  try {
    await mkdir(path.join(dir, 'fns'));
    await writeFile(path.join(dir, 'fns', 'scale.ts'), MODULE(2));
    await writeFile(path.join(dir, 'c.yml'), YAML);
    const run = async (version: string): Promise<unknown> => {
      const app = await prepareApp(dir, { moduleVersion: version });
      const handler = app.pool.getFaas('Scale')!.prepare({}, { where: 'test', configDir: dir, stdout: { write: (_t, cb) => { cb(); return true; } }, onClose() {} });
      const out: unknown[] = [];
      await handler({ commitRow: (row: unknown) => out.push(row) } as never, [{ n: 3 }]);
      return out;
    };
    assert.deepEqual(await run('v1'), [{ n: 6 }]);
    await writeFile(path.join(dir, 'fns', 'scale.ts'), MODULE(5));
    assert.deepEqual(await run('v2'), [{ n: 15 }]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
