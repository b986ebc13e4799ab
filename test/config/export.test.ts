import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { exportConfig, exportConfigTo } from '../../src/config/export.js';
import { loadConfigDir } from '../../src/config/load.js';
import type { KisConfig } from '../../src/config/model.js';
import { SEED_COMPLETE, loadYaml } from '../helpers.js';

/** The config without where it was read from: what must survive an export. */
function comparable(c: KisConfig): unknown {
  const strip = <T extends { origin?: unknown }>(m: ReadonlyMap<string, T>) => [...m].map(([k, v]) => [k, { ...v, origin: undefined }]);
  return {
    global: { ...c.global, origin: undefined },
    sources: strip(c.sources), flows: strip(c.flows), funcs: strip(c.funcs), conns: strip(c.conns),
    jobs: [...c.jobs].map(([k, v]) => [k, { ...v, origin: undefined, trigger: v.trigger.kind === 'cron' ? { ...v.trigger, schedule: undefined } : v.trigger }]),
  };
}

test('load(export(x)) equals x, for the seed and for the demo config', async () => {
  const withJob = SEED_COMPLETE + '\n---\nkistype: job\nid: nightly\nscene: reports\ntrigger: { cron: "0 30 2 * * *", tz: Asia/Shanghai }\nruns: { flow: MyFlow1 }\nparams: { region: cn }\n';
  for (const original of [loadYaml(SEED_COMPLETE).config!, loadYaml(withJob).config!, (await loadConfigDir('config')).config]) {
    const files = exportConfig(original);
    const again = loadYaml(Object.fromEntries(files.map((f) => [f.file, f.text])));
    assert.deepEqual(again.errors, []);
    assert.deepEqual(comparable(again.config!), comparable(original));
  }
});

test('export writes one file per object, named by kind and id (made safe when needed)', async () => {
  const c = loadYaml(SEED_COMPLETE).config!;
  const dir = await mkdtemp(path.join(tmpdir(), 'kisflow-export-'));
  try {
    await exportConfigTo(c, dir);
    assert.deepEqual((await readdir(dir)).sort(), [
      'conn-测试KisConnector_1.yaml', 'flow-MyFlow1.yaml', 'func-测试KisFunction_S1.yaml', 'func-测试PrintInput.yaml', 'global-global.yaml',
    ]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('values written as ${VAR} are exported as ${VAR}, never resolved', () => {
  const c = loadYaml('kistype: conn\ncid: k\ntype: kafka\naddrs: "${SECRET_HOST}"\n', { SECRET_HOST: 'hunter2:9092' }).config!;
  assert.deepEqual(c.conns.get('k')!.addrs, ['hunter2:9092']);
  const text = exportConfig(c).find((f) => f.file === 'conn-k.yaml')!.text;
  assert.match(text, /addrs: \$\{SECRET_HOST\}/);
  assert.doesNotMatch(text, /hunter2/);
});
