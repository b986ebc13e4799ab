// Shared by the console backend's tests: a config directory with a flow that rejects and dead-letters rows,
// a job that runs a flow, and a wait that polls state.
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { waitUntil } from '../../helpers.js';

export const waitFor = <T>(what: string, fn: () => Promise<T | undefined> | T | undefined, timeoutMs = 30_000): Promise<T> => waitUntil(what, fn, timeoutMs, 20);

/** Price fails a batch holding a row with bad: true (dead-lettered), until globalThis.__kisPlatformFixed. */
export const FUNCTIONS = `export default (pool) => {
  pool.faas('Price', async (flow, rows) => {
    if (!globalThis.__kisPlatformFixed && rows.some((r) => r.bad)) throw new Error('bug: cannot price a bad row');
    for (const r of rows) flow.commitRow({ ...r, total: r.qty * 2 }, r);
  });
};
`;

export interface Names {
  readonly app: string;
  readonly flow: string;
  /** Where Keep saves (a kafka connector's topic). */
  readonly kept: string;
  /** Extra YAML for the global document (kafka: …). */
  readonly global?: string;
  /** The source document feeding the flow, if any. */
  readonly source?: string;
}

export function flowsYaml(n: Names): string {
  return `kistype: flow
flow_name: ${n.flow}
flows: [{ fid: Check }, { fid: Price }, { fid: Keep }]
---
kistype: flow
flow_name: Report
flows: [{ fid: Stamp }]
---
kistype: func
fid: Check
fname: kis.map
fmode: Verify
source: { name: orders, must: [id] }
option: { default_params: { set: { checked: "true" } } }
---
kistype: func
fid: Price
fname: Price
fmode: Calculate
option: { retry_times: 0 }
---
kistype: func
fid: Keep
fmode: Save
option: { cid: kept }
---
kistype: func
fid: Stamp
fname: kis.map
fmode: Calculate
option: { default_params: { set: { stamped: "job" } } }
---
kistype: conn
cid: kept
type: kafka
key: id
params: { topic: ${n.kept}, partitions: 1 }
save: [Keep]
---
kistype: job
id: report
scene: ops
runs: { flow: Report }
`;
}

export async function configDir(n: Names): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'kisflow-platform-'));
  await writeFile(path.join(dir, 'fns.mjs'), FUNCTIONS);
  await writeFile(path.join(dir, 'global.yml'), `kistype: global\napp_id: ${n.app}\nfunctions: [fns.mjs]\n${n.global ?? ''}`);
  await writeFile(path.join(dir, 'flows.yml'), flowsYaml(n) + (n.source ? `---\n${n.source}` : ''));
  return dir;
}
