// A small in-memory PlatformBackend for the HTTP layer's tests: canned answers, and every call recorded.
import { ApiRefusal, type PlatformBackend } from '../../src/api/backend.js';
import type { JobRow, ReplayRequest } from '../../src/api/contract.js';

export interface Call { readonly method: string; readonly args: readonly unknown[] }

export function memoryBackend(): PlatformBackend & { calls: Call[] } {
  const calls: Call[] = [];
  const jobs: Record<string, string> = { 'bill-daily': 'billing', 'ship-hourly': 'shipping' };
  const runs: Record<string, string> = { 'run-1': 'bill-daily', 'run-2': 'ship-hourly' };
  const rec = (method: string, ...args: unknown[]): void => {
    calls.push({ method, args });
  };
  const noFlow = (flow: string): never => {
    throw new ApiRefusal(404, 'API_NOT_FOUND', `no flow '${flow}'`, 'flow');
  };
  return {
    calls,
    appId: 'shop',
    mode: 'embedded',
    replica: 'replica-1',
    overview: async () => ({ app_id: 'shop', mode: 'embedded', now: 1, replicas: [], flows: [] }),
    history: async (flow, minutes) => {
      rec('history', flow, minutes);
      return { step_ms: 5000, flows: {} };
    },
    graph: async () => ({ nodes: [], edges: [] }),
    functionDetail: async (flow) => noFlow(flow),
    deadLetters: async (q) => {
      rec('deadLetters', q);
      if (q.flow !== 'Orders') noFlow(q.flow);
      return { flow: q.flow, total: 0, letters: [], by_code: {}, by_fn: {} };
    },
    replay: async (req: ReplayRequest) => {
      rec('replay', req);
      if (req.flow !== 'Orders') noFlow(req.flow);
      return { flow: req.flow, counts: { out: 2, rejected: 0, dead_lettered: 0, no_output: 0, skipped_replayed: 0, skipped_undecodable: 0 }, rows: [] };
    },
    jobs: async () => Object.entries(jobs).map(([job, scene]): JobRow => ({
      job, name: job, scene, trigger: 'cron', enabled: true, next_fire: null, last_status: null, last_run_at: null, success_ratio: null, runs: 0, runs_what: 'handler:x',
    })),
    jobRuns: async (job, limit) => {
      rec('jobRuns', job, limit);
      return { job, runs: [] };
    },
    jobDaily: async (days) => ({ days: [String(days)], by_scene: [], by_job: [] }),
    sceneOfJob: (job) => jobs[job],
    sceneOfRun: async (run) => (runs[run] !== undefined ? jobs[runs[run]!] : undefined),
    trigger: async (job, params) => {
      rec('trigger', job, params);
      return { job, request_id: `req-${calls.length}` };
    },
    kill: async (runId) => {
      rec('kill', runId);
      return { run_id: runId, sent: true };
    },
    executors: async () => [],
    config: async () => ({ version: 'v1', documents: [], modules: [], problems: [], edits: [] }),
    validate: async (files) => {
      rec('validate', files);
      return { valid: true, problems: [] };
    },
    tryFlow: async (req) => {
      rec('tryFlow', req);
      return { problems: [], output: req.rows, rejects: [], dead_letters: [], saved: {} };
    },
    apply: async (files, message, user) => {
      rec('apply', files, message, user);
      return { version: 2, problems: [] };
    },
    rewind: async (flow, req) => {
      rec('rewind', flow, req);
      throw new Error('the broker at 10.0.0.7:9092 said something secret');
    },
    snapshot: async (sid, req) => {
      rec('snapshot', sid, req);
      return { source: sid, request_id: 'snap-1' };
    },
    close: async () => undefined,
  };
}
