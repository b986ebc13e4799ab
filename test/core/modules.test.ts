// Function modules: TypeScript modules load as ES modules wherever the config directory is (a mounted
// /etc/kisflow has no package.json, or one saying CommonJS), and a new version is imported afresh.
import assert from 'node:assert/strict';
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
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

test('a copy of config/ outside the repository runs: its module resolves io-ts from the service', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'kisflow-config-copy-'));
  try {
    await cp(path.resolve('config'), dir, { recursive: true });
    const app = await prepareApp(dir);
    const settle = app.pool.getFaas('SettlePayment');
    assert.ok(settle, 'SettlePayment is registered by config/functions/settle-payment.ts');
    // Its row codec (io-ts, resolved from the service) rejects a payment without an amount.
    const d = await TestDriver.fromDir(dir);
    const demo = await d.runSources();
    assert.ok((demo.rowsOut['PayFlow'] ?? 0) > 0, `PayFlow joined rows: ${JSON.stringify(demo)}`);
    await d.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a module in a temp dir imports kisflow at run time, kisflow/testing, a package the service ships, and a helper of its own', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'kisflow-modules-'));
  try {
    // The helper sits outside fns/ (every file below a listed folder is a function module).
    await mkdir(path.join(dir, 'fns'), { recursive: true });
    await mkdir(path.join(dir, 'lib'), { recursive: true });
    await writeFile(path.join(dir, 'lib', 'double.ts'), "import { pipe } from 'fp-ts/lib/function.js';\nexport const double = (n: number): number => pipe(n, (x) => x * 2);\n");
    await writeFile(path.join(dir, 'fns', 'scale.ts'), `import { Abort, KisError } from 'kisflow';
import { TestDriver } from 'kisflow/testing';
import * as t from 'io-ts';
import { double } from '../lib/double.ts';
export default (pool: any): void => {
  if (typeof TestDriver.fromYaml !== 'function' || typeof KisError !== 'function') throw new Error('kisflow/testing did not resolve');
  pool.faas('Scale', (flow: any, rows: any[]) => {
    for (const r of rows) flow.commitRow({ n: double(r.n) }, r);
    flow.next(Abort);
  }, { rowCodec: t.type({ n: t.number }) });
};
`);
    await writeFile(path.join(dir, 'c.yml'), YAML.replace('flows: [{ fid: Scale }]', 'flows: [{ fid: Scale }, { fid: Scale }]'));
    const d = await TestDriver.fromDir(dir);
    const r = await d.runFlow('F', [{ n: 2 }, { n: 'x' }]);
    assert.deepEqual(r.output, [{ n: 4 }], 'Abort from kisflow stopped the flow after the first step');
    assert.equal(r.stopReason, 'abort');
    assert.deepEqual(r.rejected.map((x) => x.code), ['KIS_ERR_ROW_CODEC']);
    await d.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
