// Shared test helpers: load YAML given inline, find an error by code, wait for a state.
import { loadConfigFiles, type LoadResult } from '../src/config/load.js';
import type { KisError, KisErrorCode } from '../src/kernel/errors.js';

export function loadYaml(files: string | Record<string, string>, env: NodeJS.ProcessEnv = {}): LoadResult {
  const map = typeof files === 'string' ? { 'test.yml': files } : files;
  return loadConfigFiles('/tmp/kisflow-test', Object.entries(map).map(([file, text]) => ({ file, text })), { env });
}

export function errorWith(errors: readonly KisError[], code: KisErrorCode): KisError {
  const e = errors.find((x) => x.code === code);
  if (!e) throw new Error(`no ${code} among: ${errors.map((x) => `${x.code}: ${x.message}`).join(' | ') || 'no errors'}`);
  return e;
}

export const SEED = `kistype: func
fid: 测试KisFunction_S1
fname: 测试KisFunction_S1
fmode: Save
source: { name: 被校验的测试数据源1-用户订单维度, must: [userid, orderid] }
option:
  cid: 测试KisConnector_1
  retry_times: 3
  retry_duration: 500
  default_params: { default1: default1_param, default2: default2_param }
---
kistype: flow
flow_id: MyFlow1
status: 1
flow_name: MyFlow1
flows:
  - { fid: 测试PrintInput, params: { args1: value1, args2: value2 } }
  - { fid: 测试KisFunction_S1 }
---
kistype: conn
cid: 测试KisConnector_1
cname: 测试KisConnector_1
addrs: '0.0.0.0:9988,0.0.0.0:9999,0.0.0.0:9990'
type: redis
key: userid_orderid_option
params: { args1: value1 }
load: null
save: [测试KisFunction_S1]
---
kistype: global
prometheus_enable: true
prometheus_listen: true
prometheus_serve: 0.0.0.0:20004
`;

/** The seed plus the one document it refers to but does not declare (测试PrintInput). */
export const SEED_COMPLETE = SEED + `---
kistype: func
fid: 测试PrintInput
fname: kis.print
fmode: Calculate
`;

/** Polls `fn` every `everyMs` until it returns something other than undefined; throws naming `what` after `timeoutMs`. */
export async function waitUntil<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, timeoutMs: number, everyMs: number): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
